"""``hcp followup …`` (record and audit the bad-rating loop) and ``hcp loop …`` (queues, invitations,
escalations, suspicious patterns).

JSON and CSV outputs use machine keys (documented in docs/loop.md); tables and Excel use the user's language.
"""

from __future__ import annotations

import datetime as dt
import json

import click
import polars as pl

from hcp.domain import (CASE_CHANNELS, CASE_CHANNELS_EN, FOLLOWUP_ACTIONS, RATING_CHANNELS, RATING_CHANNELS_EN,
                        REASON_CATEGORIES)
from hcp.errors import UsageError
from hcp.i18n import tr
from hcp.options import format_option, instant_option, no_refresh_option, period_option, refresh, scope_option
from hcp.periods import Period
from hcp.scope import Scope
from supervision.export import FORMATS, emit, records

# The stage's modules are imported inside the commands, to keep `hcp --help` fast: it imports every
# command's module.

OWNERS = {"dept": ("部门", "department"), "office": ("监督机构", "supervisory office")}


def _usage(message: str) -> UsageError:
    return UsageError(message)


def _humanize(frame: pl.DataFrame, lang: str) -> pl.DataFrame:
    """State, step and owner codes as words, for tables and Excel."""
    from supervision.loop import STATES, STEPS
    from supervision.suspicious import PATTERNS

    words = {"state": STATES, "next_step": STEPS, "next_owner": OWNERS, "pattern": PATTERNS,
             "action": {a: (zh, a) for a, zh in FOLLOWUP_ACTIONS.items()},
             "channel": {c: (zh, {**CASE_CHANNELS_EN, **RATING_CHANNELS_EN}.get(c, c))
                         for c, zh in {**CASE_CHANNELS, **RATING_CHANNELS}.items()},
             "reason_category": {c: (zh, c) for c, zh in REASON_CATEGORIES.items()}}
    exprs = [pl.col(c).replace_strict({k: tr(lang, *v) for k, v in table.items()}, default=pl.col(c), return_dtype=pl.String)
             for c, table in words.items() if c in frame.columns]
    return frame.with_columns(exprs) if exprs else frame


def _output(app, frame: pl.DataFrame, fmt: str, out: str | None, labels: dict, sheet: str) -> None:
    shown = frame if fmt in ("json", "csv") else _humanize(frame, app.lang)
    emit(shown, fmt, out, lang=app.lang, labels=labels, sheet=sheet, echo=click.echo)


def _refresh(app, no_refresh: bool) -> None:
    if not no_refresh:
        refresh(app)


# hcp followup ---------------------------------------------------------------------------------------------


@click.group()
def followup() -> None:
    """差评整改闭环记录 / record a step of the bad-rating loop and read a rating's history."""


@followup.command("add")
@click.option("--rating", "rating_id", required=True, help="评价编号 / rating id.")
@click.option("--action", required=True, type=click.Choice(list(FOLLOWUP_ACTIONS)),
              help="操作 / verified, rectified, explained, feedback, revisited, appealed, appeal_upheld, appeal_rejected.")
@click.option("--actor", required=True, help="办理人 / who acts (a staff or office account).")
@click.option("--reason-category", type=click.Choice(list(REASON_CATEGORIES)), default=None,
              help="差评原因（仅核实时）/ the verified cause (with --action verified only).")
@click.option("--note", default=None, help="说明 / why, what was done.")
@instant_option("--at", help="办理时间 / when it was done (ISO 8601; default now). Never before the last recorded step.")
@click.pass_obj
def followup_add(app, rating_id: str, action: str, actor: str, reason_category: str | None, note: str | None,
                 at: dt.datetime | None) -> None:
    """记录一步闭环操作 / append one action to a bad rating's loop (checked against the loop; refused actions record nothing)."""
    from supervision.actions import loop_status, record_action
    from supervision.loop import STATES, STEPS

    wh = app.warehouse()
    followup_id = record_action(wh, rating_id, action, actor, reason_category, note, at, source="cli")
    status = loop_status(wh, rating_id)
    state = tr(app.lang, *STATES[status["state"]])
    line = tr(app.lang, f"已记录 {followup_id}：评价 {rating_id} “{FOLLOWUP_ACTIONS[action]}”，当前状态：{state}",
              f"recorded {followup_id}: rating {rating_id} {action}; now {state}")
    if status["next_step"]:
        step = tr(app.lang, *STEPS[status["next_step"]])
        line += tr(app.lang, f"；下一步：{step}，期限 {status['due_date']}", f"; next: {step}, due {status['due_date']}")
    click.echo(line)


