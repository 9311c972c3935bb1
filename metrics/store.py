"""Reading the metrics inputs from the warehouse and writing the derived tables back.

Every read of a raw table uses ``FINAL`` so that a record stored twice (e.g. across a crash) counts once.
Case sets are passed to ClickHouse as sub-queries (``case_id IN (SELECT …)``), never as long lists.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from hcp.workdays import WorkCalendar
from metrics.facts import EVENT_COLUMNS, FACT_SCHEMA, STOP_EVENT_TYPES
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


def load_first_events(wh: Warehouse, where: str, parameters: dict | None = None) -> pl.DataFrame:
    """:func:`metrics.facts.first_events` computed in ClickHouse, for the cases whose distinct events an SQL
    condition selects: "first" is the earliest by (event time, event id), as there."""
    order = "(event_time, event_id)"
    first = lambda kind: f"minIfOrNull(event_time, event_type = '{kind}')"  # noqa: E731
    # The earliest event's three codes from one argMin (one comparison of the order per event, not three).
    return wh.query_df(
        "SELECT * EXCEPT (codes), tupleElement(codes, 1) AS item_code, tupleElement(codes, 2) AS dept_code, "
        "tupleElement(codes, 3) AS region_code FROM ("
        f"SELECT case_id, {first('submitted')} AS submitted_at, {first('accepted')} AS accepted_at, "
        f"{first('completed')} AS completed_at_raw, {first('rejected')} AS rejected_at, "
        f"{first('withdrawn')} AS withdrawn_at, "
        f"argMinIfOrNull(toString(channel), {order}, event_type = 'submitted') AS channel, "
        f"argMinIfOrNull(toString(result), {order}, event_type = 'completed') AS result, "
        f"argMin((toString(item_code), toString(dept_code), toString(region_code)), {order}) AS codes, "
        f"toUInt32(countIf(onsite)) AS trips "
        f"FROM case_events FINAL WHERE {where} GROUP BY case_id)", parameters)


def load_stop_events(wh: Warehouse, where: str, parameters: dict | None = None) -> pl.DataFrame:
    """The distinct clock-stop events (:data:`metrics.facts.STOP_EVENT_TYPES`) of the selected cases."""
    kinds = ", ".join(f"'{kind}'" for kind in STOP_EVENT_TYPES)
    return wh.query_df(f"SELECT case_id, toString(event_type) AS event_type, event_time FROM case_events FINAL "
                       f"WHERE event_type IN ({kinds}) AND ({where})", parameters)


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


def load_case_facts(wh: Warehouse, where: str = "", parameters: dict | None = None,
                    columns: tuple[str, ...] | None = None) -> pl.DataFrame:
    """Stored case facts (every column, or only ``columns``) of the cases an SQL condition selects."""
    clause = f"WHERE {where}" if where else ""
    names = ", ".join(columns or [*FACT_SCHEMA, "rating_count"])
    return wh.query_df(f"SELECT {names} FROM case_facts FINAL {clause}", parameters)


def in_bucket(column: str, buckets: int, bucket: int) -> str:
    """SQL condition: the row's ``column`` hashes into bucket ``bucket`` of ``buckets`` (a fixed split of
    the cases, or ratings, into parts of bounded size)."""
    return f"cityHash64({column}) % {int(buckets)} = {int(bucket)}" if buckets > 1 else "1"


#: The raw tables an incremental run looks for arrivals in, with the key that identifies a row.
ARRIVAL_KEYS = {"case_events": "event_id", "ratings": "rating_id", "followups": "followup_id",
                "items": "item_code, valid_from"}


def arrivals_digest(wh: Warehouse, after: str, upto: str) -> str:
    """A digest of every stored row (every physical copy) that arrived in (``after``, ``upto``]: equal
    digests taken at two moments mean no row of that interval became visible in between."""
    interval = ("received_at > {a:DateTime64(3, 'Asia/Shanghai')} "
                "AND received_at <= {b:DateTime64(3, 'Asia/Shanghai')}")
    parts = " UNION ALL ".join(
        f"SELECT '{table}' AS t, count() AS n, groupBitXor(cityHash64({key}, received_at)) AS h "
        f"FROM {table} WHERE {interval}" for table, key in ARRIVAL_KEYS.items())
    rows = sorted(wh.query_rows(parts, {"a": after, "b": upto}))
    return ";".join(f"{t}:{n}:{h}" for t, n, h in rows)


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
    return write_case_facts_to(wh, "case_facts", facts, version)


def write_case_facts_to(wh: Warehouse, table: str, facts: pl.DataFrame, version: int) -> int:
    """Insert case facts (with ``rating_count``) as rows of ``version`` into ``table`` (``case_facts``, or a
    copy of it: the benchmark's floor writes the same rows into a scratch table)."""
    frame = facts.select([*FACT_SCHEMA, "rating_count"]).with_columns(
        version=pl.lit(version, dtype=pl.UInt64),
        result=pl.col("result").fill_null(""),
        channel=pl.col("channel").fill_null(""),
    )
    # In the table's order (ORDER BY case_id): ClickHouse sorts an unsorted block itself, at about twice
    # the cost of the whole insert.
    return wh.insert_df(table, frame.sort("case_id"))


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
