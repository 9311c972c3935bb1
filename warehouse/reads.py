"""Which tables a piece of work read: a warehouse that notes the tables each of its statements names.

The dashboard keys each cached query on the state of the tables it reads (:meth:`warehouse.queries.state.
DataStamp.of`), so a rating arriving does not make the ranking, which reads only the stored results, be
computed again. What a query reads is found here, by watching it run, rather than declared beside it: a
declaration drifts from the code, a recording cannot.

A table counts as read when a statement names it: its name as a whole word anywhere in the SQL (in a
comment or a string too). Counting a table that was not read only makes a cache entry expire sooner; a table
could be missed only by a statement that reads it without naming it, and every query names its tables
(``warehouse.queries``).
"""

from __future__ import annotations

import re
import threading
from typing import Any, Iterable, Mapping

import pyarrow as pa

from warehouse.client import Warehouse
from warehouse.migrations import current_tables


def _names_pattern(names: Iterable[str]) -> re.Pattern:
    """A whole table name (not a longer identifier that holds it, e.g. ``items`` in ``catalogue_items``)."""
    alternatives = "|".join(sorted((re.escape(n) for n in names), key=len, reverse=True))
    return re.compile(rf"(?<!\w)({alternatives})(?!\w)")


_SCHEMA_NAMES = _names_pattern(current_tables())


def tables_named(sql: str) -> set[str]:
    """The tables of the schema ``sql`` names."""
    return set(_SCHEMA_NAMES.findall(sql))


class ReadRecorder(Warehouse):
    """``inner``, noting in :attr:`tables` every table of the schema its statements name (from any thread).
    Everything else is ``inner``'s: closing the recorder leaves ``inner`` open."""

    def __init__(self, inner: Warehouse):
        self.inner = inner
        self.tables: set[str] = set()
        self._lock = threading.Lock()

    def _note(self, sql: str) -> None:
        found = tables_named(sql)
        with self._lock:
            self.tables |= found

    def query_arrow(self, sql: str, parameters: Mapping[str, Any] | None = None) -> pa.Table:
        self._note(sql)
        return self.inner.query_arrow(sql, parameters)

    def command(self, sql: str, parameters: Mapping[str, Any] | None = None) -> Any:
        self._note(sql)
        return self.inner.command(sql, parameters)

    def insert_arrow(self, table: str, data: pa.Table, settings: Mapping[str, Any] | None = None) -> int:
        self._note(table)
        return self.inner.insert_arrow(table, data, settings)

    def release_thread_client(self) -> None:
        self.inner.release_thread_client()

    def close(self) -> None:
        """The recorder is a view of ``inner``, which stays open."""

    @property
    def display_dsn(self) -> str:  # type: ignore[override]
        return self.inner.display_dsn

    @property
    def embedded(self) -> bool:  # type: ignore[override]
        return self.inner.embedded
