"""督办 (urging): a supervisory office urges a department on a red or yellow case or an overdue loop step.

**Who may urge what** (:func:`check_urge`, pure):

* only a supervisory office — a province or a city/county office (dashboard roles ``province`` and
  ``region``); a department user cannot urge (``dept_cannot_urge``);
* only inside its scope: the office's region subtree (code prefix: province 2 digits, city 4, county 6; a
  province office without a region: everywhere) must hold the region of the case or of the rating — the very
  rule by which it sees them (``out_of_scope``, judged before anything about the target is said);
* only what is late or about to be: a **case** that is red (overdue) or yellow (due within the warning
  days) — the cards of ``hcp flags`` as of the instant of the urge; or a **step** of a bad rating's loop that
  the department owes and that is overdue (:mod:`supervision.queues`); anything else is ``not_urgeable``;
* with a note saying what the office asks (required, non-empty: ``missing_note``).

A second urge on a target whose earlier urge is still open is allowed: it is shown as 再次督办 with its
count (``times``).

**Open, and what followed** (:func:`outcomes`, pure). An urge stays **open** until the department acts after
it, and that first action is what followed:

* a case urge — the case ends: completed (办结), rejected (不予受理) or withdrawn (撤回). An end that happened
  before the urge but arrived later still answers it (the case needs nothing more);
* a step urge — the first follow-up of the department on that rating (核实, 整改, 解释说明, 反馈, 回访, 申诉)
  done after the urge (its action time; one that arrives late still counts from when it was done). What was
  done before the urge is no answer to it, and the office's own appeal decisions are not the department's.

"How long it took" (``response_working_days``) is the number of working days d with date(urge) < d ≤
date(action) on the real calendar of the target's region (:mod:`hcp.workdays`), 0 for an answer on the day
(or before the urge). Urges answered by the same action form one round: ``times`` is an urge's position in
its round (1 = first urge, 2+ = 再次督办), so a new urge after the department acted starts again at 1.

Urges are appended to the warehouse table ``urges`` (migration 6) and never updated or deleted; a re-send of
the same ``urge_id`` is stored once (:func:`warehouse.queries.loop.insert_urge`), and every read uses ``FINAL``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import polars as pl

from hcp.errors import HcpError
from hcp.i18n import tr
from hcp.domain import FOLLOWUP_ACTIONS
from hcp.scope import Scope
from hcp.workdays import WorkCalendar, region_prefix
from ingest.convert import mask_digits_expr
from metrics.flags import flags_as_of
from supervision import store
from supervision.actions import loop_status
from supervision.loop import ActionRefused
from supervision.settings import SupervisionSettings
from warehouse.queries.events import case_owner
from warehouse.queries.facts import of_case
from warehouse.queries.loop import insert_urge, load_urge, load_urges, urge_responses
from warehouse.queries.reference import load_calendar
from warehouse.queries.sql import Where

#: target kind -> (Chinese, English)
TARGETS = {"case": ("办件", "case"), "step": ("差评整改环节", "loop step")}
#: roles that may urge (dashboard roles): the province office and the city/county offices.
URGER_ROLES = ("province", "region")
#: the cards a case may be urged on
URGEABLE_FLAGS = ("red", "yellow")
#: follow-up actions that are the department's own (an answer to a step urge)
DEPT_ACTIONS = ("verified", "rectified", "explained", "feedback", "revisited", "appealed")
#: lifecycle events that end a case (an answer to a case urge) -> (Chinese, English)
CASE_ENDS = {"completed": ("办结", "completed"), "rejected": ("不予受理", "rejected"), "withdrawn": ("撤回", "withdrawn")}
MAX_NOTE_CHARS = 2000

URGE_COLUMNS = ("urge_id", "target", "case_id", "rating_id", "step", "flag", "dept_code", "region_code", "urged_by",
                "urged_by_office", "office_code", "note", "urged_at", "source")
OUTCOME_COLUMNS = (*URGE_COLUMNS, "times", "open", "response", "response_at", "response_working_days")
LABELS = {
    "urge_id": ("督办编号", "urge"), "target": ("督办对象", "target"), "case_id": ("办件编号", "case"),
    "rating_id": ("评价编号", "rating"), "step": ("环节", "step"), "flag": ("红黄牌", "card"),
    "dept_code": ("部门", "dept"), "dept_name": ("部门名称", "dept name"), "region_code": ("区划", "region"),
    "urged_by": ("督办人", "urged by"), "urged_by_office": ("督办单位", "office"),
    "office_code": ("督办单位区划", "office region"), "note": ("督办事项", "note"), "urged_at": ("督办时间", "urged at"),
    "source": ("来源", "source"), "times": ("督办次数", "times"), "open": ("未回应", "open"),
    "response": ("回应", "answered by"), "response_at": ("回应时间", "answered at"),
    "response_working_days": ("用时（工作日）", "working days to answer"),
}


class UrgeRefused(HcpError):
    """An urge that may not be recorded (nothing is written). ``code``: ``dept_cannot_urge``,
    ``not_an_office``, ``out_of_scope``, ``not_urgeable``, ``missing_note``, ``bad_input``,
    ``unknown_target``, ``conflict``; ``zh`` / ``en``: the message in both languages."""

    def __init__(self, code: str, zh: str, en: str):
        super().__init__(f"{zh} / {en}")
        self.code, self.zh, self.en = code, zh, en

    def message(self, lang: str) -> str:
        return tr(lang, self.zh, self.en)


@dataclass(frozen=True)
class Urger:
    """Who urges: a user name, a role (``province`` / ``region`` / ``dept``), the office's region prefix ('' =
    everywhere) and the office's name."""

    username: str
    role: str
    region_prefix: str = ""
    office_name: str = ""

    @property
    def office_code(self) -> str:
        """The office's 12-digit region code ('' for a province office that sees everywhere)."""
        return self.region_prefix.ljust(12, "0") if self.region_prefix else ""

    @classmethod
    def from_user(cls, user) -> "Urger":
        """From a dashboard user (:class:`dashboard.auth.User`)."""
        return cls(user.username, user.role, region_prefix(user.region) if user.region else "", user.name or "")


