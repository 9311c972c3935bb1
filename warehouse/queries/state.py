"""Bookkeeping: the metrics job's state (``metrics_state``), what arrived when (``received_at`` of the raw
tables), the ingest ledger, quarantine, tokens and reference history.
"""

from __future__ import annotations

import datetime as dt

from warehouse.client import Warehouse
from warehouse.queries.sql import ts_param
from typing import NamedTuple
from warehouse.client import SHANGHAI


# Serving the metrics job: its state --------------------------------------------------------------------
def get_state(wh: Warehouse, key: str) -> str | None:
    return wh.query_value("SELECT value FROM metrics_state FINAL WHERE key = {k:String}", {"k": key})


def set_state(wh: Warehouse, key: str, value: str) -> None:
    wh.command("INSERT INTO metrics_state (key, value) VALUES ({k:String}, {v:String})", {"k": key, "v": value})


def due_judged_on(wh: Warehouse) -> dt.date | None:
    """The day the latest metrics run judged rectification due-ness on: every stored ``bad_due`` /
    ``bad_overdue_unrectified`` / ``bad_in_progress`` is as of that day (each run recomputes every month
    whose due-ness moved since the run before). None before any run."""
    judged = get_state(wh, "due_judged_on")
    if judged:
        return dt.date.fromisoformat(judged)
    started = get_state(wh, "run_started")  # a warehouse computed before the day was kept apart
    return dt.datetime.fromisoformat(started).date() if started else None


#: The raw tables an incremental run looks for arrivals in, with the key that identifies a row.
ARRIVAL_KEYS = {"case_events": "event_id", "ratings": "rating_id", "followups": "followup_id",
                "items": "item_code, valid_from"}


def arrivals_digest(wh: Warehouse, after: str, upto: str) -> str:
    """A digest of every stored row (every physical copy) that arrived in (``after``, ``upto``]: equal
    digests taken at two moments mean no row of that interval became visible in between."""
    interval = f"received_at > {ts_param('a')} AND received_at <= {ts_param('b')}"
    parts = " UNION ALL ".join(
        f"SELECT '{table}' AS t, count() AS n, groupBitXor(cityHash64({key}, received_at)) AS h "
        f"FROM {table} WHERE {interval}" for table, key in ARRIVAL_KEYS.items())
    rows = sorted(wh.query_rows(parts, {"a": after, "b": upto}))
    return ";".join(f"{t}:{n}:{h}" for t, n, h in rows)


# What the stored data is as of (dashboard/ cache, reports/ data version) --------------------------------
#: Raw tables whose newest ``received_at`` is the data watermark.
RAW_TABLES = ("regions", "departments", "items", "calendar_overrides", "case_events", "ratings", "followups", "urges")


class DataStamp(NamedTuple):
    """What the stored data is as of: ``watermark`` — the newest ``received_at`` over the raw tables
    (``YYYY-MM-DD hh:mm:ss.fff``, Asia/Shanghai; None for an empty warehouse) —, the latest metrics run and
    the newest case-facts version. Equal stamps: nothing a page or a bulletin reads has changed."""

    watermark: str | None
    metrics_run: str
    facts_version: str


def data_stamp(wh: Warehouse) -> DataStamp:
    """The :class:`DataStamp` of the warehouse, in one query."""
    parts = " UNION ALL ".join(f"SELECT max(received_at) AS t, count() AS n FROM {t}" for t in RAW_TABLES)
    watermark, run, version = wh.query_rows(
        f"SELECT (SELECT maxIf(t, n > 0) FROM ({parts})), (SELECT max(run_id) FROM metric_runs), "
        "(SELECT max(version) FROM case_facts)")[0]
    if watermark is None or (isinstance(watermark, dt.datetime) and watermark.year <= 1970):
        text = None
    else:
        text = watermark.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return DataStamp(text, str(run), str(version))


# Serving `hcp admin status`: how many rows each table holds ------------------------------------------------
def table_row_counts(wh: Warehouse, names: list[str]) -> dict[str, int]:
    """Rows of each named table that exists (``system.tables``; a missing table has no entry)."""
    return dict(wh.query_rows(
        "SELECT name, total_rows FROM system.tables WHERE database = currentDatabase() AND name IN {n:Array(String)}",
        {"n": list(names)},
    ))
