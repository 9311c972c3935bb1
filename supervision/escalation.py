"""Escalation of red cases (红牌升级) to the supervisory office one level up.

The red and yellow cards are exactly those of ``hcp flags`` (DOMAIN.md rule 5, computed by
:func:`metrics.flags.flags_as_of` / :func:`metrics.flags.case_flags`, not recomputed here). Then, as of T:

* a red case is **escalated** once it has been red on ``escalate_after_red_days`` working days (default 3):
  its overdue working days (working days d with D < d ≤ date(T)) reach that number. It was escalated on
  the working day on which they did (``escalated_on``: the N-th working day after its deadline D);
* it goes to the office **one level above** the office responsible for the case: the region of the case's
  department (its region code in ``departments``; the case's own region code if the department is unknown).
  One level above follows the code: a county (6 significant digits) goes to its city (4), a city to its
  province (2), a township (9) to its county, a village (12) to its township. A provincial department has no
  office above it: ``escalate_to`` is empty and the case stays with the provincial office.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from hcp.workdays import WorkCalendar, region_prefix
from metrics.flags import flags_as_of
from warehouse.queries.reference import group_names, load_calendar, load_departments
from supervision import store
from supervision.settings import SupervisionSettings
from warehouse.client import Warehouse

ESCALATION_COLUMNS = ("case_id", "dept_code", "item_code", "region_code", "deadline", "overdue_working_days",
                      "escalated_on", "office_code", "escalate_to", "escalate_to_name")
LABELS = {
    "case_id": ("办件编号", "case"), "dept_code": ("部门", "dept"), "item_code": ("事项", "item"),
    "region_code": ("区划", "region"), "deadline": ("办结期限", "deadline"),
    "overdue_working_days": ("超期工作日", "overdue working days"), "escalated_on": ("升级日期", "escalated on"),
    "office_code": ("责任单位区划", "responsible region"), "escalate_to": ("升级至", "escalated to"),
    "escalate_to_name": ("上级单位", "office above"),
}
_PARENT_WIDTH = {2: None, 4: 2, 6: 4, 9: 6, 12: 9}


def parent_office(region_code: str) -> str:
    """The 12-digit code of the region one level above (``''`` for a province).

    >>> parent_office("370202000000"), parent_office("370200000000"), parent_office("370000000000")
    ('370200000000', '370000000000', '')
    """
    width = _PARENT_WIDTH[len(region_prefix(region_code))]
    return "" if width is None else region_code[:width].ljust(12, "0")


def parent_office_expr(column: str) -> pl.Expr:
    """Vectorised :func:`parent_office`."""
    code = pl.col(column)
    zeros = lambda start: code.str.slice(start) == "0" * (12 - start)  # noqa: E731
    up = lambda width: code.str.slice(0, width) + pl.lit("0" * (12 - width))  # noqa: E731
    return (pl.when(zeros(2)).then(pl.lit(""))
            .when(zeros(4)).then(up(2))
            .when(zeros(6)).then(up(4))
            .when(zeros(9)).then(up(6))
            .otherwise(up(9)))


def escalate(flags: pl.DataFrame, departments: pl.DataFrame, calendar: WorkCalendar, *, after_days: int,
             region_names: dict[str, str] | None = None) -> pl.DataFrame:
    """The escalated red cases among ``flags`` (rows of :func:`metrics.flags.case_flags`), most overdue first."""
    slot = calendar.locality_expr("region_code")
    depts = departments.select("dept_code", office_code="region_code").unique("dept_code", keep="first")
    red = flags.filter((pl.col("flag") == "red") & (pl.col("overdue_working_days") >= after_days))
    out = (
        red.join(depts, on="dept_code", how="left")
        .with_columns(office_code=pl.coalesce(pl.col("office_code").replace("", None), pl.col("region_code")))
        .with_columns(
            escalate_to=parent_office_expr("office_code"),
            escalated_on=calendar.add_working_days_expr("deadline", after_days, slot),
        )
    )
    names = region_names or {}
    out = out.with_columns(escalate_to_name=pl.col("escalate_to").replace_strict(names, default="", return_dtype=pl.String))
    return out.select(ESCALATION_COLUMNS).sort(["overdue_working_days", "case_id"], descending=[True, False])


def escalations(wh: Warehouse, as_of: dt.datetime | None = None, *, after_days: int | None = None,
                region_code: str | None = None, settings: SupervisionSettings | None = None) -> pl.DataFrame:
    """Escalated red cases as of ``as_of`` (default now); with ``region_code``, those of cases in that region's
    subtree. Reads the case facts like ``hcp flags``: run ``hcp compute`` (the CLI does) so they are current."""
    settings = settings or SupervisionSettings.load()
    as_of = store.instant(as_of)
    after = settings.escalate_after_red_days if after_days is None else int(after_days)
    if after < 1:
        raise ValueError("after_days must be at least 1")
    flags = flags_as_of(wh, as_of, settings.warning_days)
    if region_code:
        flags = flags.filter(pl.col("region_code").str.starts_with(region_prefix(region_code)))
    return escalate(flags, load_departments(wh), load_calendar(wh), after_days=after,
                    region_names=group_names(wh, "region:city"))
