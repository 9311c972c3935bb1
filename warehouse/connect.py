"""Opening the warehouse named by a DSN, embedded or server, directly or through its owner."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import clickhouse_connect

from hcp.config import get_config
from hcp.settings import warehouse_dsn
from warehouse.client import ClickHouseWarehouse, Warehouse, WarehouseBusy, WarehouseError
from warehouse.dsn import DSN, parse_dsn
from warehouse import embedded

def open_warehouse(dsn: str | None = None, *, wait: float | None = None, own: bool = False) -> Warehouse:
    """Open the warehouse named by ``dsn`` (default: ``$HCP_WAREHOUSE`` or the embedded default).

    For an embedded warehouse, the directory is opened here if no other process holds it; if an
    owner (``hcp serve``) holds it, calls go through the owner. Another holder that does not share
    the warehouse is waited for up to ``wait`` seconds, then :class:`WarehouseBusy` explains who it
    is (default: ``[warehouse] wait_seconds``, which ``$HCP_WAIT`` overrides). ``own=True`` (used by ``hcp serve``) insists on opening the
    directory in this process.
    """
    if wait is None:
        wait = get_config().warehouse.wait_seconds
    parsed = parse_dsn(warehouse_dsn(dsn))
    if not parsed.embedded:
        return _open_server(parsed)
    return _open_embedded(parsed, wait=wait, own=own)


def _open_server(parsed: DSN) -> Warehouse:
    # clickhouse-connect logs its own traceback-like line for a failed request; the error we raise says it.
    logging.getLogger("clickhouse_connect").setLevel(logging.CRITICAL)

    def factory():
        return clickhouse_connect.get_client(dsn=parsed.raw, send_receive_timeout=3600)

    try:
        return ClickHouseWarehouse(factory, display_dsn=parsed.display(), embedded=False)
    except WarehouseError as exc:
        raise WarehouseError(f"无法连接 ClickHouse 服务器 / cannot reach the ClickHouse server {parsed.display()}: {exc}") from exc


def _open_embedded(parsed: DSN, *, wait: float, own: bool) -> Warehouse:
    directory: Path = parsed.path  # type: ignore[assignment]
    deadline = time.monotonic() + max(wait, 0.0)
    while True:
        lock = embedded.try_lock(directory)
        if lock is not None:
            return _open_locked(parsed, lock)
        if not own:
            owner = embedded.read_owner(directory)
            if owner:
                from warehouse.owner import OwnerWarehouse  # lazy: starlette and urllib3 load only to proxy to an owner

                proxy = OwnerWarehouse(owner["url"], owner["token"], display_dsn=parsed.display())
                if proxy.ping():
                    return proxy
        if time.monotonic() >= deadline:
            raise WarehouseBusy(_busy_message(directory, own=own))
        time.sleep(0.2)


#: Session settings of every embedded client. Query results cross no network, so the Arrow blocks are not
#: compressed (ClickHouse's default, lz4, cost about half the CPU of reading the ratings of the 1 M-case bench
#: into Arrow: 0.82 s against 0.37 s; the same data, decoded the same way).
EMBEDDED_SESSION_SETTINGS = {"output_format_arrow_compression_method": "none"}


def _open_locked(parsed: DSN, lock: embedded.DirectoryLock) -> Warehouse:
    def factory():
        client = clickhouse_connect.get_client(dsn=f"chdb://{parsed.path}")
        for name, value in EMBEDDED_SESSION_SETTINGS.items():
            client.command(f"SET {name} = '{value}'")
        return client

    try:
        return ClickHouseWarehouse(factory, display_dsn=parsed.display(), embedded=True, on_close=lock.release)
    except WarehouseError as exc:
        lock.release()
        if "EmbeddedServer" in str(exc):
            raise WarehouseBusy(
                f"仓库 {parsed.path} 已被另一个进程（非 hcp）打开 / the warehouse {parsed.path} is open in "
                "another process that hcp does not know about; close it and retry"
            ) from exc
        raise


def _busy_message(directory: Path, *, own: bool) -> str:
    holder = embedded.read_holder(directory)
    who = f"pid {holder.get('pid', '?')} ({holder.get('command', 'unknown command')}, since {holder.get('since', '?')})"
    if own:
        return (
            f"仓库正被占用 / the warehouse {directory} is already open in {who}; "
            "stop that process before starting another owner"
        )
    return (
        f"仓库正被占用 / the warehouse {directory} is busy: {who} holds it and does not share it. "
        "Wait for it to finish, or run `hcp serve` so that every command can share the warehouse."
    )