@followup.command("history")
@click.option("--rating", "rating_id", required=True, help="评价编号 / rating id.")
@format_option("table", "json")
@click.pass_obj
def followup_history(app, rating_id: str, fmt: str) -> None:
    """闭环记录 / the append-only history of a rating's loop, with its current state and due dates."""
    from supervision.actions import history, loop_status
    from supervision.loop import STATES, STEPS

    from supervision.urges import urge_outcomes

    wh = app.warehouse()
    frame = history(wh, rating_id)
    status = loop_status(wh, rating_id)
    urged = urge_outcomes(wh, Scope(), rating_id=rating_id).drop("office_code")  # 督办 of this rating
    if fmt == "json":
        summary = {k: status[k] for k in ("rating_id", "level", "state", "next_step", "next_owner", "due_date",
                                          "overdue", "verify_due", "rectify_due", "feedback_due", "revisit_due",
                                          "appeal_due", "allowed_actions")}
        click.echo(json.dumps({**records(pl.DataFrame([summary]))[0], "history": records(frame),
                               "urges": records(urged)}, ensure_ascii=False, indent=2))
        return
    state = tr(app.lang, *STATES[status["state"]])
    head = tr(app.lang, f"评价 {rating_id}（{status['level']} 星）：{state}", f"rating {rating_id} (level {status['level']}): {state}")
    if status["next_step"]:
        step = tr(app.lang, *STEPS[status["next_step"]])
        overdue = tr(app.lang, "，已超期", ", overdue") if status["overdue"] else ""
        head += tr(app.lang, f"；下一步：{step}，期限 {status['due_date']}{overdue}",
                   f"; next: {step}, due {status['due_date']}{overdue}")
    click.echo(head)
    labels = {"followup_id": ("记录编号", "followup"), "action": ("操作", "action"), "action_time": ("时间", "time"),
              "actor": ("办理人", "actor"), "reason_category": ("原因", "reason"), "note": ("说明", "note"),
              "source": ("来源", "source"), "received_at": ("入库时间", "stored at")}
    shown = frame.drop("rating_id")
    if shown.height == 0:
        click.echo(tr(app.lang, "（尚无闭环记录）", "(no follow-ups yet)"))
    else:
        _output(app, shown, "table", None, labels, "history")
    if urged.height:
        from supervision.urges import CASE_ENDS, DEPT_ACTIONS, LABELS as URGE_LABELS, response_label

        click.echo(tr(app.lang, "督办记录：", "urges:"))
        answers = {a: response_label(app.lang, a) for a in (*DEPT_ACTIONS, *CASE_ENDS)}
        emit(urged.select("urged_at", "urged_by_office", "urged_by", "note", "times", "open",
                          pl.col("response").replace_strict(answers, default=pl.col("response")), "response_at",
                          "response_working_days"), "table", None, lang=app.lang, labels=URGE_LABELS, sheet="urges",
             echo=click.echo)


# hcp loop -------------------------------------------------------------------------------------------------


@click.group()
def loop() -> None:
    """差评闭环与监督 / bad-rating queues, rating invitations, red-card escalations, suspicious ratings."""


@loop.command("status")
@click.option("--rating", "rating_id", required=True, help="评价编号 / rating id.")
@instant_option()
@click.pass_obj
def loop_status_cmd(app, rating_id: str, as_of: dt.datetime | None) -> None:
    """单条差评的闭环状态 / where one rating's loop stands: state, due dates, allowed next actions (JSON)."""
    from supervision.actions import loop_status

    status = loop_status(app.warehouse(), rating_id, as_of)
    keep = {k: v for k, v in status.items() if not k.startswith("_")}
    click.echo(json.dumps(records(pl.DataFrame([keep]))[0], ensure_ascii=False, indent=2))


