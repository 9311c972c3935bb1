"""Case facts (the derived table ``case_facts``, one row per case as the metrics job last computed it), read
deduplicated (``FINAL``: the newest version of each case).

A selection is a :class:`~warehouse.queries.sql.Where` (or an SQL condition with its parameters) on the
facts' own columns.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Any

import polars as pl

from warehouse.client import Warehouse
from warehouse.migrations import current_tables
from warehouse.schema import delete_statement
from warehouse.queries.sql import TS, Where, as_where, final, final_settings, in_list, key_prewhere, ts_param
from hcp.domain import REGION_PREFIX
from warehouse.queries.reference import items_of_type


@cache
def fact_columns() -> tuple[str, ...]:
    """The stored columns of a case's facts (with ``rating_count``; without the row's version and stamp)."""
    return tuple(c for c in current_tables()["case_facts"].column_names if c not in ("version", "computed_at"))


# Serving the metrics job, the pages and the models: facts of a selection of cases ---------------------------
def load_case_facts(wh: Warehouse, where: Where | str | None = None, parameters: dict | None = None,
                    columns: tuple[str, ...] | None = None, *, on_case_id_only: bool = False) -> pl.DataFrame:
    """Stored case facts (every column, or only ``columns``) of the cases a condition selects.

    ``on_case_id_only``: the condition tests nothing but ``case_id`` (the table's key, which every version of a
    case's facts shares), so rows are selected before the versions are collapsed — only the selected cases'
    versions are merged (an incremental run's scattered cases read while a full run's versions still wait
    for a background merge: 0.66 s otherwise)."""
    selection = as_where(where, parameters)
    clause = f" WHERE {selection.sql()}" if selection.conditions else ""
    names = ", ".join(columns or fact_columns())
    settings = final_settings(on_case_id_only and bool(clause))
    return wh.query_df(f"SELECT {names} FROM {final('case_facts')}{clause}{settings}", selection.params)


def load_few_case_facts(wh: Warehouse, selection: Where, columns: tuple[str, ...] | None = None) -> pl.DataFrame:
    """:func:`load_case_facts` for a selection of few cases among many (an office's open red and yellow cases):
    their ids first (deduplicated, reading only the columns the condition tests), then their rows by the key,
    which every version of a case's facts shares. The same rows; at 10 M cases a city's 3,709 candidate cards
    1.05 → 0.48 s — and no faster for the province's 42,221 (2.1 s), so kept for the few."""
    names = ", ".join(columns or fact_columns())
    return wh.query_df(f"SELECT {names} FROM {final('case_facts')}{key_prewhere('case_id', case_ids_sql(selection))}",
                       selection.params)


def count_case_facts(wh: Warehouse, where: Where) -> int:
    """How many stored rows of case facts a selection holds (a size, for splitting the work into buckets)."""
    return int(wh.query_value(f"SELECT count() FROM case_facts WHERE {where.sql()}", where.params) or 0)


def completed_in(period: Any) -> tuple[str, dict]:
    """SQL condition (and parameters) for case facts completed in a period (anything with ``start`` and
    ``end`` dates)."""
    return (
        f"state = 'completed' AND completed_at >= {ts_param('start')} AND completed_at < {ts_param('end')}",
        {"start": dt.datetime.combine(period.start, dt.time()), "end": dt.datetime.combine(period.end, dt.time())},
    )


def completed_in_months(firsts: list[dt.date]) -> Where:
    """Cases completed in any of the months that start on ``firsts``."""
    return Where("state = 'completed' AND has({m:Array(Date)}, toStartOfMonth(completed_at))", {"m": list(firsts)})


def write_case_facts(wh: Warehouse, facts: pl.DataFrame, version: int) -> int:
    return write_case_facts_to(wh, "case_facts", facts, version)


def write_case_facts_to(wh: Warehouse, table: str, facts: pl.DataFrame, version: int) -> int:
    """Insert case facts (with ``rating_count``) as rows of ``version`` into ``table`` (``case_facts``, or a
    copy of it: the benchmark's floor writes the same rows into a scratch table)."""
    frame = facts.select(fact_columns()).with_columns(
        version=pl.lit(version, dtype=pl.UInt64),
        result=pl.col("result").fill_null(""),
        channel=pl.col("channel").fill_null(""),
    )
    # A batch holds one row per case, so the insert-time collapse of rows of the same key (optimize_on_insert)
    # has nothing to do but cost about 40 % of the insert: off (reads use FINAL whatever the parts hold).
    # ClickHouse then sorts the block by case_id for about a quarter of Polars' cost of sorting it first
    # (measured on a bucket of the 1 M-case bench: 0.07 s of CPU against 0.30 s).
    return wh.insert_df(table, frame, settings={"optimize_on_insert": 0})


def drop_superseded_facts(wh: Warehouse, run_id: int, within: Where | None = None) -> None:
    """Delete the stored case facts that run ``run_id`` superseded: every row older than the run among the
    cases it recomputed (every case for a full run; a partial run's cities, ``within``).

    A full run writes a new version of every case, so each earlier version left in the table is a copy that
    every ``FINAL`` read has to merge away again — and background merges leave large parts of the same size
    apart for a long time. At 10 M cases, after three full runs and an incremental one, the table held 35.5 M
    rows; reading an office's open cases took 2.5 s and a month's completed cases 1.9 s, against 0.7 s and
    0.5 s once the superseded 25 M rows were deleted (4.2 s of deleting). Called once the run's own rows are
    all written: a run stopped before it keeps the older rows, which are only slower to read, never wrong."""
    selection = as_where(within).add("version < {run:UInt64}", run=run_id)
    engine = wh.query_value("SELECT engine_full FROM system.tables WHERE database = currentDatabase() "
                            "AND name = 'case_facts'")
    wh.command(delete_statement("case_facts", selection.sql(), str(engine)), selection.params)


# Serving the data-quality list (metrics.quality): inconsistent and untimed cases -----------------------------
def _period_bounds(period: Any, params: dict) -> None:
    params.update(q_start=dt.datetime.combine(period.start, dt.time()), q_end=dt.datetime.combine(period.end, dt.time()))


def inconsistent_case_rows(wh: Warehouse, period: Any = None, *, where: Where | str | None = None,
                           parameters: dict | None = None) -> pl.DataFrame:
    """The inconsistent cases with a milestone (submission, acceptance, completion) in the period, narrowed by
    a condition on ``case_facts`` columns, ordered by department, then case."""
    selection = as_where(where, parameters)
    conditions = ["inconsistent"]
    if period is not None:
        _period_bounds(period, selection.params)
        conditions.append(" OR ".join(f"({c} >= {{q_start:{TS}}} AND {c} < {{q_end:{TS}}})"
                                      for c in ("submitted_at", "accepted_at", "completed_at")))
    conditions += selection.conditions
    clause = " AND ".join(f"({c})" for c in conditions)
    return wh.query_df(
        "SELECT case_id, dept_code, item_code, region_code, submitted_at, accepted_at, completed_at "
        f"FROM {final('case_facts')} WHERE {clause} ORDER BY dept_code, case_id", selection.params)


def untimed_case_rows(wh: Warehouse, columns: tuple[str, ...], period: Any = None, *,
                      where: Where | str | None = None, parameters: dict | None = None) -> pl.DataFrame:
    """The consistent completed cases with no deadline (``on_time`` null: item not in the catalogue) completed
    in the period, narrowed by a condition on ``case_facts`` columns, ordered by department, then case."""
    selection = as_where(where, parameters)
    conditions = ["state = 'completed'", "NOT inconsistent", "on_time IS NULL"]
    if period is not None:
        _period_bounds(period, selection.params)
        conditions.append(f"completed_at >= {{q_start:{TS}}} AND completed_at < {{q_end:{TS}}}")
    conditions += selection.conditions
    clause = " AND ".join(f"({c})" for c in conditions)
    return wh.query_df(f"SELECT {', '.join(columns)} FROM {final('case_facts')} WHERE {clause} "
                       "ORDER BY dept_code, case_id", selection.params)


# Case facts for the dashboard and the bulletins (dashboard/, reports/, supervision/) ----------------------
def case_filter(where: Where, *, item_type: str = "", channel: str = "", alias: str = "") -> Where:
    """Cases of an item type (by the case's item) and/or a submission channel ('' = any), added to ``where``."""
    p = f"{alias}." if alias else ""
    if item_type:
        where.add(f"{p}item_code IN ({items_of_type()})", f_type=item_type)
    if channel:
        where.add(f"{p}channel = {{f_channel:String}}", f_channel=channel)
    return where


def cases_of(where: Where) -> str:
    """Sub-query: the ids of the case facts ``where`` selects (bind ``where.params`` with it)."""
    return f"SELECT case_id FROM {final('case_facts')} WHERE {where.sql()}"


def case_channels(wh: Warehouse) -> list[str]:
    return [r[0] for r in wh.query_rows(
        f"SELECT DISTINCT channel FROM {final('case_facts')} WHERE channel != '' ORDER BY channel")]


def of_case(where: Where, case_id: str) -> Where:
    """One case (bound as ``case``), added to ``where``."""
    return where.add("case_id = {case:String}", case=case_id)


def listed_cases(wh: Warehouse, where: Where, period: Any, columns: tuple[str, ...], *, item: str | None = None,
                 overdue_only: bool = False, limit: int = 1000) -> pl.DataFrame:
    """``columns`` of the cases of ``where`` (optionally of one item) completed in the period — only those
    completed late with ``overdue_only``, latest first — else together with the cases still open that were
    accepted by the period's end, open ones and the newest acceptances first; at most ``limit``."""
    where = as_where(where)
    done, bounds = completed_in(period)
    if overdue_only:
        where.add(f"{done} AND on_time = false", bounds)
    else:
        where.add(f"({done}) OR (state = 'accepted' AND accepted_at < {ts_param('end')})", bounds)
    if item:
        where.add("item_code = {item:String}", item=item)
    order = "overdue_days DESC, completed_at" if overdue_only else "state = 'completed', accepted_at DESC"
    return wh.query_df(f"SELECT {', '.join(columns)} FROM {final('case_facts')} WHERE {where.sql()} "
                       f"ORDER BY {order}, case_id LIMIT {{lim:UInt32}}", {**where.params, "lim": limit})


def completed_count(wh: Warehouse, where: Where, period: Any, *, overdue_only: bool = False) -> int:
    """How many cases of ``where`` were completed in the period (only those completed late: ``overdue_only``)."""
    where = as_where(where).add(*completed_in(period))
    if overdue_only:
        where.add("on_time = false")
    return int(wh.query_value(f"SELECT count() FROM {final('case_facts')} WHERE {where.sql()}", where.params) or 0)


def overdue_completed(period: Any, where: Where | None = None) -> Where:
    """Consistent cases completed late in the period, added to ``where``."""
    where = where if where is not None else Where()
    return where.add(*completed_in(period)).add("on_time = false AND NOT inconsistent")


def case_ids_among(wh: Warehouse, where: Where, case_ids: list[str]) -> pl.DataFrame:
    """``case_id`` of those of ``case_ids`` whose facts ``where`` selects."""
    return wh.query_df(f"SELECT case_id FROM {final('case_facts')} WHERE {where.sql()} "
                       f"AND {in_list('case_id', 'ids')}", {**where.params, "ids": case_ids})


#: The prefix width of a region code's own level (as :func:`metrics.indicators.region_level_width`), in SQL.
LEVEL_WIDTH_SQL = ("multiIf(substring(region_code, 3) = '0000000000', 2, substring(region_code, 5) = '00000000', 4, "
                   "substring(region_code, 7) = '000000', 6, substring(region_code, 10) = '000', 9, 12)")


def group_sql(grouping: str, own_widths: tuple[int, ...] = (2, 4)) -> tuple[str, str]:
    """The group code of a row under a grouping, in SQL, and the condition for the row to be in a group at all
    (as :func:`metrics.indicators.group_expr`: a grouping at a level holds only regions of that level — a
    higher government's own work is in no lower group; ``region:own`` is the 本级 of the levels of
    ``own_widths``, provinces and cities)."""
    if grouping == "all":
        return "'all'", "1"
    if grouping == "dept":
        return "dept_code", "1"
    if grouping == "item":
        return "item_code", "1"
    level = grouping.split(":")[1]
    if level == "own":
        return "region_code", f"{LEVEL_WIDTH_SQL} IN ({', '.join(str(w) for w in own_widths)})"
    width = REGION_PREFIX[level]
    return f"rightPad(substring(region_code, 1, {width}), 12, '0')", f"{LEVEL_WIDTH_SQL} >= {width}"


def completed_cases_since(wh: Warehouse, where: Where) -> pl.DataFrame:
    """``case_id, dept_code, region_code, item_code, completed_at`` of the case facts ``where`` selects."""
    return wh.query_df("SELECT case_id, dept_code, region_code, item_code, completed_at "
                       f"FROM {final('case_facts')} WHERE case_id IN ({cases_of(where)})", where.params)


# Serving the red and yellow cards (metrics.flags): the cases open at an instant ---------------------------
def open_at(as_of: dt.datetime, where: str = "", parameters: dict | None = None, *,
            deadline_before: dt.date | None = None) -> Where:
    """The cases open at ``as_of`` (on ``case_facts`` columns): accepted by the instant and not ended
    (completed, rejected, withdrawn) by it, narrowed by ``where`` (a reader's scope, a filter) and, with
    ``deadline_before``, to those with a deadline before that day."""
    t = ts_param("t")
    selection = Where(f"accepted_at <= {t} AND (terminal_at IS NULL OR terminal_at > {t})", {**(parameters or {}), "t": as_of})
    if where:
        selection.add(where)
    if deadline_before is not None:
        selection.add("deadline IS NOT NULL AND deadline < {horizon:Date}", horizon=deadline_before)
    return selection


def case_ids_sql(selection: Where) -> str:
    """A sub-query of the case ids ``case_facts`` selects (its parameters are ``selection.params``)."""
    return f"SELECT case_id FROM {final('case_facts')} WHERE {selection.sql()}"


def latest_event_and_arrivals(wh: Warehouse) -> tuple[dt.datetime | None, dt.datetime | None, dt.datetime | None]:
    """What decides whether the stored facts are current, in one query: the latest event time known, the latest
    arrival (``received_at``) of an event, and the latest arrival of a catalogue item or a calendar override
    (what, besides a case's own events, its facts are made from)."""
    return tuple(wh.query_rows(
        "SELECT (SELECT max(event_time) FROM case_events), (SELECT max(received_at) FROM case_events), "
        "greatest((SELECT max(received_at) FROM items), (SELECT max(received_at) FROM calendar_overrides))"
    )[0])


def cases_with_events_since(wh: Warehouse, received: dt.datetime, after: dt.datetime, limit: int) -> list[str]:
    """The ids of the cases with an event stored at or after ``received`` or with an event time after
    ``after`` — at most ``limit`` + 1 of them (more than ``limit``: too many to pick out)."""
    return wh.query_df(f"SELECT DISTINCT case_id FROM case_events WHERE received_at >= {ts_param('received')} "
                       f"OR event_time > {ts_param('after')} LIMIT {{n:UInt64}}",
                       {"received": received, "after": after, "n": limit + 1})["case_id"].to_list()


def completed_between(where: Where, earliest, latest) -> Where:
    """Cases completed from ``earliest`` up to ``latest`` (inclusive; bound as ``earliest`` / ``as_of``),
    added to ``where``."""
    return where.add(f"state = 'completed' AND completed_at <= {ts_param('as_of')} "
                     f"AND completed_at >= {ts_param('earliest')}", as_of=latest, earliest=earliest)


# Serving the overdue-risk model (models.risk_features): open cases, completions and clock stops -------------------
def accepted_cases(wh: Warehouse, columns: tuple[str, ...]) -> pl.DataFrame:
    """Case facts (``columns``) of every accepted case (the cases open at an instant: :func:`load_case_facts` of
    :func:`open_at`)."""
    return wh.query_df(f"SELECT {', '.join(columns)} FROM {final('case_facts')} WHERE accepted_at IS NOT NULL")


def timed_completion_counts_between(wh: Warehouse, since: dt.datetime, upto: dt.datetime) -> pl.DataFrame:
    """``dept_code``, ``item_code``, ``on_time``, ``completed_at``, ``cases``: the cases that can be timed
    completed in (``since``, ``upto``], counted per department, item and outcome (``completed_at`` the latest
    of each count) — one instant's history without a row per case: at 10 M cases, the province's 90 days
    before an instant in a few thousand rows instead of a million."""
    return wh.query_df(
        f"SELECT dept_code, item_code, on_time, max(completed_at) AS latest, toInt64(count()) AS cases "
        f"FROM {final('case_facts')} WHERE state = 'completed' AND on_time IS NOT NULL "
        f"AND completed_at > {ts_param('since')} AND completed_at <= {ts_param('t')} "
        "GROUP BY dept_code, item_code, on_time", {"since": since, "t": upto}).rename({"latest": "completed_at"})
