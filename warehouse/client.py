"""The warehouse facade: SQL in, Arrow/Polars out, Arrow in for inserts.

Every package talks to ClickHouse through a :class:`Warehouse`. There are two kinds:

* :class:`ClickHouseWarehouse` wraps a clickhouse-connect client — an embedded chDB engine opened by
  this process, or a ClickHouse server/cluster over HTTP(S);
* :class:`warehouse.owner.OwnerWarehouse` forwards the same calls to the process that owns an
  embedded warehouse (``hcp serve``), because chDB lets only one process open a data directory.

Query parameters use ClickHouse's server-side binding, ``{name:Type}``. Values may be ``str``, ``int``,
``float``, ``bool``, ``None``, dates, datetimes and lists of these; they are normalised the same way on
every path so a query behaves identically embedded, proxied or on a server.
"""

from __future__ import annotations

import datetime as dt
import threading
from abc import ABC, abstractmethod
from typing import Any, Mapping

import polars as pl
import pyarrow as pa

from hcp.periods import SHANGHAI  # noqa: F401 - the facade's callers import it from here too



class WarehouseError(RuntimeError):
    """A query or insert failed; the message is ClickHouse's own, without the Python trace."""


class WarehouseBusy(WarehouseError):
    """An embedded warehouse is held by another process that does not share it."""


def normalise_parameters(parameters: Mapping[str, Any] | None) -> dict[str, Any]:
    """Turn parameter values into JSON-able equivalents that ClickHouse parses the same way.

    Datetimes become ``YYYY-MM-DD hh:mm:ss.fff`` in Asia/Shanghai (naive ones are taken as Shanghai
    time), dates become ``YYYY-MM-DD``; lists are normalised element by element.
    """

    def one(value: Any) -> Any:
        if isinstance(value, dt.datetime):
            if value.tzinfo is not None:
                value = value.astimezone(SHANGHAI)
            return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        if isinstance(value, dt.date):
            return value.isoformat()
        if isinstance(value, (list, tuple, set, frozenset)):
            return [one(v) for v in value]
        return value

    return {key: one(value) for key, value in (parameters or {}).items()}


class Warehouse(ABC):
    """What the rest of the project may ask of the warehouse."""

    #: human-readable DSN (password hidden)
    display_dsn: str = ""
    #: True when the data directory is an embedded chDB one (opened here or through its owner)
    embedded: bool = True

    @abstractmethod
    def query_arrow(self, sql: str, parameters: Mapping[str, Any] | None = None) -> pa.Table: ...

    @abstractmethod
    def command(self, sql: str, parameters: Mapping[str, Any] | None = None) -> Any: ...

    @abstractmethod
    def insert_arrow(self, table: str, data: pa.Table, settings: Mapping[str, Any] | None = None) -> int:
        """Insert an Arrow table; ``settings``: ClickHouse settings of this insert only (e.g.
        ``optimize_on_insert = 0`` for rows already unique by the table's key)."""

    def close(self) -> None:  # pragma: no cover - trivial default
        """Release the connection (and, for an embedded warehouse, the data directory)."""

    def release_thread_client(self) -> None:  # pragma: no cover - trivial default
        """Release the connection the calling thread opened, if any (a worker thread that ends)."""

    # Conveniences built on the three primitives -------------------------------------------------
    def query_df(self, sql: str, parameters: Mapping[str, Any] | None = None) -> pl.DataFrame:
        """Run a query and return a Polars frame."""
        result = pl.from_arrow(self.query_arrow(sql, parameters))
        assert isinstance(result, pl.DataFrame)
        return result

    def query_rows(self, sql: str, parameters: Mapping[str, Any] | None = None) -> list[tuple]:
        """Run a (small) query and return its rows as tuples."""
        return self.query_df(sql, parameters).rows()

    def query_value(self, sql: str, parameters: Mapping[str, Any] | None = None) -> Any:
        """Run a query returning one value (first column of the first row, None if no rows)."""
        rows = self.query_rows(sql, parameters)
        return rows[0][0] if rows else None

    def insert_df(self, table: str, frame: pl.DataFrame, settings: Mapping[str, Any] | None = None) -> int:
        """Insert a Polars frame (columns by name) and return the number of rows written."""
        if frame.height == 0:
            return 0
        return self.insert_arrow(table, frame.to_arrow(), settings)

    def table_exists(self, table: str) -> bool:
        return bool(self.query_value("SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = {t:String}", {"t": table}))

    def __enter__(self) -> "Warehouse":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _clickhouse_message(exc: Exception) -> str:
    text = str(exc)
    # clickhouse-connect wraps the server text; keep the first, meaningful part.
    for marker in (" (version ", "\nStack trace"):
        cut = text.find(marker)
        if cut > 0:
            text = text[:cut]
    return text.strip()