def _checked(scope: Scope, wh, *, required: bool) -> Scope | None:
    """The department or office a command is about (None for everywhere); a code the warehouse does not
    know is a usage error."""
    from warehouse.queries.reference import require_department, require_region  # lazy: --help

    if scope.dept_code:
        require_department(wh, scope.dept_code)
    elif scope.region_prefix:
        require_region(wh, scope.code)
    elif required:
        raise _usage("请指定 --dept 部门代码 或 --office 区划代码 / give --dept CODE or --office REGION")
    else:
        return None
    return scope


#: The loop's unit options: a department, or a supervisory office (a 12-digit region code), not both.
def _unit_option(dept_help: str, office_help: str):
    return scope_option(region="--office", dept="--dept", region_help=office_help, dept_help=dept_help, exclusive=True)


@loop.command("queue")
@_unit_option("部门代码：本部门待办 / a department: what it must handle now.",
              "区划代码：辖区内超期 / a supervisory office (12-digit region): what is overdue under it.")
@instant_option()
@click.option("--all/--overdue-only", "show_all", default=None,
              help="全部待办或仅超期（部门默认全部，监督机构默认仅超期）/ every open step or only the overdue ones "
                   "(default: all for a department, overdue only for an office).")
@click.option("--sort", "sort_by", type=click.Choice(["due_date", "overdue_working_days", "rated_at", "dept_code", "region_code"]),
              default="due_date", show_default=True)
@click.option("--desc", is_flag=True, help="降序 / descending.")
@format_option(*FORMATS)
@click.option("--out", default=None, help="导出文件 / write to this file (required for xlsx).")
@click.pass_obj
def loop_queue(app, scope, as_of, show_all, sort_by, desc, fmt, out) -> None:
    """差评待办与超期督办 / a department's bad-rating steps to handle, or what is overdue under an office."""
    from supervision.queues import LABELS, department_queue, office_queue, sort_queue

    wh = app.warehouse()
    _checked(scope, wh, required=True)
    dept, office, instant = scope.dept_code, scope.code, as_of
    if dept:
        frame = department_queue(wh, dept, instant, overdue_only=show_all is False)
    else:
        frame = office_queue(wh, office, instant, overdue_only=show_all is not True)
    frame = sort_queue(frame, sort_by, desc)
    if fmt == "table":
        _open_urges_block(app, wh, scope, instant)  # 督办 first: what an office urged and nobody answered
        overdue = frame.filter(pl.col("overdue")).height
        unit = dept or office
        click.echo(tr(app.lang, f"{unit}：{frame.height} 条待办，其中超期 {overdue} 条",
                      f"{unit}: {frame.height} open steps, {overdue} overdue"))
    _output(app, frame, fmt, out, LABELS, "queue")


@loop.command("invitations")
@instant_option()
@click.option("--days", type=click.IntRange(min=0), default=None,
              help="办结后天数 / days after completion without a rating (default: [supervision] invite_after_days).")
@_unit_option("仅本部门 / only this department's cases.", "仅本辖区 / only cases in this region's subtree.")
@format_option(*FORMATS)
@click.option("--out", default=None, help="导出文件 / write to this file (required for xlsx).")
@no_refresh_option()
@click.pass_obj
def loop_invitations(app, as_of, days, scope, fmt, out, no_refresh) -> None:
    """智能邀评 / completed cases not rated N days after completion, for an SMS invitation (no personal data in clear)."""
    from supervision.invitations import LABELS, invitations

    scope = _checked(scope, app.warehouse(), required=False)
    _refresh(app, no_refresh)
    frame = invitations(app.warehouse(), as_of, days, scope=scope)
    if fmt == "table":
        click.echo(tr(app.lang, f"待邀评 {frame.height} 件", f"{frame.height} cases to invite"))
    _output(app, frame, fmt, out, LABELS, "invitations")


@loop.command("escalations")
@instant_option()
@click.option("--after-days", type=click.IntRange(min=1), default=None,
              help="红牌满多少个工作日升级 / working days red before escalation (default: [supervision] escalate_after_red_days).")
