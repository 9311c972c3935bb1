"""What other packages ask of the metrics engine: group names, the JSON records of `hcp metrics`,
red/yellow flags as of an instant, and parsing an as-of instant. The CLI is one of its users.
"""

from __future__ import annotations

import datetime as dt
import json
import math

import polars as pl

from metrics.indicators import COUNT_COLUMNS, INDICATOR_KEYS
from warehouse.client import SHANGHAI


class InstantError(ValueError):
    """An as-of instant that is not ISO 8601."""


def group_names(wh, grouping: str) -> dict[str, str]:
    """Display names of a grouping's units: department, item (latest version) or region names."""
    if grouping == "dept":
        return dict(wh.query_rows("SELECT dept_code, dept_name FROM departments FINAL"))
    if grouping == "item":
        return dict(wh.query_rows("SELECT item_code, argMax(item_name, valid_from) FROM items FINAL GROUP BY item_code"))
    if grouping.startswith("region:"):
        return dict(wh.query_rows("SELECT region_code, region_name FROM regions FINAL"))
    return {"all": "全部"}


def _clean(value):
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


def metrics_records(frame: pl.DataFrame, names: dict[str, str]) -> list[dict]:
    """Rows of a group-metrics frame as the JSON contract's objects."""
    records = []
    group_col = "group_code" if "group_code" in frame.columns else "group"
    for row in frame.iter_rows(named=True):
        record = {"group": row[group_col], "name": names.get(row[group_col], "")}
        for key in INDICATOR_KEYS:
            record[key] = _clean(row[key])
        record["composite_score"] = _clean(row["composite_score"])
        record["rank"] = row["rank"]
        record["peer_group"] = row["peer_group"]
        record["peers"] = row["peers"]
        record["bottom_two"] = bool(row["bottom_two"])
        record["bottom_two_consecutive"] = bool(row["bottom_two_consecutive"])
        if "contributions" in row and isinstance(row["contributions"], str):
            record["contributions"] = json.loads(row["contributions"])
        else:
            record["contributions"] = {k[len("contrib_"):]: _clean(v) for k, v in row.items() if k.startswith("contrib_")}
        record["counts"] = {c: row[c] for c in COUNT_COLUMNS}
        records.append(record)
    return records


def parse_instant(text: str) -> dt.datetime:
    """ISO 8601; without an offset the time is Asia/Shanghai; a bare date means its end (23:59:59.999)."""
    try:
        if len(text) == 10:
            return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(23, 59, 59, 999000), SHANGHAI)
        value = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise InstantError(f"{text!r} is not an ISO 8601 instant") from exc
    return value.replace(tzinfo=SHANGHAI) if value.tzinfo is None else value.astimezone(SHANGHAI)


def flags_as_of(wh, as_of: dt.datetime, warning_days: int) -> pl.DataFrame:
    """Red and yellow open cases as of an instant, from the events known up to it."""
    from metrics import store
    from metrics.facts import case_facts
    from metrics.flags import case_flags

    t = "{t:DateTime64(3, 'Asia/Shanghai')}"
    candidates = f"SELECT case_id FROM case_facts FINAL WHERE accepted_at <= {t} AND (terminal_at IS NULL OR terminal_at > {t})"
    events = store.load_events(wh, candidates, {"t": as_of})
    calendar = store.load_calendar(wh)
    facts = case_facts(events, store.load_items(wh), calendar, as_of=as_of)
    return case_flags(facts, as_of, calendar, warning_days=warning_days)