@dataclass(frozen=True)
class Target:
    """What is urged, as it stands at the instant of the urge.

    ``kind`` ``case``: ``flag`` is its card (red, yellow, or None when it has neither). ``kind`` ``step``:
    ``step`` is the next step of the rating's loop, ``owner`` who owes it (dept / office), ``overdue`` whether
    it is overdue."""

    kind: str
    case_id: str
    dept_code: str
    region_code: str
    rating_id: str = ""
    flag: str | None = None
    step: str | None = None
    owner: str | None = None
    overdue: bool = False

    @property
    def label(self) -> tuple[str, str]:
        return (f"办件 {self.case_id}", f"case {self.case_id}") if self.kind == "case" else \
            (f"评价 {self.rating_id}", f"rating {self.rating_id}")


def covers(office_prefix: str, region_code: str) -> bool:
    """The office whose region subtree is ``office_prefix`` ('' = everywhere) sees a record of ``region_code``."""
    return (region_code or "").startswith(office_prefix or "")


def check_urge(urger: Urger, target: Target, note: str | None) -> str:
    """The note to store, if ``urger`` may urge ``target`` now; else :class:`UrgeRefused` saying why (see the
    module doc: an office, inside its scope, a red/yellow case or an overdue step the department owes, a note)."""
    if urger.role == "dept":
        raise UrgeRefused("dept_cannot_urge", "部门用户不能督办：督办由监督机构（省、市、县政务服务管理部门）发起",
                          "a department user cannot urge: urging is for a supervisory office (province, city, county)")
    if urger.role not in URGER_ROLES:
        raise UrgeRefused("not_an_office", f"角色“{urger.role}”不能督办", f"role {urger.role!r} cannot urge")
    if not urger.username:
        raise UrgeRefused("bad_input", "必须指明督办人", "who urges must be named")
    zh, en = target.label
    if not covers(urger.region_prefix, target.region_code):
        raise UrgeRefused("out_of_scope", f"{zh} 不在本单位监督范围内，不能督办",
                          f"{en} is outside this office's region: it cannot be urged from here")
    if target.kind == "case":
        if target.flag not in URGEABLE_FLAGS:
            raise UrgeRefused("not_urgeable", f"{zh} 既未超期也未临近期限（非红黄牌），无需督办",
                              f"{en} is neither overdue nor due soon (no red or yellow card): nothing to urge")
    elif target.kind == "step":
        if not target.step or target.owner != "dept":
            raise UrgeRefused("not_urgeable", f"{zh} 当前没有由部门办理的环节，无需督办",
                              f"{en} has no step the department owes now: nothing to urge")
        if not target.overdue:
            raise UrgeRefused("not_urgeable", f"{zh} 的当前环节未超期，无需督办",
                              f"the current step of {en} is not overdue: nothing to urge")
    else:
        raise UrgeRefused("bad_input", f"未知的督办对象“{target.kind}”", f"unknown urge target {target.kind!r}")
    text = (note or "").strip()
    if not text:
        raise UrgeRefused("missing_note", "督办须写明督办事项（要求部门做什么）",
                          "an urge needs a note saying what the department is asked to do")
    if len(text) > MAX_NOTE_CHARS:
        raise UrgeRefused("bad_input", f"督办事项过长（最多 {MAX_NOTE_CHARS} 字）",
                          f"the note is too long (at most {MAX_NOTE_CHARS} characters)")
    return text