@scope_option(region="--office", dept=None, region_help="仅本辖区的办件 / only cases in this region's subtree.")
@format_option(*FORMATS)
@click.option("--out", default=None, help="导出文件 / write to this file (required for xlsx).")
@no_refresh_option()
@click.pass_obj
def loop_escalations(app, as_of, after_days, scope, fmt, out, no_refresh) -> None:
    """红牌升级 / red cases escalated to the office one level up, and which office that is."""
    from supervision.escalation import LABELS, escalations

    office = scope.code if _checked(scope, app.warehouse(), required=False) else None
    _refresh(app, no_refresh)
    frame = escalations(app.warehouse(), as_of, after_days=after_days, region_code=office)
    if fmt == "table":
        click.echo(tr(app.lang, f"升级督办 {frame.height} 件", f"{frame.height} escalated cases"))
    _output(app, frame, fmt, out, LABELS, "escalations")


@loop.command("suspicious")
@period_option(required=True)
@format_option(*FORMATS)
@click.option("--out", default=None, help="导出文件 / write to this file (required for xlsx).")
@click.pass_obj
def loop_suspicious(app, period: Period, fmt, out) -> None:
    """异常评价线索 / suspicious rating patterns with their evidence (bursts of top ratings, ratings of
    missing or uncompleted cases, ratings before completion)."""
    from supervision.suspicious import LABELS, PATTERNS, evidence_objects, suspicious_ratings

    frame = suspicious_ratings(app.warehouse(), period)
    if fmt == "json":  # evidence as an object, not JSON text
        text = json.dumps(evidence_objects(frame), ensure_ascii=False, indent=2)
        if out:
            from pathlib import Path

            Path(out).write_text(text + "\n", encoding="utf-8")
            click.echo(tr(app.lang, f"已导出 {frame.height} 行到 {out}", f"wrote {frame.height} rows to {out}"))
        else:
            click.echo(text)
        return
    if fmt == "table":
        counts = dict(frame.group_by("pattern").len().iter_rows())
        summary = "，".join(f"{tr(app.lang, *PATTERNS[p])} {counts[p]}" for p in PATTERNS if p in counts) or "—"
        click.echo(tr(app.lang, f"{period.label} 异常评价线索 {frame.height} 条：{summary}",
                      f"{period.label}: {frame.height} findings: {summary}"))
    _output(app, frame, fmt, out, LABELS, "suspicious")


# 督办 (urges) -------------------------------------------------------------------------------------------------


def _urger(username: str):
    """The office a command urges as: a dashboard user (``hcp users``); an unknown name is a usage error."""
    from dashboard.auth import get_user
    from supervision.urges import Urger

    user = get_user(username)
    if user is None:
        raise _usage(f"未知用户 {username!r}（见 hcp users list）/ unknown user {username!r} (see hcp users list)")
    return Urger.from_user(user)


def _open_urges_block(app, wh, scope: Scope, instant) -> None:
    """The open urges of a queue's unit, above the queue (nothing when there is none)."""
    from supervision.urges import TARGETS, open_by_target, urge_outcomes

    urged = open_by_target(urge_outcomes(wh, scope, instant))
    if urged.height == 0:
        return
    click.echo(tr(app.lang, f"督办未回应 {urged.height} 件：", f"{urged.height} urged and not answered:"))
    rows = urged.select(
        pl.col("target").replace_strict({k: tr(app.lang, *v) for k, v in TARGETS.items()}, default=pl.col("target")),
        pl.when(pl.col("target") == "step").then(pl.col("rating_id")).otherwise(pl.col("case_id")).alias("what"),
        pl.col("dept_code"),
        pl.when(pl.col("urges") > 1).then(pl.format(tr(app.lang, "再次督办（{} 次）", "urged again ({} times)"), pl.col("urges")))
        .otherwise(pl.lit(tr(app.lang, "督办", "urged"))).alias("times"),
        pl.col("last_urged_at").dt.strftime("%Y-%m-%d %H:%M"), pl.col("urged_by_office"), pl.col("urged_by"), pl.col("note"),
    )
    labels = {"target": ("督办对象", "target"), "what": ("编号", "id"), "dept_code": ("部门", "dept"),
              "times": ("次数", "times"), "last_urged_at": ("督办时间", "urged at"),
              "urged_by_office": ("督办单位", "office"), "urged_by": ("督办人", "urged by"), "note": ("督办事项", "note")}
    emit(rows, "table", None, lang=app.lang, labels=labels, sheet="urges", echo=click.echo)
    click.echo("")


