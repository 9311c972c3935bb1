"""Tiny builders for hand-worked test scenarios (events, items, ratings, follow-ups as Polars frames)."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import polars as pl

SH = ZoneInfo("Asia/Shanghai")
_ids = itertools.count(1)
TS = pl.Datetime("ms", "Asia/Shanghai")


def at(text: str) -> dt.datetime:
    """'2025-10-09 10:00' (or just a date) → an aware Shanghai datetime."""
    if len(text) == 10:
        text += " 10:00"
    return dt.datetime.fromisoformat(text).replace(tzinfo=SH)


def event(case_id: str, event_type: str, when: str, *, item="ITEM5", dept="D1", region="370202000000",
          channel="", onsite=False, result="", event_id: str | None = None) -> dict:
    if event_type == "submitted" and not channel:
        channel = "hall"
    if event_type == "completed" and not result:
        result = "approved"
    return {
        "event_id": event_id or f"ev{next(_ids)}", "case_id": case_id, "event_type": event_type,
        "event_time": at(when), "item_code": item, "dept_code": dept, "region_code": region,
        "channel": channel, "onsite": onsite, "result": result,
    }


def lifecycle(case_id: str, accepted: str, *, completed: str | None = None, item="ITEM5", **kw) -> list[dict]:
    """submitted + accepted on the same day, optionally completed."""
    rows = [event(case_id, "submitted", accepted[:10] + " 09:00", item=item, **kw),
            event(case_id, "accepted", accepted if len(accepted) > 10 else accepted + " 09:30", item=item, **kw)]
    if completed:
        rows.append(event(case_id, "completed", completed, item=item, **kw))
    return rows


def events_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={
        "event_id": pl.String, "case_id": pl.String, "event_type": pl.String, "event_time": TS,
        "item_code": pl.String, "dept_code": pl.String, "region_code": pl.String, "channel": pl.String,
        "onsite": pl.Boolean, "result": pl.String,
    })


def items_frame(limits: dict[str, int | tuple], valid_from: str = "2020-01-01") -> pl.DataFrame:
    """item_code → promised limit, or → (promised, legal, depth, max_trips, dept, valid_from)."""
    rows = []
    for code, spec in limits.items():
        promised, legal, depth, trips, dept, since = (spec if isinstance(spec, tuple) else (spec, max(spec * 2, 0), 4, 0, "D1", valid_from))
        rows.append({"item_code": code, "item_name": code, "dept_code": dept, "item_type": "行政许可",
                     "legal_limit_days": legal, "promised_limit_days": promised, "online_depth": depth,
                     "max_trips": trips, "valid_from": dt.date.fromisoformat(since)})
    return pl.DataFrame(rows)


def rating(rating_id: str, case_id: str, level: int, when: str, *, dept="D1", region="370202000000", item="ITEM5",
           channel="pc", real_name=False, default=False) -> dict:
    return {"rating_id": rating_id, "case_id": case_id, "item_code": item, "dept_code": dept,
            "region_code": region, "channel": channel, "level": level, "rated_at": at(when),
            "real_name": real_name, "default_rating": default}


def ratings_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={
        "rating_id": pl.String, "case_id": pl.String, "item_code": pl.String, "dept_code": pl.String,
        "region_code": pl.String, "channel": pl.String, "level": pl.UInt8, "rated_at": TS,
        "real_name": pl.Boolean, "default_rating": pl.Boolean,
    })


def followup(rating_id: str, action: str, when: str, *, actor="staff-1", reason="") -> dict:
    return {"followup_id": f"fu{next(_ids)}", "rating_id": rating_id, "action": action,
            "action_time": at(when), "actor": actor, "reason_category": reason, "note": ""}


def followups_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={
        "followup_id": pl.String, "rating_id": pl.String, "action": pl.String, "action_time": TS,
        "actor": pl.String, "reason_category": pl.String, "note": pl.String,
    })