def new_urge_id() -> str:
    """A new unique urge id."""
    return f"ug-{uuid.uuid4().hex}"


def target_key() -> pl.Expr:
    """The target an urge is about: its rating for a step urge, its case for a case urge."""
    return pl.when(pl.col("target") == "step").then(pl.col("rating_id")).otherwise(pl.col("case_id"))


RESPONSE_SCHEMA = {"target": pl.String, "key": pl.String, "response_id": pl.String, "action": pl.String,
                   "at": pl.Datetime("ms", "Asia/Shanghai")}


def outcomes(urges: pl.DataFrame, responses: pl.DataFrame, calendar: WorkCalendar,
             as_of: dt.datetime | None = None) -> pl.DataFrame:
    """Each urge (rows with :data:`URGE_COLUMNS`) with what followed it, as of ``as_of`` (default: everything
    known): ``response`` (the department's first action after it: a follow-up action or a case end),
    ``response_at``, ``response_working_days``, ``open`` (no answer yet) and ``times`` (its place in its round:
    1 = first urge, 2+ = 再次督办). See the module doc for the rules.

    ``responses`` (:data:`RESPONSE_SCHEMA`): the candidate answers — for ``target`` ``step`` the department's
    follow-ups of the rating ``key``, for ``case`` the end events of the case ``key``; ``at`` when it was done. Sorted by urge time (then urge id)."""
    frame = urges.select(URGE_COLUMNS).unique("urge_id", keep="first")
    answers = responses.select(list(RESPONSE_SCHEMA)).cast(RESPONSE_SCHEMA)
    if as_of is not None:
        frame = frame.filter(pl.col("urged_at") <= as_of)
        answers = answers.filter(pl.col("at") <= as_of)
    frame = frame.with_columns(key=target_key())
    after = pl.col("at") > pl.col("urged_at")
    first = (
        frame.select("urge_id", "target", "key", "urged_at")
        .join(answers, on=["target", "key"], how="inner")
        .filter((pl.col("target") == "case") | after)
        .sort("at", "response_id")
        .group_by("urge_id", maintain_order=True)
        .agg(pl.col("response_id").first(), response=pl.col("action").first(), response_at=pl.col("at").first())
    )
    slot = calendar.locality_expr("region_code")
    days = (calendar.index_expr(pl.col("response_at").dt.date(), slot)
            - calendar.index_expr(pl.col("urged_at").dt.date(), slot))
    out = (
        frame.join(first, on="urge_id", how="left")
        .with_columns(open=pl.col("response_id").is_null(),
                      response_working_days=pl.when(pl.col("response_id").is_not_null())
                      .then(days.clip(lower_bound=0).cast(pl.Int32)))
        .sort("urged_at", "urge_id")
        .with_columns(times=pl.int_range(1, pl.len() + 1, dtype=pl.UInt32)
                      .over("target", "key", pl.col("response_id").fill_null("")))
    )
    return out.select(OUTCOME_COLUMNS)


