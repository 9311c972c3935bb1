"""The bad-rating loop (差评整改闭环) as a state machine, and its due dates in working days. Pure functions.

**Who is in the loop.** Every bad rating (差评, level 1–2) that is not a system-written default rating. Good
and middling ratings (level 3–5) and default ratings are not: every action on them is refused.

**States and transitions** (docs/loop.md draws them)::

    pending_verification --verified--> verified --rectified--> rectified --feedback--> fed_back --revisited--> closed
                                                \\--explained--> explained --feedback--/      (anonymous: feedback closes)
    pending_verification | verified --appealed--> appealed --appeal_upheld--> upheld   (excluded from every score)
                                                           \\--appeal_rejected--> back where the loop stood

* The revisit (回访) is owed for **real-name** bad ratings (DOMAIN: 100% of them are revisited); an anonymous
  rater cannot be called back, so an anonymous rating's loop closes with the feedback
  (``[supervision] revisit_anonymous = true`` asks a revisit of every bad rating).
* A unit appeals (申诉) *instead of* rectifying: only before the rating is rectified or explained, and once per
  rating (a rejected appeal is not re-argued). While an appeal is pending only the supervisory office acts: it
  upholds or rejects it. ``upheld`` and ``closed`` are final.
* Appeals do not stop the clock: the due dates of verification and rectification stay anchored on the rating
  date, as in the metrics engine's ``bad_rectified_on_time_rate``.

**Deriving the state from records** (:func:`derive_states`). Records arriving through ingest are facts, not
requests: they may come late, out of order, or skip a step that happened but was never recorded. The state
is therefore derived from the *set* of follow-ups of a rating, ordered by (action time, follow-up id), and
never refused:

* an action implies the steps before it (a ``feedback`` without a recorded rectification still means the
  loop reached feedback); the loop stands at the furthest step reached; a revisit, or the feedback when no
  revisit is owed, closes it;
* the latest appeal decision (``appeal_upheld`` / ``appeal_rejected``) decides whether an appeal was upheld —
  the very rule of :mod:`metrics.ratings` for excluding a rating from the scores; an upheld rating is final;
* an ``appealed`` later than the latest decision (or with no decision) is pending.

Only interactive actions (CLI, dashboard) are validated, by :func:`check_action`, against the derived state.

**Due dates** (:func:`with_due_dates`), in working days of the rating's locality calendar, limits per locality
(``[loop]`` / ``[loop.locality."<code>"]``):

* verification: ``verify_days`` (default 2) working days after the rating date;
* rectification or explanation: ``rectify_days`` (default 15) after the rating date — the limit and rule of
  ``bad_rectified_on_time_rate`` (:func:`metrics.ratings.rating_facts`, reused, not rewritten);
* feedback: ``feedback_days`` (default 3) after the date of the (first) rectification or explanation;
* revisit (owed for real-name ratings): ``revisit_days`` (default 5) after the date of the feedback;
* appeal decision: ``[supervision] appeal_decide_days`` (default 5) after the date of the pending appeal.

"n working days after day a" is the working day on which the count of working days d > a reaches n (a
itself not counted; n = 0 means the day itself). A step is **done on time** iff the working days from the
anchor date (excluded) to the date it was done (included) are at most n; an open step is **overdue** as of an
instant T iff that count up to date(T) already exceeds n — i.e. from the first working day after its due
date. Both are the rectification rule of the metrics engine, applied to every step.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from hcp.domain import BAD_LEVELS, FOLLOWUP_ACTIONS, RATING_LEVELS
from hcp.errors import HcpError
from hcp.i18n import tr
from hcp.workdays import WorkCalendar
from metrics.ratings import locality_value_expr, rating_facts
from supervision.settings import SupervisionSettings

#: state -> (Chinese, English)
STATES = {
    "pending_verification": ("待核实", "pending verification"),
    "verified": ("已核实", "verified"),
    "rectified": ("已整改", "rectified"),
    "explained": ("已解释说明", "explained"),
    "fed_back": ("已反馈", "fed back"),
    "closed": ("已闭环", "closed"),
    "appealed": ("申诉待审核", "appeal pending"),
    "upheld": ("申诉成立，不计分", "appeal upheld, excluded"),
    "not_in_loop": ("非差评，不进入闭环", "not a bad rating, not in the loop"),
}
#: the next step of each open state -> (Chinese, English)
STEPS = {
    "verify": ("核实", "verify"),
    "rectify": ("整改或解释说明", "rectify or explain"),
    "feedback": ("反馈", "feed back"),
    "revisit": ("回访", "revisit"),
    "decide_appeal": ("审核申诉", "decide the appeal"),
}
NEXT_STEP = {
    "pending_verification": "verify",
    "verified": "rectify",
    "rectified": "feedback",
    "explained": "feedback",
    "fed_back": "revisit",
    "appealed": "decide_appeal",
}
#: who owes each step: the department that handled the case, or the supervisory office above it.
STEP_OWNER = {"verify": "dept", "rectify": "dept", "feedback": "dept", "revisit": "dept", "decide_appeal": "office"}
FINAL_STATES = ("closed", "upheld")

#: Marker for "back to where the loop stood before the appeal".
BACK_IN_LOOP = "<back in the loop>"
#: state -> {action -> new state}: the only moves an interactive action may make.
TRANSITIONS: dict[str, dict[str, str]] = {
    "pending_verification": {"verified": "verified", "appealed": "appealed"},
    "verified": {"rectified": "rectified", "explained": "explained", "appealed": "appealed"},
    "rectified": {"feedback": "fed_back"},
    "explained": {"feedback": "fed_back"},
    "fed_back": {"revisited": "closed"},
    "appealed": {"appeal_upheld": "upheld", "appeal_rejected": BACK_IN_LOOP},
    "closed": {},
    "upheld": {},
    "not_in_loop": {},
}

_RESOLUTIONS = ("rectified", "explained")
_DECISIONS = ("appeal_upheld", "appeal_rejected")

DERIVED_SCHEMA = {
    "rating_id": pl.String, "level": pl.UInt8, "default_rating": pl.Boolean, "in_loop": pl.Boolean,
    "revisit_required": pl.Boolean, "state": pl.String, "loop_state": pl.String,
    "verified_at": pl.Datetime("ms", "Asia/Shanghai"), "reason_category": pl.String,
    "resolved_at": pl.Datetime("ms", "Asia/Shanghai"), "resolution": pl.String,
    "feedback_at": pl.Datetime("ms", "Asia/Shanghai"), "revisited_at": pl.Datetime("ms", "Asia/Shanghai"),
    "appeals": pl.UInt32, "appealed_at": pl.Datetime("ms", "Asia/Shanghai"), "decision": pl.String,
    "decision_at": pl.Datetime("ms", "Asia/Shanghai"), "last_action_at": pl.Datetime("ms", "Asia/Shanghai"),
    "actions": pl.UInt32,
}


class ActionRefused(HcpError):
    """An interactive action the loop does not allow. Nothing is recorded.

    ``code`` is machine-readable (``not_in_loop``, ``final``, ``appeal_pending``, ``no_pending_appeal``,
    ``appeal_once``, ``appeal_after_rectification``, ``already_done``, ``out_of_order``, ``unknown_action``,
    ``unknown_rating``, ``bad_input``, ``bad_time``); ``zh`` and ``en`` are the message in both languages.
    """

    def __init__(self, code: str, zh: str, en: str):
        super().__init__(f"{zh} / {en}")
        self.code, self.zh, self.en = code, zh, en

    def message(self, lang: str) -> str:
        return tr(lang, self.zh, self.en)


#: action -> (Chinese, English verb) for messages
ACTION_VERBS = {
    "verified": ("核实", "verify"), "rectified": ("整改", "rectify"), "explained": ("解释说明", "explain"),
    "feedback": ("反馈", "feed back"), "revisited": ("回访", "revisit"), "appealed": ("申诉", "appeal"),
    "appeal_upheld": ("申诉成立", "uphold an appeal"), "appeal_rejected": ("申诉驳回", "reject an appeal"),
}


def action_label(action: str) -> tuple[str, str]:
    return ACTION_VERBS.get(action, (action, action))


# Deriving the state --------------------------------------------------------------------------------


def derive_states(ratings: pl.DataFrame | pl.LazyFrame, followups: pl.DataFrame | pl.LazyFrame, *,
                  revisit_anonymous: bool = False) -> pl.DataFrame:
    """The loop state of each rating from its follow-ups (any order, duplicates allowed). See the module doc.

    ``ratings`` needs ``rating_id``, ``level``, ``default_rating``, ``real_name``; ``followups`` needs
    ``followup_id``, ``rating_id``, ``action``, ``action_time`` (``reason_category`` if present). One row per
    distinct rating with the columns of :data:`DERIVED_SCHEMA`.
    """
    rt = ratings.lazy().unique(subset="rating_id", keep="first").select("rating_id", "level", "default_rating", "real_name")
    fu = followups.lazy()
    if "reason_category" not in fu.collect_schema().names():
        fu = fu.with_columns(reason_category=pl.lit(""))
    fu = (fu.unique(subset="followup_id", keep="first").sort("action_time", "followup_id")
          .with_columns(_pos=pl.int_range(pl.len()).over("rating_id")))
    action, time, pos = pl.col("action"), pl.col("action_time"), pl.col("_pos")
    per_rating = fu.group_by("rating_id").agg(
        verified_at=time.filter(action == "verified").first(),
        reason_category=pl.col("reason_category").filter(action == "verified").first(),
        resolved_at=time.filter(action.is_in(_RESOLUTIONS)).first(),
        resolution=action.filter(action.is_in(_RESOLUTIONS)).first(),
        feedback_at=time.filter(action == "feedback").first(),
        revisited_at=time.filter(action == "revisited").first(),
        appeals=(action == "appealed").sum().cast(pl.UInt32),
        appealed_at=time.filter(action == "appealed").last(),
        _appealed_pos=pos.filter(action == "appealed").last(),
        decision=action.filter(action.is_in(_DECISIONS)).last(),
        decision_at=time.filter(action.is_in(_DECISIONS)).last(),
        _decision_pos=pos.filter(action.is_in(_DECISIONS)).last(),
        last_action_at=time.max(),
        actions=pl.len().cast(pl.UInt32),
    )
    revisit_required = pl.col("real_name").fill_null(False) | pl.lit(revisit_anonymous)
    loop_state = (
        pl.when(pl.col("revisited_at").is_not_null()).then(pl.lit("closed"))
        .when(pl.col("feedback_at").is_not_null() & ~revisit_required).then(pl.lit("closed"))
        .when(pl.col("feedback_at").is_not_null()).then(pl.lit("fed_back"))
        .when(pl.col("resolution").is_not_null()).then(pl.col("resolution"))
        .when(pl.col("verified_at").is_not_null()).then(pl.lit("verified"))
        .otherwise(pl.lit("pending_verification"))
    )
    pending_appeal = pl.col("_appealed_pos").is_not_null() & (
        pl.col("_decision_pos").is_null() | (pl.col("_appealed_pos") > pl.col("_decision_pos")))
    in_loop = pl.col("level").is_in(list(BAD_LEVELS)) & ~pl.col("default_rating").fill_null(False)
    derived = (
        rt.join(per_rating, on="rating_id", how="left")
        .with_columns(in_loop=in_loop, loop_state=loop_state, revisit_required=revisit_required,
                      appeals=pl.col("appeals").fill_null(0), actions=pl.col("actions").fill_null(0))
        .with_columns(
            loop_state=pl.when(pl.col("in_loop")).then(pl.col("loop_state")).otherwise(pl.lit("not_in_loop")),
            state=pl.when(~pl.col("in_loop")).then(pl.lit("not_in_loop"))
            .when(pl.col("decision") == "appeal_upheld").then(pl.lit("upheld"))
            .when(pending_appeal).then(pl.lit("appealed"))
            .otherwise(pl.col("loop_state")),
        )
    )
    return derived.select([pl.col(c).cast(t) for c, t in DERIVED_SCHEMA.items()]).collect()


# Validating an interactive action ------------------------------------------------------------------


@dataclass(frozen=True)
class LoopStatus:
    """What :func:`check_action` needs to know about one rating (a row of :func:`derive_states`)."""

    rating_id: str
    level: int
    default_rating: bool
    state: str
    loop_state: str
    appeals: int
    revisit_required: bool = True

    @classmethod
    def from_row(cls, row: dict) -> "LoopStatus":
        return cls(row["rating_id"], int(row["level"]), bool(row["default_rating"]), row["state"],
                   row["loop_state"], int(row["appeals"] or 0), bool(row["revisit_required"]))


def check_known_action(action: str) -> None:
    """:class:`ActionRefused` ``unknown_action`` unless ``action`` is one of :data:`hcp.domain.FOLLOWUP_ACTIONS`."""
    if action not in FOLLOWUP_ACTIONS:
        raise ActionRefused("unknown_action", f"未知的操作“{action}”，可用：{'、'.join(FOLLOWUP_ACTIONS)}",
                            f"unknown action {action!r}; use one of {', '.join(FOLLOWUP_ACTIONS)}")


def check_action(status: LoopStatus, action: str) -> str:
    """The state an interactive ``action`` leads to, or :class:`ActionRefused` saying why it is impossible."""
    check_known_action(action)
    zh_action, en_action = action_label(action)
    rid, state = status.rating_id, status.state
    if state == "not_in_loop":
        if status.default_rating:
            raise ActionRefused("not_in_loop", f"评价 {rid} 是系统默认评价，不是评价人的差评，不进入整改闭环，不能“{zh_action}”",
                                f"rating {rid} is a system default rating, not a bad rating: it is not in the loop "
                                f"(cannot {en_action})")
        raise ActionRefused("not_in_loop",
                            f"评价 {rid} 为 {status.level} 星（{RATING_LEVELS.get(status.level, '')}），不是差评（1–2 星），"
                            f"不进入整改闭环，不能“{zh_action}”",
                            f"rating {rid} is level {status.level}, not a bad rating (1–2): it is not in the loop "
                            f"(cannot {en_action})")
    allowed = TRANSITIONS[state]
    if action == "appealed" and status.appeals > 0 and state not in FINAL_STATES and state != "appealed":
        raise ActionRefused("appeal_once", f"评价 {rid} 已申诉过一次，不能再次申诉",
                            f"rating {rid} was already appealed once; it cannot be appealed again")
    if action in allowed:
        new_state = allowed[action]
        if new_state == "fed_back" and not status.revisit_required:
            return "closed"  # an anonymous rater cannot be called back: the feedback closes the loop
        return status.loop_state if new_state == BACK_IN_LOOP else new_state
    zh_state, en_state = STATES[state]
    if state == "upheld":
        raise ActionRefused("final", f"评价 {rid} 的申诉已成立，已排除在计分之外，不能再“{zh_action}”",
                            f"the appeal against rating {rid} was upheld and the rating is excluded; "
                            f"nothing more can be recorded (cannot {en_action})")
    if state == "closed" and action == "revisited" and not status.revisit_required:
        raise ActionRefused("final", f"评价 {rid} 为匿名差评，反馈后闭环即已完成，无需回访",
                            f"rating {rid} is anonymous: its loop closed with the feedback and no revisit is owed")
    if state == "closed":
        raise ActionRefused("final", f"评价 {rid} 的闭环已完成，不能再“{zh_action}”",
                            f"the loop of rating {rid} is closed; cannot {en_action}")
    if state == "appealed":
        raise ActionRefused("appeal_pending", f"评价 {rid} 的申诉正在审核，审核（申诉成立或驳回）前不能“{zh_action}”",
                            f"the appeal against rating {rid} is pending; nothing but its decision "
                            f"(appeal_upheld or appeal_rejected) can be recorded; cannot {en_action} now")
    if action in _DECISIONS:
        raise ActionRefused("no_pending_appeal", f"评价 {rid} 没有待审核的申诉，不能“{zh_action}”",
                            f"rating {rid} has no pending appeal, so there is nothing to decide (cannot {en_action})")
    if action == "appealed":
        raise ActionRefused("appeal_after_rectification",
                            f"评价 {rid} 已“{zh_state}”，整改或解释说明之后不能再申诉",
                            f"rating {rid} is already {en_state}: an appeal must come before rectification "
                            "or explanation")
    order = {"verified": 1, "rectified": 2, "explained": 2, "feedback": 3, "revisited": 4}
    done = {"pending_verification": 0, "verified": 1, "rectified": 2, "explained": 2, "fed_back": 3}[state]
    zh_next, en_next = STEPS[NEXT_STEP[state]]
    if order[action] <= done:
        raise ActionRefused("already_done", f"评价 {rid} 当前为“{zh_state}”，“{zh_action}”这一步已经完成，下一步应为“{zh_next}”",
                            f"rating {rid} is {en_state}: the step “{en_action}” is already done; the next step "
                            f"is to {en_next}")
    raise ActionRefused("out_of_order", f"评价 {rid} 当前为“{zh_state}”，下一步应为“{zh_next}”，不能跳到“{zh_action}”",
                        f"rating {rid} is {en_state}: the next step is to {en_next}; cannot {en_action} yet")


# Due dates -----------------------------------------------------------------------------------------


def _limit(settings: SupervisionSettings, key: str) -> pl.Expr:
    return locality_value_expr("region_code", settings.step_days[key], settings.step_days_by_locality.get(key, {}))


def _on_time(calendar: WorkCalendar, done: pl.Expr, due: pl.Expr, slot: pl.Expr) -> pl.Expr:
    """Done on time: working days from the anchor to the date done ≤ the limit ⇔ index(done) ≤ index(due)."""
    return pl.when(done.is_not_null()).then(calendar.index_expr(done, slot) <= calendar.index_expr(due, slot))


def with_due_dates(frame: pl.DataFrame, calendar: WorkCalendar, settings: SupervisionSettings) -> pl.DataFrame:
    """Add every step's due date, the next step, who owes it and its due date, and the done steps' on-time marks.

    ``frame``: rows of :func:`derive_states` joined with the rating's ``rated_at`` and ``region_code``.
    Adds ``rating_date``, ``verify_due``, ``rectify_due``, ``feedback_due``, ``revisit_due``, ``appeal_due``,
    ``next_step``, ``next_owner``, ``due_date``, ``verify_on_time``, ``feedback_on_time``, ``revisit_on_time``.
    """
    slot = calendar.locality_expr("region_code")
    rating_date = pl.col("rated_at").dt.date()
    in_loop = pl.col("in_loop")
    due = {
        "verify_due": (rating_date, _limit(settings, "verify_days")),
        "rectify_due": (rating_date, _limit(settings, "rectify_days")),
        "feedback_due": (pl.col("resolved_at").dt.date(), _limit(settings, "feedback_days")),
        "revisit_due": (pl.col("feedback_at").dt.date(), _limit(settings, "revisit_days")),
    }
    out = frame.with_columns(
        rating_date=rating_date,
        **{name: pl.when(in_loop).then(calendar.add_working_days_expr(anchor, n, slot)) for name, (anchor, n) in due.items()
           if name != "revisit_due"},
        revisit_due=pl.when(in_loop & pl.col("revisit_required")).then(
            calendar.add_working_days_expr(*due["revisit_due"], slot)),
        appeal_due=pl.when(pl.col("state") == "appealed").then(calendar.add_working_days_expr(
            pl.col("appealed_at").dt.date(), pl.lit(settings.appeal_decide_days, dtype=pl.Int32), slot)),
        next_step=pl.col("state").replace_strict(NEXT_STEP, default=None, return_dtype=pl.String),
    )
    return out.with_columns(
        next_owner=pl.col("next_step").replace_strict(STEP_OWNER, default=None, return_dtype=pl.String),
        due_date=pl.when(pl.col("next_step") == "verify").then(pl.col("verify_due"))
        .when(pl.col("next_step") == "rectify").then(pl.col("rectify_due"))
        .when(pl.col("next_step") == "feedback").then(pl.col("feedback_due"))
        .when(pl.col("next_step") == "revisit").then(pl.col("revisit_due"))
        .when(pl.col("next_step") == "decide_appeal").then(pl.col("appeal_due")),
        verify_on_time=_on_time(calendar, pl.col("verified_at").dt.date(), pl.col("verify_due"), slot),
        feedback_on_time=_on_time(calendar, pl.col("feedback_at").dt.date(), pl.col("feedback_due"), slot),
        revisit_on_time=_on_time(calendar, pl.col("revisited_at").dt.date(), pl.col("revisit_due"), slot),
    )


def with_status(frame: pl.DataFrame, as_of: dt.datetime, calendar: WorkCalendar) -> pl.DataFrame:
    """Add, for the next step as of instant ``as_of``: ``overdue`` (the working days from its anchor to date(T)
    exceed its limit, i.e. date(T) is past the due date by at least one working day), ``overdue_working_days``
    (working days d with due < d ≤ date(T)) and ``working_days_left`` (working days d with date(T) < d ≤ due).
    """
    slot = calendar.locality_expr("region_code")
    idx_today = calendar.index_expr(pl.lit(as_of.date()), slot)
    idx_due = calendar.index_expr("due_date", slot)
    return frame.with_columns(overdue=(idx_today > idx_due)).with_columns(
        overdue_working_days=pl.when(pl.col("overdue")).then((idx_today - idx_due).cast(pl.Int32)),
        working_days_left=pl.when(~pl.col("overdue")).then((idx_due - idx_today).cast(pl.Int32)),
    )


def loop_frame(ratings: pl.DataFrame, followups: pl.DataFrame, calendar: WorkCalendar,
               settings: SupervisionSettings, as_of: dt.datetime | None = None) -> pl.DataFrame:
    """Everything about the loop of each rating: its rating columns, derived state, due dates, on-time marks
    (``rectify_on_time`` straight from :func:`metrics.ratings.rating_facts`) and, with ``as_of``, the status of
    the next step. With ``as_of``, ratings and follow-ups after that instant are ignored (the loop as it stood).
    """
    if as_of is not None:
        ratings = ratings.filter(pl.col("rated_at") <= as_of)
        followups = followups.filter(pl.col("action_time") <= as_of)
    derived = derive_states(ratings, followups, revisit_anonymous=settings.revisit_anonymous)
    facts = rating_facts(ratings, followups, calendar, rectify_days=settings.step_days["rectify_days"],
                         rectify_days_by_locality=settings.step_days_by_locality.get("rectify_days", {}))
    frame = (
        ratings.unique(subset="rating_id", keep="first")
        .join(derived.drop("level", "default_rating", "real_name", strict=False), on="rating_id", how="left")
        .join(facts.select("rating_id", rectify_on_time=pl.when(pl.col("rectified")).then(pl.col("rectified_on_time")),
                           counted="counted"), on="rating_id", how="left")
    )
    frame = with_due_dates(frame, calendar, settings)
    if as_of is not None:
        frame = with_status(frame, as_of, calendar)
    return frame
