"""Reading the metrics inputs from the warehouse and writing the derived tables back.

Every read of a raw table uses ``FINAL`` so that a record stored twice (e.g. across a crash) counts once.
Case sets are passed to ClickHouse as sub-queries (``case_id IN (SELECT …)``), never as long lists.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from hcp.workdays import WorkCalendar
from metrics.facts import EVENT_COLUMNS, FACT_SCHEMA
from metrics.indicators import COUNT_COLUMNS, INDICATOR_KEYS, Period
from warehouse.client import Warehouse

RATING_COLUMNS = ("rating_id", "case_id", "item_code", "dept_code", "region_code", "channel", "level",
                  "rated_at", "real_name", "default_rating")
FOLLOWUP_COLUMNS = ("followup_id", "rating_id", "action", "action_time", "actor", "reason_category", "note")


def load_calendar(wh: Warehouse) -> WorkCalendar:
    overrides = wh.query_df("SELECT locality_code, day, is_working, note FROM calendar_overrides FINAL")
    return WorkCalendar.from_frame(overrides)


def load_events(wh: Warehouse, case_filter: str | None = None, parameters: dict | None = None, *,
                where: str | None = None) -> pl.DataFrame:
    """Distinct lifecycle events, optionally of the cases selected by an SQL sub-query on case_id, or by a
    condition on the events' own columns."""
    conditions = ([f"case_id IN ({case_filter})"] if case_filter else []) + ([where] if where else [])
    clause = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    return wh.query_df(f"SELECT {', '.join(EVENT_COLUMNS)} FROM case_events FINAL {clause}", parameters)


def load_items(wh: Warehouse) -> pl.DataFrame:
    return wh.query_df(
        "SELECT item_code, item_name, dept_code, item_type, legal_limit_days, promised_limit_days, online_depth, "
        "max_trips, valid_from FROM items FINAL"
    )


def load_departments(wh: Warehouse) -> pl.DataFrame:
    return wh.query_df("SELECT dept_code, dept_name, region_code FROM departments FINAL")


def load_ratings(wh: Warehouse, where: str = "", parameters: dict | None = None) -> pl.DataFrame:
    clause = f"WHERE {where}" if where else ""
    return wh.query_df(f"SELECT {', '.join(RATING_COLUMNS)} FROM ratings FINAL {clause}", parameters)


def load_followups(wh: Warehouse, rating_filter: str | None = None, parameters: dict | None = None) -> pl.DataFrame:
    where = f"WHERE rating_id IN ({rating_filter})" if rating_filter else ""
    return wh.query_df(f"SELECT {', '.join(FOLLOWUP_COLUMNS)} FROM followups FINAL {where}", parameters)


def load_case_facts(wh: Warehouse, where: str = "", parameters: dict | None = None) -> pl.DataFrame:
    clause = f"WHERE {where}" if where else ""
    columns = ", ".join([*FACT_SCHEMA, "rating_count"])
    return wh.query_df(f"SELECT {columns} FROM case_facts FINAL {clause}", parameters)


def completed_in(period: Period) -> tuple[str, dict]:
    """SQL condition (and parameters) for case facts completed in a period."""
    return (
        "state = 'completed' AND completed_at >= {start:DateTime64(3, 'Asia/Shanghai')} "
        "AND completed_at < {end:DateTime64(3, 'Asia/Shanghai')}",
        {"start": dt.datetime.combine(period.start, dt.time()), "end": dt.datetime.combine(period.end, dt.time())},
    )


def rated_in(period: Period) -> tuple[str, dict]:
    return (
        "rated_at >= {start:DateTime64(3, 'Asia/Shanghai')} AND rated_at < {end:DateTime64(3, 'Asia/Shanghai')}",
        {"start": dt.datetime.combine(period.start, dt.time()), "end": dt.datetime.combine(period.end, dt.time())},
    )


def write_case_facts(wh: Warehouse, facts: pl.DataFrame, version: int) -> int:
    frame = facts.select([*FACT_SCHEMA, "rating_count"]).with_columns(
        version=pl.lit(version, dtype=pl.UInt64),
        result=pl.col("result").fill_null(""),
        channel=pl.col("channel").fill_null(""),
    )
    return wh.insert_df("case_facts", frame)


GROUP_METRIC_COLUMNS = ("group_code", "peer_group", *COUNT_COLUMNS, *[k for k in INDICATOR_KEYS if k not in COUNT_COLUMNS],
                        "composite_score", "rank_status", "rank", "peers", "bottom_two", "bottom_two_consecutive")