def open_by_target(outcome: pl.DataFrame) -> pl.DataFrame:
    """The open urges, one row per target: ``urges`` (how many are open on it; 2+ = 再次督办), the first and
    the latest urge time, and the latest urge's office, user and note. Longest waiting first."""
    rows = outcome.filter(pl.col("open")).sort("urged_at", "urge_id")
    return (
        rows.group_by("target", "case_id", "rating_id", maintain_order=True)
        .agg(pl.col("step", "flag", "dept_code", "region_code").last(), urges=pl.len().cast(pl.UInt32),
             first_urged_at=pl.col("urged_at").first(), last_urged_at=pl.col("urged_at").last(),
             urged_by=pl.col("urged_by").last(), urged_by_office=pl.col("urged_by_office").last(),
             note=pl.col("note").last())
        .sort("first_urged_at", "case_id", "rating_id")
    )


def per_department(outcome: pl.DataFrame) -> pl.DataFrame:
    """Per department: ``urges`` (urges in ``outcome``), ``repeated`` (再次督办 among them), ``open`` (not
    answered); most open first."""
    schema = {"dept_code": pl.String, "urges": pl.UInt32, "repeated": pl.UInt32, "open": pl.UInt32}
    if outcome.height == 0:
        return pl.DataFrame(schema=schema)
    return (
        outcome.group_by("dept_code")
        .agg(urges=pl.len(), repeated=(pl.col("times") > 1).sum(), open=pl.col("open").sum())
        .cast(schema).sort(["open", "urges", "dept_code"], descending=[True, True, False])
    )


def response_label(lang: str, action: str | None) -> str:
    """What followed, in words (— while open)."""

    if not action:
        return "—"
    if action in CASE_ENDS:
        return tr(lang, *CASE_ENDS[action])
    return tr(lang, FOLLOWUP_ACTIONS.get(action, action), action.replace("_", " "))


# Reading and recording (the I/O edge: warehouse.queries.loop) ----------------------------------------------
def load_urge_responses(wh, urges: pl.DataFrame, actions: tuple[str, ...] = DEPT_ACTIONS,
                        case_ends: tuple[str, ...] = tuple(CASE_ENDS)) -> pl.DataFrame:
    """The candidate answers to ``urges``: the department's follow-ups (``actions``, :data:`DEPT_ACTIONS`) of
    the urged ratings and the end events (``case_ends``, :data:`CASE_ENDS`) of the urged cases, as ``target, key, response_id, action,
    at`` (:data:`RESPONSE_SCHEMA`). Read from the raw tables, so an answer counts as soon as it is stored (no
    metrics run needed)."""
    return urge_responses(wh, urges.filter(pl.col("target") == "step")["rating_id"].unique().to_list(), actions,
                          urges.filter(pl.col("target") == "case")["case_id"].unique().to_list(), case_ends)



def case_target(wh, case_id: str, as_of: dt.datetime, warning_days: int) -> Target:
    """A case as it stands at ``as_of``: its department, region and card (:func:`metrics.flags.flags_as_of`,
    the cards of ``hcp flags``); :class:`UrgeRefused` ``unknown_target`` if no event of it is known."""
    owner = case_owner(wh, case_id)
    if owner is None:
        raise UrgeRefused("unknown_target", f"办件 {case_id} 不存在", f"case {case_id} does not exist")
    one = of_case(Where(), case_id)
    flags = flags_as_of(wh, as_of, warning_days, where=one.sql(), parameters=one.params)
    flag = flags["flag"][0] if flags.height else None
    return Target("case", case_id, owner["dept_code"], owner["region_code"], flag=flag)


