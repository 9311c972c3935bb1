"""Reference tables: regions, departments, items (the catalogue), and the calendar overrides.

A code a user typed that names nothing is a usage error that names the code — never an empty answer
("0 条待办") that looks like good news.
"""

from __future__ import annotations

import polars as pl

from hcp.errors import UsageError
from hcp.workdays import WorkCalendar
from warehouse.client import Warehouse
from warehouse.queries.sql import final, in_list
from dataclasses import replace
from hcp.scope import Scope
from warehouse.queries.sql import Where, scope_condition


# Serving the metrics job, the loop and the pages: the reference frames ---------------------------------
def load_calendar(wh: Warehouse) -> WorkCalendar:
    """The working-day calendar with the stored overrides (调休, holidays) of every locality."""
    overrides = wh.query_df(f"SELECT locality_code, day, is_working, note FROM {final('calendar_overrides')}")
    return WorkCalendar.from_frame(overrides)


def load_items(wh: Warehouse) -> pl.DataFrame:
    """Every version of every catalogue item (``valid_from`` says from when it holds)."""
    return wh.query_df(
        "SELECT item_code, item_name, dept_code, item_type, legal_limit_days, promised_limit_days, online_depth, "
        f"max_trips, valid_from FROM {final('items')}"
    )


def load_departments(wh: Warehouse) -> pl.DataFrame:
    return wh.query_df(f"SELECT dept_code, dept_name, region_code FROM {final('departments')}")


def reference_fingerprint(wh: Warehouse) -> str:
    """Content hash of the calendar overrides and the departments: when it changes, every stored figure may
    move (the metrics job then runs in full)."""
    row = wh.query_rows(
        "SELECT (SELECT groupBitXor(cityHash64(locality_code, day, is_working)) FROM calendar_overrides FINAL),"
        "       (SELECT groupBitXor(cityHash64(dept_code, dept_name, region_code)) FROM departments FINAL)"
    )[0]
    return f"{row[0]}:{row[1]}"


# Serving the CLIs: does a code the user typed exist ---------------------------------------------------
def require_department(wh: Warehouse, code: str) -> str:
    """``code`` if the departments table knows it, else a usage error naming it."""
    if not wh.query_value(f"SELECT count() FROM {final('departments')} WHERE dept_code = {{c:String}}", {"c": code}):
        raise UsageError(f"未知部门代码 {code!r}（部门表中没有）/ unknown department code {code!r} (not in the departments table)")
    return code


def require_region(wh: Warehouse, code: str) -> str:
    """``code`` if the regions table knows it, else a usage error naming it."""
    if not wh.query_value(f"SELECT count() FROM {final('regions')} WHERE region_code = {{c:String}}", {"c": code}):
        raise UsageError(f"未知区划代码 {code!r}（区划表中没有）/ unknown region code {code!r} (not in the regions table)")
    return code


# Serving the CLIs, the bulletin and the loop: display names of a grouping's units (metrics.records) -------
def group_names(wh: Warehouse, grouping: str) -> dict[str, str]:
    """Display names of a grouping's units: department, item (latest version) or region names."""
    if grouping == "dept":
        return dict(wh.query_rows(f"SELECT dept_code, dept_name FROM {final('departments')}"))
    if grouping == "item":
        return dict(wh.query_rows(f"SELECT item_code, argMax(item_name, valid_from) FROM {final('items')} GROUP BY item_code"))
    if grouping.startswith("region:"):
        return dict(wh.query_rows(f"SELECT region_code, region_name FROM {final('regions')}"))
    return {"all": "全部"}


# Reference data for the dashboard, the bulletins and the demo users (dashboard/, reports/) ------------------
def scope_departments(scope: Scope) -> tuple[str, dict]:
    """Sub-query: the department codes of the scope (a department belongs to its government's region)."""
    where = scope_condition(scope)
    return f"SELECT dept_code FROM {final('departments')} WHERE {where.sql()}", where.params


def calendar_stamp(wh: Warehouse) -> tuple:
    """A fingerprint of the stored calendar overrides (changes whenever one is added or changed)."""
    return tuple(wh.query_rows(
        "SELECT groupBitXor(cityHash64(locality_code, day, is_working)), count() "
        f"FROM {final('calendar_overrides')}")[0])


def regions_of(wh: Warehouse, scope: Scope, *, max_level: int = 3) -> pl.DataFrame:
    """``region_code, region_name, level`` of the regions in the scope's subtree up to ``max_level``
    (3 = county), by code."""
    where = scope_condition(replace(scope, dept_code=None), Where("level <= {max_level:UInt8}", {"max_level": max_level}))
    return wh.query_df(f"SELECT region_code, region_name, level FROM {final('regions')} WHERE {where.sql()} "
                       "ORDER BY region_code", where.params)


def region_rows(wh: Warehouse) -> list[tuple[str, str]]:
    """Every region as ``(region_code, region_name)``, by code."""
    return [tuple(r) for r in wh.query_rows(
        f"SELECT region_code, region_name FROM {final('regions')} ORDER BY region_code")]


def region_names_in(wh: Warehouse, scope: Scope) -> dict[str, str]:
    """Names of the regions of the scope's subtree (region names are public reference data)."""
    where = scope_condition(replace(scope, dept_code=None))
    return dict(wh.query_rows(f"SELECT region_code, region_name FROM {final('regions')} WHERE {where.sql()}",
                              where.params))


