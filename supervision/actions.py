"""Recording a step of the bad-rating loop (CLI and dashboard), and reading a rating's audit trail.

An action is appended to ``followups`` as one new record — who (``actor``), when (``action_time``), what
(``action``), why (``reason_category``, ``note``) and through what (``source``) — after it has been checked
against the state machine (:func:`supervision.loop.check_action`) on the state derived from every follow-up
already stored. A refused action raises :class:`supervision.loop.ActionRefused` and writes nothing. Follow-ups
are never updated or deleted: the history is the table itself, in (action time, follow-up id) order.

Rules for an interactive action, besides the state machine:

* the rating must exist; the actor must be named;
* each action asks for exactly what it needs (:data:`ACTION_NEEDS`): 核实 (``verified``) a cause, 整改
  (``rectified``) and 解释说明 (``explained``) a note saying what was done, 申诉 (``appealed``) its grounds;
  an empty one is refused with a message that says what is missing;
* ``reason_category`` is given only with ``verified``, and must be one of :data:`hcp.domain.REASON_CATEGORIES`;
* its time may not precede the rating, nor the latest follow-up already recorded (the history only grows
  forward, so the state the action was checked against is the state it is appended to). Without an explicit
  time the action is timed now.

The record is appended through ingest (:func:`ingest.run.ingest_bytes`), like any arriving record:
the interchange checks, the masking of ID-number- and phone-like digits in the note, and the ingest ledger
(``received_ids``), so a later resend of the same follow-up id is a duplicate, never a second row.

Checking and appending are serialised per warehouse — across the threads of a process and the processes of a
machine (a file lock) — so a double click cannot record a step twice. Writers on different machines of a
server warehouse are not serialised (ClickHouse has no transactions); the derivation of the state stays well
defined for any set of records, so the worst case is a duplicate step, visible in the history.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid

import polars as pl

from hcp.domain import FOLLOWUP_ACTIONS, REASON_CATEGORIES
from hcp.locks import job_lock
from hcp.pii import ensure_key
from ingest.loader import Loader
from ingest.run import ingest_bytes
from warehouse.queries.reference import load_calendar
from supervision import store
from supervision.loop import (STATES, STEPS, ActionRefused, LoopStatus, check_action, check_known_action, derive_states,
                              loop_frame)
from supervision.settings import SupervisionSettings
from warehouse.client import Warehouse
from warehouse.queries.ratings import followup_history

MAX_NOTE_CHARS = 2000

#: What each action cannot be recorded without — ``reason_category`` (a cause) or ``note`` — with the
#: (Chinese, English) message when it is missing. The dashboard's form asks for exactly these.
ACTION_NEEDS: dict[str, tuple[str, str, str]] = {
    "verified": ("reason_category", "核实须选择差评原因", "a verification needs the cause of the bad rating"),
    "rectified": ("note", "整改须写明整改内容（做了什么）", "a rectification needs a note of what was done"),
    "explained": ("note", "解释说明须写明向评价人作出的解释", "an explanation needs the note of what was explained"),
    "appealed": ("note", "申诉须写明理由", "an appeal needs its grounds"),
}


def new_followup_id() -> str:
    """A new unique follow-up id for an interactively recorded action."""
    return f"fu-{uuid.uuid4().hex}"


def _rating(wh: Warehouse, rating_id: str) -> pl.DataFrame:
    """The rating (one row), or :class:`ActionRefused` ``unknown_rating``."""
    rating = store.load_rating(wh, rating_id)
    if rating.height == 0:
        raise ActionRefused("unknown_rating", f"评价 {rating_id} 不存在", f"rating {rating_id} does not exist")
    return rating


def _check_inputs(action: str, actor: str, reason_category: str | None, note: str | None) -> None:
    check_known_action(action)
    if not actor:
        raise ActionRefused("bad_input", "必须填写办理人（actor）", "the actor (who acts) is required")
    if action in ACTION_NEEDS:
        field, zh, en = ACTION_NEEDS[action]
        if not {"reason_category": reason_category, "note": note}[field]:
            raise ActionRefused("missing_input", zh, en)
    if reason_category:
        if action != "verified":
            raise ActionRefused("bad_input", "差评原因（reason_category）只能在“核实”时填写",
                                "a reason category is recorded only with the action verified")
        if reason_category not in REASON_CATEGORIES:
            raise ActionRefused("bad_input", f"未知的差评原因“{reason_category}”，可用：{'、'.join(REASON_CATEGORIES)}",
                                f"unknown reason category {reason_category!r}; use one of {', '.join(REASON_CATEGORIES)}")
    if note and len(note) > MAX_NOTE_CHARS:
        raise ActionRefused("bad_input", f"说明过长（最多 {MAX_NOTE_CHARS} 字）",
                            f"the note is too long (at most {MAX_NOTE_CHARS} characters)")


def record_action(wh: Warehouse, rating_id: str, action: str, actor: str, reason_category: str | None = None,
                  note: str | None = None, now: dt.datetime | None = None, *, source: str = "dashboard") -> str:
    """Check ``action`` on rating ``rating_id`` against the loop and append it as a follow-up; its new id.

    Raises :class:`supervision.loop.ActionRefused` (``.zh``, ``.en``, ``.code``) and records nothing when the
    action is impossible. ``now`` is the action time (default: now, Asia/Shanghai; a naive value is Shanghai
    time). ``source`` says where it was recorded (``dashboard``, ``cli``).
    """
    action, actor = (action or "").strip(), (actor or "").strip()
    reason_category = (reason_category or "").strip()
    note = (note or "").strip()
    _check_inputs(action, actor, reason_category, note)
    with _serialised(wh):
        rating = _rating(wh, rating_id)
        history = followup_history(wh, rating_id)
        explicit = now is not None
        when = store.instant(now)
        rated_at = rating["rated_at"][0]
        latest = history["action_time"].max() if history.height else None
        if when < rated_at:
            raise ActionRefused("bad_time", f"办理时间 {when:%Y-%m-%d %H:%M} 早于评价时间 {rated_at:%Y-%m-%d %H:%M}",
                                f"the action time {when:%Y-%m-%d %H:%M} is before the rating ({rated_at:%Y-%m-%d %H:%M})")
        if latest is not None and when <= latest:
            if explicit:
                raise ActionRefused("bad_time", f"办理时间 {when:%Y-%m-%d %H:%M:%S} 不晚于已记录的最后一步（{latest:%Y-%m-%d %H:%M:%S}），"
                                    "闭环记录只能向后追加",
                                    f"the action time {when:%Y-%m-%d %H:%M:%S} is not after the latest recorded step "
                                    f"({latest:%Y-%m-%d %H:%M:%S}); the history only grows forward")
            when = latest + dt.timedelta(milliseconds=1)  # this machine's clock lags the recorded history
        settings = SupervisionSettings.load()
        derived = derive_states(rating, history, revisit_anonymous=settings.revisit_anonymous)
        status = LoopStatus.from_row(derived.row(0, named=True))
        check_action(status, action)
        followup_id = new_followup_id()
        _append(wh, {"followup_id": followup_id, "rating_id": rating_id, "action": action, "action_time": when,
                     "actor": actor, "reason_category": reason_category, "note": note}, source)
    return followup_id


def _append(wh: Warehouse, record: dict, source: str) -> None:
    """Append one follow-up through ingest, as the interchange record INTERCHANGE.md defines (one JSON line):
    the same checks, the same masking of ID-number- and phone-like digits in the note, and the id goes into
    the ingest ledger (``received_ids``), so a later resend of it is a duplicate (or, changed, a quarantined
    conflict) and never a second or replacing row."""
    line = json.dumps({"kind": "followup", **record,
                       "action_time": record["action_time"].isoformat(timespec="milliseconds")}, ensure_ascii=False)
    # Follow-ups carry no personal data; the loader still wants the current pseudonym key.
    summary = ingest_bytes(Loader(wh, key=ensure_key()), line.encode() + b"\n", source=source,
                           batch_id=record["followup_id"])
    if summary.accepted != 1:  # pragma: no cover - the checks above make this a bug, not a user error
        raise RuntimeError(f"follow-up {record['followup_id']} was not stored: {dict(summary.reasons)}")


def _serialised(wh: Warehouse):
    """One recorder at a time per warehouse on this machine (threads and processes alike: each holder opens
    the lock file anew), so a check and the append it allows are never interleaved with another."""
    digest = hashlib.sha1(wh.display_dsn.encode()).hexdigest()[:16]
    return job_lock(f"followup-{digest}")


def allowed_actions(status: LoopStatus) -> list[str]:
    """The actions the loop allows next on a rating (for the dashboard's buttons)."""
    allowed = []
    for action in FOLLOWUP_ACTIONS:
        try:
            check_action(status, action)
        except ActionRefused:
            continue
        allowed.append(action)
    return allowed


def history(wh: Warehouse, rating_id: str) -> pl.DataFrame:
    """Every follow-up of a rating in the loop's order (action time, follow-up id), with ``source`` and
    ``received_at`` (when the engine stored it). Raises :class:`ActionRefused` if the rating does not exist."""
    _rating(wh, rating_id)
    return followup_history(wh, rating_id)


def loop_status(wh: Warehouse, rating_id: str, as_of: dt.datetime | None = None,
                settings: SupervisionSettings | None = None) -> dict:
    """Where the loop of one rating stands as of ``as_of`` (default now): a dict with the rating's codes and
    level, ``state`` (+ ``state_zh``/``state_en``), ``next_step`` (+ labels), ``next_owner`` (dept/office),
    ``due_date``, ``overdue``, ``overdue_working_days``, ``working_days_left``, every step's due date
    (``verify_due`` …) and done time, the on-time marks, and ``allowed_actions``."""
    settings = settings or SupervisionSettings.load()
    rating = _rating(wh, rating_id)
    history_frame = followup_history(wh, rating_id).select(
        "followup_id", "rating_id", "action", "action_time", "actor", "reason_category", "note")
    as_of = store.instant(as_of)
    frame = loop_frame(rating, history_frame, load_calendar(wh), settings, as_of=max(as_of, rating["rated_at"][0]))
    row = frame.row(0, named=True)
    row["state_zh"], row["state_en"] = STATES[row["state"]]
    step = row.get("next_step")
    row["next_step_zh"], row["next_step_en"] = STEPS[step] if step else (None, None)
    row["allowed_actions"] = allowed_actions(LoopStatus.from_row(row))
    row["as_of"] = as_of
    return row
