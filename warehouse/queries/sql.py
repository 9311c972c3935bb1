"""The query layer's conventions, stated once: the timestamp type, ``FINAL``, the scope condition, and a
small builder of ``WHERE`` clauses with server-side bound parameters (``{name:Type}``).

>>> where = Where().add("level <= {lv:UInt8}", lv=2)
>>> scope_condition(Scope.of_region("370200000000"), where)
<Where: level <= {lv:UInt8} AND startsWith(region_code, {scope_region:String})>
>>> where.params
{'lv': 2, 'scope_region': '3702'}
>>> ts_param("as_of")
"{as_of:DateTime64(3, 'Asia/Shanghai')}"
>>> in_list("rating_id", "ids")
'rating_id IN (SELECT arrayJoin({ids:Array(String)}))'
"""

from __future__ import annotations

from hcp.scope import Scope
from warehouse.schema import TS  # the type the tables declare: every instant, millisecond precision, Shanghai time


def ts_param(name: str) -> str:
    """A bound instant parameter, e.g. ``{as_of:DateTime64(3, 'Asia/Shanghai')}``."""
    return "{" + name + ":" + TS + "}"


def final(table: str) -> str:
    """A raw table read deduplicated: ``table FINAL`` (every read of a ReplacingMergeTree table)."""
    return f"{table} FINAL"


def final_settings(on_key_only: bool) -> str:
    """The ``SETTINGS`` clause of a ``FINAL`` read whose condition tests nothing but the first column of the
    table's key (``on_key_only``): rows are then selected before the copies are collapsed, and only the
    selected rows' other columns are read. Every copy of a row shares its key, so the result is the same; for
    a condition on any other column an older copy could stand in for a newer one — then nothing (``""``)."""
    return " SETTINGS optimize_move_to_prewhere_if_final = 1" if on_key_only else ""


def key_prewhere(column: str, subquery: str) -> str:
    """`` PREWHERE column IN (subquery)`` for a ``FINAL`` read: rows are selected by the first column of the
    table's key, which every stored copy of a row shares, before the copies are collapsed — only the selected
    rows' other columns are read. Written out, not left to ``optimize_move_to_prewhere_if_final``
    (:func:`final_settings`), where the read has other conditions or the sub-query reads with ``FINAL``: a
    query's settings reach its sub-queries, and those conditions must be tested after the collapse."""
    return f" PREWHERE {column} IN ({subquery})"


def in_list(column: str, param: str) -> str:
    """``column`` among the bound list ``param`` (``Array(String)``), written as a sub-query:
    ``column IN (SELECT arrayJoin({param:Array(String)}))``. Every list of ids a caller gathers (a queue's ratings,
    a watch's cases) is bound this way, because chDB 4 takes the literal form ``column IN {param:Array(String)}``
    into an analysis that grows out of all proportion with the list: 45,000 rating ids over the 10 M-case
    warehouse's ratings 0.3 s, 50,000 never returned (60,000 over a table of 60,000 rows: 15 s); the sub-query
    form took 0.2-0.4 s for 1,600 to 80,000 ids there, and 2.3 s for 500,000."""
    return f"{column} IN (SELECT arrayJoin({{{param}:Array(String)}}))"


class Where:
    """Accumulates ``WHERE`` conditions and their bound parameters."""

    def __init__(self, condition: str | None = None, params: dict | None = None) -> None:
        self.conditions: list[str] = [condition] if condition else []
        self.params: dict = dict(params or {})

    def add(self, condition: str, params: dict | None = None, /, **named) -> "Where":
        self.conditions.append(condition)
        self.params.update(params or {}, **named)
        return self

    def sql(self) -> str:
        """The conditions joined with AND (``1`` when there is none)."""
        return " AND ".join(f"({c})" if " OR " in c.upper() else c for c in self.conditions) or "1"

    def __repr__(self) -> str:
        return f"<Where: {self.sql()}>"


def scope_condition(scope: Scope, where: Where | None = None, *, region_col: str = "region_code",
                    dept_col: str = "dept_code") -> Where:
    """Rows of the scope, judged by the row's own region and department codes (added to ``where``)."""
    where = where if where is not None else Where()
    if scope.region_prefix:
        where.add(f"startsWith({region_col}, {{scope_region:String}})", scope_region=scope.region_prefix)
    if scope.dept_code:
        where.add(f"{dept_col} = {{scope_dept:String}}", scope_dept=scope.dept_code)
    return where


# Splitting a table into parts of bounded size (the metrics job reads cases and ratings a bucket at a time).
def in_bucket(column: str, buckets: int, bucket: int) -> str:
    """SQL condition: the row's ``column`` hashes into bucket ``bucket`` of ``buckets`` (a fixed split of
    the cases, or ratings, into parts of bounded size); ``1`` when there is one bucket.

    >>> in_bucket("case_id", 4, 1), in_bucket("case_id", 1, 0)
    ('cityHash64(case_id) % 4 = 1', '1')
    """
    return f"cityHash64({column}) % {int(buckets)} = {int(bucket)}" if buckets > 1 else "1"


def as_where(where: "Where | str | None" = None, parameters: dict | None = None) -> Where:
    """A :class:`Where` from a ``Where``, or from an SQL condition and its parameters (``''``/None: none)."""
    if isinstance(where, Where):
        return Where(where.sql() if where.conditions else None, {**where.params, **(parameters or {})})
    return Where(where or None, parameters)