def region_exists(wh: Warehouse, region_code: str) -> bool:
    return bool(wh.query_value(f"SELECT count() FROM {final('regions')} WHERE region_code = {{r:String}}",
                               {"r": region_code}))


def departments_of(wh: Warehouse, scope: Scope) -> pl.DataFrame:
    """``dept_code, dept_name, region_code`` of the scope's departments, by code."""
    where = scope_condition(scope)
    return wh.query_df(f"SELECT dept_code, dept_name, region_code FROM {final('departments')} WHERE {where.sql()} "
                       "ORDER BY dept_code", where.params)


def department_count(wh: Warehouse, scope: Scope) -> int:
    """How many departments the scope holds (0: a department code outside it or unknown)."""
    where = scope_condition(scope)
    return int(wh.query_value(f"SELECT count() FROM {final('departments')} WHERE {where.sql()}", where.params) or 0)


def busiest_department(wh: Warehouse) -> tuple[str, str] | None:
    """``(dept_code, dept_name)`` of the department with the most case facts (ties: the smallest code)."""
    rows = wh.query_rows(
        f"SELECT d.dept_code, any(d.dept_name) FROM departments AS d FINAL "
        f"LEFT JOIN (SELECT dept_code, count() AS n FROM {final('case_facts')} GROUP BY dept_code) AS c "
        "ON c.dept_code = d.dept_code GROUP BY d.dept_code ORDER BY max(c.n) DESC, d.dept_code LIMIT 1")
    return tuple(rows[0]) if rows else None


def _scope_items(scope: Scope) -> tuple[str, dict]:
    if scope.unrestricted:
        return "1", {}
    depts, params = scope_departments(scope)
    return f"dept_code IN ({depts})", params


def item_names_in(wh: Warehouse, scope: Scope) -> dict[str, str]:
    """Names of the items of the scope's departments (each item's newest version)."""
    where, params = _scope_items(scope)
    return dict(wh.query_rows(f"SELECT item_code, argMax(item_name, valid_from) FROM {final('items')} "
                              f"WHERE {where} GROUP BY item_code", params))


def item_department(wh: Warehouse, scope: Scope, item_code: str) -> str | None:
    """The department of an item of the scope (its newest version), None if the scope holds no such item."""
    where, params = _scope_items(scope)
    return wh.query_value(f"SELECT argMax(dept_code, valid_from) FROM {final('items')} "
                          f"WHERE item_code = {{i:String}} AND {where} GROUP BY item_code", {**params, "i": item_code})


def item_types(wh: Warehouse) -> list[str]:
    return [r[0] for r in wh.query_rows(f"SELECT DISTINCT item_type FROM {final('items')} ORDER BY item_type")]


def items_of_type(item_type_param: str = "f_type") -> str:
    """Sub-query: the item codes of the item type bound as ``{<item_type_param>:String}``."""
    return f"SELECT item_code FROM {final('items')} WHERE item_type = {{{item_type_param}:String}}"


# Serving the loader (ingest.loader): which item codes the catalogue holds ----------------------------------------
def catalogue_has(wh: Warehouse, codes: list[str]) -> set[str]:
    """The codes among ``codes`` that the catalogue (``items``) holds (looked up 20 000 at a time)."""
    found: set[str] = set()
    for start in range(0, len(codes), 20_000):
        rows = wh.query_rows(f"SELECT DISTINCT item_code FROM items WHERE {in_list('item_code', 'c')}",
                             {"c": codes[start:start + 20_000]})
        found.update(r[0] for r in rows)
    return found


# Serving the token scope check (ingest.scope): where stored departments, items and ratings belong -----------------
def _pairs(wh: Warehouse, sql: str, ids: list[str]) -> list[tuple[str, str]]:
    """Rows of ``sql`` (two columns, ``ids`` bound: :func:`~warehouse.queries.sql.in_list`) for ``ids``, 20 000 at a time."""
    rows: list[tuple[str, str]] = []
    for start in range(0, len(ids), 20_000):
        rows += wh.query_rows(sql, {"ids": ids[start:start + 20_000]})
    return rows


def department_regions(wh: Warehouse, dept_codes: list[str]) -> dict[str, str]:
    """The stored region of each of the departments (those the departments table holds)."""
    return dict(_pairs(wh, f"SELECT dept_code, region_code FROM {final('departments')} "
                           f"WHERE {in_list('dept_code', 'ids')}", dept_codes)) if dept_codes else {}


def item_owners(wh: Warehouse, item_codes: list[str]) -> list[tuple[str, str]]:
    """(item code, department) of every stored version of the items that names a department."""
    return _pairs(wh, f"SELECT DISTINCT item_code, dept_code FROM {final('items')} "
                      f"WHERE {in_list('item_code', 'ids')} AND dept_code != ''", item_codes)


def rating_regions(wh: Warehouse, rating_ids: list[str]) -> dict[str, str]:
    """The region of each of the stored ratings."""
    return dict(_pairs(wh, f"SELECT rating_id, any(region_code) FROM ratings WHERE {in_list('rating_id', 'ids')} "
                           "GROUP BY rating_id", rating_ids)) if rating_ids else {}