def write_group_metrics(wh: Warehouse, period: Period, grouping: str, scored: pl.DataFrame, run_id: int,
                        contribution_keys: list[str], watermark: dt.datetime) -> None:
    """Store one (period, grouping) result and make it the current run."""
    contributions = (
        pl.struct([pl.col(f"contrib_{k}").alias(k) for k in contribution_keys]).struct.json_encode()
        if contribution_keys else pl.lit("{}")
    )
    frame = scored.rename({"group": "group_code"}).with_columns(
        period=pl.lit(period.label),
        grouping=pl.lit(grouping),
        run_id=pl.lit(run_id, dtype=pl.UInt64),
        contributions=contributions,
    )
    columns = ["period", "grouping", *GROUP_METRIC_COLUMNS, "contributions", "run_id"]
    wh.insert_df("group_metrics", frame.select(columns))
    wh.insert_df("metric_runs", pl.DataFrame({
        "period": [period.label], "grouping": [grouping], "run_id": [run_id],
        "watermark": [watermark],
    }, schema={"period": pl.String, "grouping": pl.String, "run_id": pl.UInt64,
               "watermark": pl.Datetime("ms", "Asia/Shanghai")}))


def read_group_metrics(wh: Warehouse, period: str, grouping: str) -> pl.DataFrame:
    """The current stored result of one (period, grouping); empty if it was never computed."""
    return wh.query_df(
        "SELECT m.* EXCEPT (computed_at) FROM group_metrics AS m FINAL "
        "INNER JOIN (SELECT period, grouping, run_id FROM metric_runs FINAL "
        "            WHERE period = {p:String} AND grouping = {g:String}) AS r "
        "ON m.period = r.period AND m.grouping = r.grouping AND m.run_id = r.run_id "
        "ORDER BY m.group_code",
        {"p": period, "g": grouping},
    )


def _current_runs(grouping: str = "all") -> str:
    return (f"SELECT period, grouping, run_id FROM metric_runs FINAL WHERE grouping = '{grouping}'")


def stored_periods(wh: Warehouse) -> list[str]:
    """The months whose current stored result has data: a completed (consistent) case or a counted rating.
    A retired month (see :func:`retire_periods`) and a month of nothing are not periods."""
    return [r[0] for r in wh.query_rows(
        "SELECT DISTINCT m.period FROM group_metrics AS m FINAL "
        f"INNER JOIN ({_current_runs()}) AS r ON m.period = r.period AND m.grouping = r.grouping "
        "AND m.run_id = r.run_id WHERE m.cases_completed > 0 OR m.ratings > 0 ORDER BY m.period")]


def retire_periods(wh: Warehouse, labels: list[str], groupings: tuple[str, ...], run_id: int,
                   watermark: dt.datetime) -> None:
    """Make the current run of each (month, grouping) an empty one: a month a full run found no data for
    (e.g. one only an inconsistent case had created) stops being a period. Append-only, like every write."""
    if not labels:
        return
    pairs = [(label, grouping) for label in labels for grouping in groupings]
    wh.insert_df("metric_runs", pl.DataFrame({
        "period": [p for p, _ in pairs], "grouping": [g for _, g in pairs], "run_id": [run_id] * len(pairs),
        "watermark": [watermark] * len(pairs),
    }, schema={"period": pl.String, "grouping": pl.String, "run_id": pl.UInt64,
               "watermark": pl.Datetime("ms", "Asia/Shanghai")}))


def due_judged_on(wh: Warehouse) -> dt.date | None:
    """The day the latest metrics run judged rectification due-ness on: every stored ``bad_due`` /
    ``bad_overdue_unrectified`` / ``bad_in_progress`` is as of that day (each run recomputes every month
    whose due-ness moved since the run before). None before any run."""
    judged = get_state(wh, "due_judged_on")
    if judged:
        return dt.date.fromisoformat(judged)
    started = get_state(wh, "run_started")  # a warehouse computed before the day was kept apart
    return dt.datetime.fromisoformat(started).date() if started else None


def get_state(wh: Warehouse, key: str) -> str | None:
    return wh.query_value("SELECT value FROM metrics_state FINAL WHERE key = {k:String}", {"k": key})


def set_state(wh: Warehouse, key: str, value: str) -> None:
    wh.command("INSERT INTO metrics_state (key, value) VALUES ({k:String}, {v:String})", {"k": key, "v": value})
