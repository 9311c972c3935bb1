"""The warehouse layer: the one place that knows about ClickHouse.

* :mod:`warehouse.dsn` parses ``chdb:///dir`` and ``http(s)://…`` DSNs.
* :mod:`warehouse.client` is the small facade every other package uses (Arrow/Polars in and out).
* :mod:`warehouse.schema` declares every table once; local and cluster DDL are both generated from it.
* :mod:`warehouse.migrations` applies the versioned schema idempotently.
* :mod:`warehouse.embedded` and :mod:`warehouse.owner` make one process own an embedded (chDB)
  warehouse while every other process goes through it.
"""

from warehouse.client import Warehouse, WarehouseBusy, WarehouseError
from warehouse.connect import open_warehouse

__all__ = ["Warehouse", "WarehouseBusy", "WarehouseError", "open_warehouse"]
