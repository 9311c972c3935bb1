"""The computed indicators (``group_metrics``: one row per period, grouping and unit, per run) and the runs
that are current (``metric_runs``: the latest run of each (period, grouping) is the one shown).

Writes are append-only: a new run's rows, then its ``metric_runs`` row, which makes it current.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Any

import polars as pl

from warehouse.client import Warehouse
from warehouse.migrations import current_tables
from hcp.scope import Scope
from warehouse.queries.reference import scope_departments
from warehouse.queries.sql import final, in_list

_RUN_SCHEMA = {"period": pl.String, "grouping": pl.String, "run_id": pl.UInt64,
               "watermark": pl.Datetime("ms", "Asia/Shanghai")}


@cache
def group_metric_columns() -> tuple[str, ...]:
    """The stored columns of one unit's result (without the period, grouping, contributions, run and stamp)."""
    return tuple(c for c in current_tables()["group_metrics"].column_names
                 if c not in ("period", "grouping", "contributions", "run_id", "computed_at"))


# Serving the metrics job: storing a month's result --------------------------------------------------------
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
    }, schema=_RUN_SCHEMA))


def write_month_metrics(wh: Warehouse, period: Any, results: dict[str, pl.DataFrame], run_id: int,
                        contribution_keys: list[str], watermark: dt.datetime) -> None:
    """Store the results of several groupings of one month (grouping → scored rows) and make them the current
    runs: every row first, then the runs, in one insert each."""
    if not results:
        return
    contributions = (
        pl.struct([pl.col(f"contrib_{k}").alias(k) for k in contribution_keys]).struct.json_encode()
        if contribution_keys else pl.lit("{}")
    )
    columns = ["period", "grouping", *group_metric_columns(), "contributions", "run_id"]
    frames = [scored.rename({"group": "group_code"}).with_columns(
        period=pl.lit(period.label), grouping=pl.lit(grouping), run_id=pl.lit(run_id, dtype=pl.UInt64),
        contributions=contributions).select(columns) for grouping, scored in results.items()]
    wh.insert_df("group_metrics", pl.concat(frames, how="vertical_relaxed"))
    wh.insert_df("metric_runs", pl.DataFrame({
        "period": [period.label] * len(results), "grouping": list(results), "run_id": [run_id] * len(results),
        "watermark": [watermark] * len(results),
    }, schema=_RUN_SCHEMA))


# Serving the job, the CLI, the pages and the bulletin: the current results ------------------------------------
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


def read_month_metrics(wh: Warehouse, period: str) -> dict[str, pl.DataFrame]:
    """The current stored result of every grouping of one month (grouping → rows as
    :func:`read_group_metrics` gives them); a grouping never computed is missing."""
    frame = wh.query_df(
        "SELECT m.* EXCEPT (computed_at) FROM group_metrics AS m FINAL "
        "INNER JOIN (SELECT period, grouping, run_id FROM metric_runs FINAL WHERE period = {p:String}) AS r "
        "ON m.period = r.period AND m.grouping = r.grouping AND m.run_id = r.run_id "
        "ORDER BY m.grouping, m.group_code",
        {"p": period},
    )
    if frame.height == 0:
        return {}
    return {str(key[0]): part for key, part in frame.partition_by("grouping", as_dict=True, maintain_order=True).items()}


def _current_runs(grouping: str = "all") -> str:
    return f"SELECT period, grouping, run_id FROM metric_runs FINAL WHERE grouping = '{grouping}'"


def stored_periods(wh: Warehouse) -> list[str]:
    """The months whose current stored result has data: a completed (consistent) case or a counted rating.
    A retired month (see :func:`retire_periods`) and a month of nothing are not periods."""
    return [r[0] for r in wh.query_rows(
        "SELECT DISTINCT m.period FROM group_metrics AS m FINAL "
        f"INNER JOIN ({_current_runs()}) AS r ON m.period = r.period AND m.grouping = r.grouping "
        "AND m.run_id = r.run_id WHERE m.cases_completed > 0 OR m.ratings > 0 ORDER BY m.period")]


# Stored group metrics of a reader's scope (dashboard/) --------------------------------------------------
def group_scope(scope: Scope, grouping: str, column: str = "group_code") -> tuple[str, dict] | None:
    """Condition on ``column`` (a group code of ``grouping``) selecting the scope's groups; None when the
    scope sees no group of this grouping (a department sees no region's figures: they include others)."""
    if scope.unrestricted:
        return "1", {}
    if grouping == "all":
        return None
    if grouping.startswith("region:"):
        if scope.dept_code:
            return None
        return f"startsWith({column}, {{scope_region:String}})", {"scope_region": scope.region_prefix}
    depts, params = scope_departments(scope)
    if grouping == "dept":
        return f"{column} IN ({depts})", params
    return f"{column} IN (SELECT item_code FROM {final('items')} WHERE dept_code IN ({depts}))", params


def stored_rows_in_scope(wh: Warehouse, scope: Scope, periods: list[str], grouping: str,
                         codes: list[str] | None = None) -> pl.DataFrame:
    """The current stored rows (each month's latest run, as :func:`warehouse.queries.group_metrics.read_group_metrics`) of some
    months and one grouping that lie in the scope, optionally of some codes only; by month, then code."""
    cond = group_scope(scope, grouping, "m.group_code")
    if cond is None or not periods:
        return pl.DataFrame()
    where, params = cond
    extra = f" AND {in_list('m.group_code', 'codes')}" if codes is not None else ""
    return wh.query_df(
        "SELECT m.* EXCEPT (computed_at) FROM group_metrics AS m FINAL "
        f"INNER JOIN (SELECT period, grouping, run_id FROM {final('metric_runs')} "
        "            WHERE period IN {periods:Array(String)} AND grouping = {g:String}) AS r "
        "ON m.period = r.period AND m.grouping = r.grouping AND m.run_id = r.run_id "
        f"WHERE m.period IN {{periods:Array(String)}} AND m.grouping = {{g:String}} AND ({where}){extra} "
        "ORDER BY m.period, m.group_code",
        {**params, "periods": periods, "g": grouping, **({"codes": codes} if codes is not None else {})},
    )
