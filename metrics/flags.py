"""Red and yellow cards (红牌 / 黄牌) for open cases, as of an instant T (DOMAIN.md rule 5).

An open case (accepted; not completed, rejected or withdrawn) with deadline D is

* **red** (overdue) iff date(T) > D; it is overdue by the working days d with D < d ≤ date(T);
* **yellow** (due soon) iff not red and the working days from date(T) (excluded) to D (included) number
  at most the warning threshold (default 2);
* neither while its clock is stopped (suspended, or a supplement requested after acceptance) and it has
  not passed D.

``facts`` must be case facts computed *as of T* (:func:`metrics.facts.case_facts` with ``as_of=T``), so
that events after T are ignored and an open stop runs to date(T).
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from hcp.workdays import WorkCalendar

FLAG_COLUMNS = ("case_id", "flag", "deadline", "overdue_working_days", "working_days_left",
                "dept_code", "item_code", "region_code", "accepted_at")


def case_flags(facts: pl.DataFrame, as_of: dt.datetime, calendar: WorkCalendar, *, warning_days: int = 2) -> pl.DataFrame:
    """The red and yellow open cases, reddest first (most overdue, then soonest due)."""
    slot = calendar.locality_expr("region_code")
    today = pl.lit(as_of.date())
    idx_today = calendar.index_expr(today, slot)
    idx_deadline = calendar.index_expr("deadline", slot)
    open_cases = facts.filter((pl.col("state") == "accepted") & pl.col("deadline").is_not_null())
    flagged = open_cases.with_columns(
        _red=today > pl.col("deadline"),
        _left=(idx_deadline - idx_today).cast(pl.Int32),
    ).with_columns(
        flag=pl.when(pl.col("_red"))
        .then(pl.lit("red"))
        .when(~pl.col("clock_stopped") & (pl.col("_left") <= warning_days))
        .then(pl.lit("yellow")),
        overdue_working_days=pl.when(pl.col("_red")).then((idx_today - idx_deadline).cast(pl.Int32)),
        working_days_left=pl.when(~pl.col("_red")).then(pl.col("_left")),
    ).filter(pl.col("flag").is_not_null())
    return flagged.sort(
        [pl.col("flag") != "red", pl.col("overdue_working_days"), pl.col("working_days_left"), "case_id"],
        descending=[False, True, False, False], nulls_last=True,
    ).select(FLAG_COLUMNS)