@loop.command("urge")
@click.option("--case", "case_id", default=None, help="办件编号（红牌或黄牌）/ a red or yellow case.")
@click.option("--rating", "rating_id", default=None, help="评价编号（当前环节已超期）/ a bad rating whose current step is overdue.")
@click.option("--note", required=True, help="督办事项（必填）/ what the department is asked to do (required).")
@click.option("--as", "as_user", required=True, help="督办人（看板用户：省或市县监督机构）/ who urges: a dashboard user of an office.")
@instant_option("--at", help="督办时间 / ISO 8601 instant (default: now).")
@click.option("--id", "urge_id", default=None, help="督办编号：重发同一编号不会重复记录 / an urge id: a re-send with it is stored once.")
@click.pass_obj
def loop_urge(app, case_id, rating_id, note, as_user, at, urge_id) -> None:
    """督办 / urge a department on a red or yellow case or an overdue loop step (append-only; the department sees it
    at the top of its queue)."""
    from supervision.urges import UrgeRefused, record_urge

    if bool(case_id) == bool(rating_id):
        raise _usage("请指定 --case 或 --rating（二选一）/ give --case ID or --rating ID (one of them)")
    urger = _urger(as_user)
    try:
        urge_id, stored = record_urge(app.warehouse(), urger, case_id=case_id, rating_id=rating_id, note=note,
                                      now=at, urge_id=urge_id, source="cli")
    except UrgeRefused as exc:
        raise UsageError(str(exc)) from exc
    what = tr(app.lang, f"办件 {case_id}", f"case {case_id}") if case_id else tr(app.lang, f"评价 {rating_id}", f"rating {rating_id}")
    if stored:
        click.echo(tr(app.lang, f"已督办 {urge_id}：{what}", f"urged {urge_id}: {what}"))
    else:
        click.echo(tr(app.lang, f"督办 {urge_id} 已记录过，未重复记录", f"urge {urge_id} was already recorded; not stored again"))


@loop.command("urges")
@_unit_option("部门代码 / a department's urges.", "区划代码 / urges of targets in this region's subtree.")
@click.option("--open", "open_only", is_flag=True, help="仅未回应 / only those not answered yet.")
@instant_option()
@format_option(*FORMATS)
@click.option("--out", default=None, help="导出文件 / write to this file (required for xlsx).")
@click.pass_obj
def loop_urges(app, scope, open_only, as_of, fmt, out) -> None:
    """督办记录 / who urged whom, when, and what followed (the department's first action after it, in working days)."""
    from supervision.urges import CASE_ENDS, DEPT_ACTIONS, LABELS, TARGETS, response_label, urge_outcomes

    wh = app.warehouse()
    scope = _checked(scope, wh, required=False) or Scope()
    frame = urge_outcomes(wh, scope, as_of)
    if open_only:
        frame = frame.filter(pl.col("open"))
    frame = frame.drop("office_code")
    if fmt == "table":
        open_n = frame.filter(pl.col("open")).height
        again = frame.filter(pl.col("times") > 1).height
        click.echo(tr(app.lang, f"督办 {frame.height} 件（其中再次督办 {again} 件），未回应 {open_n} 件",
                      f"{frame.height} urges ({again} repeated), {open_n} not answered"))
        if frame.height == 0:
            return
        frame = frame.select("urged_at", "target", pl.when(pl.col("target") == "step").then(pl.col("rating_id"))
                             .otherwise(pl.col("case_id")).alias("case_id"), "dept_code", "urged_by_office", "urged_by",
                             "note", "times", "open", "response", "response_at", "response_working_days")
        frame = frame.with_columns(
            pl.col("target").replace_strict({k: tr(app.lang, *v) for k, v in TARGETS.items()}, default=pl.col("target")),
            pl.col("response").replace_strict({a: response_label(app.lang, a) for a in (*DEPT_ACTIONS, *CASE_ENDS)},
                                              default=pl.col("response")))
        labels = {**LABELS, "case_id": ("编号", "id")}
        emit(frame, fmt, out, lang=app.lang, labels=labels, sheet="urges", echo=click.echo)
        return
    _output(app, frame, fmt, out, LABELS, "urges")
