"""Reading the reference tables (regions, departments) for the questions every command asks of them:
does this code exist, and what is its name.

A code a user typed that names nothing is a usage error that names the code — never an empty answer
("0 条待办") that looks like good news.
"""

from __future__ import annotations

from hcp.errors import UsageError
from warehouse.client import Warehouse


def require_department(wh: Warehouse, code: str) -> str:
    """``code`` if the departments table knows it, else a usage error naming it."""
    if not wh.query_value("SELECT count() FROM departments FINAL WHERE dept_code = {c:String}", {"c": code}):
        raise UsageError(f"未知部门代码 {code!r}（部门表中没有）/ unknown department code {code!r} (not in the departments table)")
    return code


def require_region(wh: Warehouse, code: str) -> str:
    """``code`` if the regions table knows it, else a usage error naming it."""
    if not wh.query_value("SELECT count() FROM regions FINAL WHERE region_code = {c:String}", {"c": code}):
        raise UsageError(f"未知区划代码 {code!r}（区划表中没有）/ unknown region code {code!r} (not in the regions table)")
    return code
