"""Work queues of the bad-rating loop, scoped to one unit.

* **A department's queue** ("what I must handle now", 待办): its bad ratings whose loop is open and whose next
  step the department owes (verify, rectify or explain, feed back, revisit), with that step's due date,
  whether it is overdue and by how many working days, or how many working days are left. A rating whose
  appeal awaits the office's decision is not the department's to handle and is not listed.
* **A supervisory office's queue** ("what is overdue under me", 超期督办): the open loops of every bad rating
  in its region subtree (by code prefix: province 2 digits, city 4, county 6) whose next step is overdue —
  the departments' steps and the appeal decisions alike. ``overdue_only=False`` lists every open step.

Both are sorted by due date (earliest first), then rating id; :func:`sort_queue` re-sorts. The scope is part of
the SQL that reads the ratings (:mod:`supervision.store`), so a unit's query never reads another unit's rows.
"""

from __future__ import annotations

import datetime as dt
import re

import polars as pl

from hcp.errors import UsageError
from hcp.scope import Scope
from warehouse.queries.reference import group_names, load_calendar
from supervision import store
from supervision.settings import SupervisionSettings
from warehouse.client import Warehouse

QUEUE_COLUMNS = ("rating_id", "case_id", "dept_code", "dept_name", "region_code", "item_code", "level",
                 "real_name", "channel", "rated_at", "state", "next_step", "next_owner", "due_date", "overdue",
                 "overdue_working_days", "working_days_left")
LABELS = {
    "rating_id": ("评价编号", "rating"), "case_id": ("办件编号", "case"), "dept_code": ("部门", "dept"),
    "dept_name": ("部门名称", "dept name"), "region_code": ("区划", "region"), "item_code": ("事项", "item"),
    "level": ("评价等级", "level"), "real_name": ("实名", "real name"), "channel": ("渠道", "channel"),
    "rated_at": ("评价时间", "rated at"), "state": ("状态", "state"), "next_step": ("下一步", "next step"),
    "next_owner": ("责任方", "owner"), "due_date": ("期限", "due date"), "overdue": ("超期", "overdue"),
    "overdue_working_days": ("超期工作日", "overdue working days"),
    "working_days_left": ("剩余工作日", "working days left"),
}
SORT_KEYS = ("due_date", "overdue_working_days", "rated_at", "dept_code", "region_code")


def sort_queue(frame: pl.DataFrame, by: str = "due_date", descending: bool = False) -> pl.DataFrame:
    """Sort a queue by one of :data:`SORT_KEYS` (ties: due date, then rating id); nulls last."""
    if by not in SORT_KEYS:
        raise ValueError(f"sort by one of {', '.join(SORT_KEYS)}")
    keys = list(dict.fromkeys([by, "due_date", "rating_id"]))
    return frame.sort(keys, descending=[descending] + [False] * (len(keys) - 1), nulls_last=True)


def department_view(loop: pl.DataFrame, *, overdue_only: bool = False) -> pl.DataFrame:
    """From a loop frame *with status*: the open steps the department owes (all of them, or only overdue)."""
    rows = loop.filter(pl.col("next_owner") == "dept")
    if overdue_only:
        rows = rows.filter(pl.col("overdue"))
    return sort_queue(_columns(rows))


def office_view(loop: pl.DataFrame, *, overdue_only: bool = True) -> pl.DataFrame:
    """From a loop frame *with status*: every open step in it (only the overdue ones by default)."""
    rows = loop.filter(pl.col("next_step").is_not_null())
    if overdue_only:
        rows = rows.filter(pl.col("overdue"))
    return sort_queue(_columns(rows))


def _columns(rows: pl.DataFrame) -> pl.DataFrame:
    if "dept_name" not in rows.columns:
        rows = rows.with_columns(dept_name=pl.lit("", dtype=pl.String))
    return rows.select(QUEUE_COLUMNS)


def _with_names(wh: Warehouse, frame: pl.DataFrame) -> pl.DataFrame:
    names = group_names(wh, "dept")
    return frame.with_columns(dept_name=pl.col("dept_code").replace_strict(names, default="", return_dtype=pl.String))


def check_region_code(code: str) -> str:
    """A full 12-digit region code, or a usage error."""
    if not re.fullmatch(r"\d{12}", code or ""):
        raise UsageError(f"区划代码应为 12 位数字：{code!r} / a region code has 12 digits: {code!r}")
    return code


def department_queue(wh: Warehouse, dept_code: str, as_of: dt.datetime | None = None, *,
                     overdue_only: bool = False, settings: SupervisionSettings | None = None) -> pl.DataFrame:
    """The department's to-do list of bad-rating steps as of ``as_of`` (default now); see the module doc."""
    if not dept_code:
        raise UsageError("必须指定部门代码 / a department code is required")
    settings = settings or SupervisionSettings.load()
    loop = store.load_loop(wh, Scope.of_dept(dept_code), store.instant(as_of), settings, load_calendar(wh))
    return department_view(_with_names(wh, loop), overdue_only=overdue_only)


def office_queue(wh: Warehouse, region_code: str, as_of: dt.datetime | None = None, *,
                 overdue_only: bool = True, settings: SupervisionSettings | None = None) -> pl.DataFrame:
    """What is overdue in the office's region subtree as of ``as_of`` (default now); see the module doc."""
    check_region_code(region_code)
    settings = settings or SupervisionSettings.load()
    loop = store.load_loop(wh, Scope.of_region(region_code), store.instant(as_of), settings, load_calendar(wh))
    return office_view(_with_names(wh, loop), overdue_only=overdue_only)