def step_target(wh, rating_id: str, as_of: dt.datetime, settings=None) -> Target:
    """A bad rating's loop as it stands at ``as_of`` (:func:`supervision.actions.loop_status`)."""
    try:
        status = loop_status(wh, rating_id, as_of, settings)
    except ActionRefused as exc:
        raise UrgeRefused("unknown_target", exc.zh, exc.en) from exc
    return Target("step", status.get("case_id") or "", status["dept_code"], status["region_code"], rating_id=rating_id,
                  step=status.get("next_step"), owner=status.get("next_owner"), overdue=bool(status.get("overdue")))


def record_urge(wh, urger: Urger, *, case_id: str | None = None, rating_id: str | None = None, note: str | None,
                now: dt.datetime | None = None, urge_id: str | None = None, source: str = "dashboard",
                settings=None) -> tuple[str, bool]:
    """Check an urge (:func:`check_urge`, the target as it stands at ``now``, default the current time) and
    append it to ``urges``; ``(urge_id, stored)``. Exactly one of ``case_id`` / ``rating_id``. With an
    ``urge_id`` already stored with the same content (a re-send) nothing is written and ``stored`` is False;
    with other content it is a ``conflict``. The note has ID-number- and phone-like digits masked, as ingest
    masks free text."""
    if bool(case_id) == bool(rating_id):
        raise UrgeRefused("bad_input", "请指定一个办件或一条评价（二选一）", "give either a case or a rating, not both")
    settings = settings or SupervisionSettings.load()
    when = store.instant(now)
    if urge_id:
        stored = load_urge(wh, urge_id)
        if stored is not None:
            same = (stored["urged_by"] == urger.username and stored["case_id" if case_id else "rating_id"] == (case_id or rating_id)
                    and stored["target"] == ("case" if case_id else "step"))
            if not same:
                raise UrgeRefused("conflict", f"督办编号 {urge_id} 已用于另一条督办", f"urge id {urge_id} is already another urge")
            return urge_id, False
    target = (case_target(wh, case_id, when, settings.warning_days) if case_id
              else step_target(wh, rating_id, when, settings))
    text = check_urge(urger, target, note)  # the scope is judged first: nothing more is said of another's case
    text = pl.select(mask_digits_expr(pl.lit(text))).item()
    record = {"urge_id": urge_id or new_urge_id(), "target": target.kind, "case_id": target.case_id,
              "rating_id": target.rating_id, "step": target.step or "", "flag": target.flag or "",
              "dept_code": target.dept_code, "region_code": target.region_code, "urged_by": urger.username,
              "urged_by_office": urger.office_name, "office_code": urger.office_code, "note": text, "urged_at": when,
              "source": source}
    stored = insert_urge(wh, record)
    return record["urge_id"], stored


def urge_outcomes(wh, scope: Scope, as_of: dt.datetime | None = None, *, case_id: str | None = None,
                  rating_id: str | None = None, calendar: WorkCalendar | None = None) -> pl.DataFrame:
    """The urges in ``scope`` (by the urged target's own department and region: ``Scope.of_dept``,
    ``Scope.of_region``, a dashboard reader's scope) with what followed each, as of ``as_of`` (default now):
    :func:`outcomes`."""
    as_of = store.instant(as_of)
    urges = load_urges(wh, scope, as_of, case_id=case_id, rating_id=rating_id)
    if urges.height == 0:
        return pl.DataFrame(schema={**dict(urges.schema), "times": pl.UInt32, "open": pl.Boolean, "response": pl.String,
                                    "response_at": pl.Datetime("ms", "Asia/Shanghai"),
                                    "response_working_days": pl.Int32}).select(OUTCOME_COLUMNS)
    responses = load_urge_responses(wh, urges)
    return outcomes(urges, responses, calendar or load_calendar(wh), as_of)
