"""Data-quality exceptions for correction: the inconsistent cases of DOMAIN.md, and the cases that cannot be
timed because their item is not in the catalogue.

An **inconsistent case** is one whose own events contradict each other: its completion or its acceptance
falls before its submission, or its completion before its acceptance (``case_facts.inconsistent``). It is
left out of every case indicator (so bad data distorts no figure), counted in ``inconsistent_cases`` for
its department, and listed here so that the department can correct it (so bad data does not disappear).

A case is listed for a period when any of its milestones (submission, acceptance, completion) falls in
it, so a completion typed a year too early still reaches the bulletin of the month the case was really
handled in.

An **untimed case** was completed under an item code the catalogue does not hold (INTERCHANGE.md accepts
and flags such codes, since catalogues lag): it has no deadline, so it is neither on time nor overdue. It
counts in ``cases_completed`` and every other case figure but stays out of the base of ``on_time_rate``
(``timed_n``), and it is listed here, by its completion in the period, until the catalogue holds its item.
"""

from __future__ import annotations

import polars as pl

from hcp.periods import Period
from warehouse.client import Warehouse
from warehouse.queries.facts import inconsistent_case_rows, untimed_case_rows
from warehouse.queries.sql import Where

#: Which contradiction a case shows, most telling first, with (Chinese, English) labels.
PROBLEMS = {
    "completed_before_submitted": ("办结早于申报", "completed before it was submitted"),
    "accepted_before_submitted": ("受理早于申报", "accepted before it was submitted"),
    "completed_before_accepted": ("办结早于受理", "completed before it was accepted"),
}

QUALITY_COLUMNS = ("case_id", "problem", "dept_code", "item_code", "region_code", "submitted_at", "accepted_at",
                   "completed_at")


def problem_expr() -> pl.Expr:
    """The first contradiction of :data:`PROBLEMS` a case's milestones show (null for a consistent case)."""
    submitted, accepted, completed = pl.col("submitted_at"), pl.col("accepted_at"), pl.col("completed_at")
    return (pl.when(completed < submitted).then(pl.lit("completed_before_submitted"))
            .when(accepted < submitted).then(pl.lit("accepted_before_submitted"))
            .when(completed < accepted).then(pl.lit("completed_before_accepted")))


def inconsistent_cases(wh: Warehouse, period: Period | None = None, *, where: Where | str = "",
                       parameters: dict | None = None) -> pl.DataFrame:
    """The inconsistent cases (of a period, see the module docstring), narrowed by a condition on
    ``case_facts`` columns (a user's scope, a department), ordered by department, then case."""
    frame = inconsistent_case_rows(wh, period, where=where, parameters=parameters)
    return frame.with_columns(problem=problem_expr()).select(QUALITY_COLUMNS)


def per_department(cases: pl.DataFrame) -> pl.DataFrame:
    """How many inconsistent cases each department has to correct, most first."""
    return (cases.group_by("dept_code").agg(cases=pl.len())
            .sort(["cases", "dept_code"], descending=[True, False]))


UNTIMED_COLUMNS = ("case_id", "dept_code", "item_code", "region_code", "accepted_at", "completed_at")


def untimed_cases(wh: Warehouse, period: Period | None = None, *, where: Where | str = "",
                  parameters: dict | None = None) -> pl.DataFrame:
    """The completed cases with no deadline (item not in the catalogue; see the module docstring) completed
    in the period, narrowed by a condition on ``case_facts`` columns, ordered by department, then case."""
    return untimed_case_rows(wh, UNTIMED_COLUMNS, period, where=where, parameters=parameters)
