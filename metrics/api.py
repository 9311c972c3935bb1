"""What other packages ask of the metrics engine: group names, the JSON records of `hcp metrics`,
red/yellow flags as of an instant, and parsing an as-of instant. The CLI is one of its users.
"""

from __future__ import annotations

import datetime as dt
import json
import math

import polars as pl

from hcp.workdays import CALENDAR_END, CALENDAR_START
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
        record["rank_status"] = row.get("rank_status") or ("ranked" if row["rank"] is not None else "no_data")
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
    """ISO 8601; without an offset the time is Asia/Shanghai; a bare date means its end (23:59:59.999).
    The instant must lie within the working-day calendar's years (red and yellow need the calendar)."""
    try:
        if len(text) == 10:
            value = dt.datetime.combine(dt.date.fromisoformat(text), dt.time(23, 59, 59, 999000), SHANGHAI)
        else:
            value = dt.datetime.fromisoformat(text)
            value = value.replace(tzinfo=SHANGHAI) if value.tzinfo is None else value.astimezone(SHANGHAI)
    except OverflowError:
        value = None  # a valid instant at the edge of time (year 1 or 9999): outside the calendar anyway
    except ValueError as exc:
        raise InstantError(f"{text!r} is not an ISO 8601 instant") from exc
    if value is None or not CALENDAR_START <= value.date() <= CALENDAR_END:
        raise InstantError(f"{text!r} lies outside the working-day calendar "
                           f"({CALENDAR_START:%Y-%m-%d} … {CALENDAR_END:%Y-%m-%d})")
    return value


_T = "{t:DateTime64(3, 'Asia/Shanghai')}"


def yellow_horizon(calendar, day: dt.date, warning_days: int) -> dt.date:
    """The first day on which a deadline is too far ahead to be yellow on ``day``, in every locality."""
    bounds = []
    for locality in calendar.localities:
        try:
            bounds.append(calendar.add_working_days(day, warning_days + 1, locality))
        except ValueError:
            bounds.append(calendar.end)
    return max(bounds)


def stored_facts_current(wh, as_of: dt.datetime) -> bool:
    """True when the stored case facts are the facts as of ``as_of``: no known event lies after the
    instant, and the last metrics run started after every event, catalogue entry and calendar override
    had arrived."""
    from metrics import store

    started = store.get_state(wh, "run_started")
    if started is None:
        return False
    latest_event, latest_arrival = wh.query_rows(
        "SELECT (SELECT max(event_time) FROM case_events), "
        "greatest((SELECT max(received_at) FROM case_events), (SELECT max(received_at) FROM items), "
        "         (SELECT max(received_at) FROM calendar_overrides))"
    )[0]
    started_at = dt.datetime.fromisoformat(started)
    return (latest_event is None or latest_event <= as_of) and (latest_arrival is None or latest_arrival < started_at)


def flags_as_of(wh, as_of: dt.datetime, warning_days: int, *, where: str = "", parameters: dict | None = None,
                calendar=None) -> pl.DataFrame:
    """Red and yellow open cases as of an instant, from the events known up to it.

    ``where`` narrows the candidates with an SQL condition on ``case_facts`` columns (a user's scope, a
    filter), applied in the query. The candidates are the cases accepted by the instant and not ended by
    it; their facts are recomputed as of the instant from their events. When the stored facts already are
    the facts as of the instant (:func:`stored_facts_current`: the usual "now"), they are flagged
    directly, skipping every case whose deadline is pending (an open clock stop that applies moves the
    deadline past the instant: neither red nor yellow) or beyond the yellow horizon.
    """
    from metrics import store
    from metrics.facts import FACT_SCHEMA, case_facts
    from metrics.flags import case_flags

    calendar = calendar or store.load_calendar(wh)
    params = {**(parameters or {}), "t": as_of}
    candidates = f"accepted_at <= {_T} AND (terminal_at IS NULL OR terminal_at > {_T})" + (f" AND ({where})" if where else "")
    if stored_facts_current(wh, as_of):
        params["horizon"] = yellow_horizon(calendar, as_of.date(), warning_days)
        facts = store.load_case_facts(wh, candidates + " AND deadline IS NOT NULL AND deadline < {horizon:Date}", params)
    else:
        events = store.load_events(wh, f"SELECT case_id FROM case_facts FINAL WHERE {candidates}", params)
        facts = (case_facts(events, store.load_items(wh), calendar, as_of=as_of) if events.height
                 else pl.DataFrame(schema=FACT_SCHEMA))
    return case_flags(facts, as_of, calendar, warning_days=warning_days)