def _connect_message(exc: Exception) -> str:
    """The reason a connection failed, without the client library's retry and URL noise."""
    text = _clickhouse_message(exc)
    for needle, reason in (("Connection refused", "connection refused"), ("Name or service not known", "unknown host"),
                           ("timed out", "timed out"), ("Authentication failed", "authentication failed")):
        if needle in text:
            return reason
    return text.splitlines()[0][:200] if text else type(exc).__name__


class ClickHouseWarehouse(Warehouse):
    """A warehouse reached with clickhouse-connect (embedded chDB or a server).

    clickhouse-connect serialises calls on one chDB handle, so each thread gets its own client; for a
    server every thread shares the pooled HTTP client.
    """

    def __init__(self, factory, *, display_dsn: str, embedded: bool, on_close=None):
        self._factory = factory
        self._local = threading.local()
        self._clients: list[Any] = []
        self._clients_lock = threading.Lock()
        self._on_close = on_close
        self.display_dsn = display_dsn
        self.embedded = embedded
        try:
            self._client()  # open now, so failures surface at connect time
        except WarehouseError:
            raise
        except Exception as exc:  # clickhouse-connect / chDB: unreachable host, refused login, bad directory
            raise WarehouseError(_connect_message(exc)) from exc

    def _client(self):
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._factory()
            self._local.client = client
            with self._clients_lock:
                self._clients.append(client)
        return client

    def query_arrow(self, sql: str, parameters: Mapping[str, Any] | None = None) -> pa.Table:
        try:
            return self._client().query_arrow(sql, parameters=normalise_parameters(parameters))
        except Exception as exc:  # clickhouse-connect raises its own hierarchy
            raise WarehouseError(_clickhouse_message(exc)) from exc

    def command(self, sql: str, parameters: Mapping[str, Any] | None = None) -> Any:
        try:
            return self._client().command(sql, parameters=normalise_parameters(parameters))
        except Exception as exc:
            raise WarehouseError(_clickhouse_message(exc)) from exc

    def insert_arrow(self, table: str, data: pa.Table, settings: Mapping[str, Any] | None = None) -> int:
        if data.num_rows == 0:
            return 0
        try:
            self._client().insert_arrow(table, data, settings=dict(settings) if settings else None)
        except Exception as exc:
            raise WarehouseError(_clickhouse_message(exc)) from exc
        return data.num_rows

    def release_thread_client(self) -> None:
        """Close and forget the client the calling thread opened: a thread that ends (the metrics job's reader
        and writer) would otherwise leave its client open until the warehouse closes — one more per run in a
        long-lived process such as the scheduler."""
        client = getattr(self._local, "client", None)
        if client is None:
            return
        self._local.client = None
        with self._clients_lock:
            self._clients = [c for c in self._clients if c is not client]
        try:
            client.close()
        except Exception:  # pragma: no cover - closing is best effort
            pass

    def close(self) -> None:
        with self._clients_lock:
            clients, self._clients = self._clients, []
        for client in clients:
            try:
                client.close()
            except Exception:  # pragma: no cover - closing is best effort
                pass
        self._local = threading.local()
        if self._on_close is not None:
            on_close, self._on_close = self._on_close, None
            on_close()

