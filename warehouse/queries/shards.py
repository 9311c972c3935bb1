"""The city shards of a cluster (docs/cluster.md): which rows a worker of a partitioned metrics run takes.

The cluster places case events, ratings and case facts by the table's shard key (declared once in
:mod:`warehouse.migrations`: ``cityHash64(substring(region_code, 1, 4))``, the city prefix of the row's own
region), the ``Distributed`` engine sending a row to shard ``key % shards`` (shards of equal weight). A
province-level row (``370000000000``: prefix ``3700``) is one more "city" and lives on one shard.

A worker is given a list of city prefixes; its rows are the events and ratings whose region starts with one
of them (:func:`city_condition`), read through the cluster-wide tables, so the follow-ups of its ratings
(sharded by rating id) are found wherever they live.
"""

from __future__ import annotations

from warehouse.client import Warehouse
from warehouse.migrations import current_tables
from warehouse.queries.sql import Where

#: The city of a row: the first four digits of its own region code (a province's own rows: ``3700``).
CITY_OF_ROW = "substring(region_code, 1, 4)"


def city_condition(cities: list[str] | tuple[str, ...], where: Where | None = None) -> Where:
    """Rows (case events, ratings, case facts) whose own region lies in one of the cities."""
    where = where if where is not None else Where()
    return where.add(f"{CITY_OF_ROW} IN {{cities:Array(String)}}", cities=sorted(set(cities)))


def shard_condition(table: str, shards: int, shard: int) -> str:
    """SQL condition: the row of ``table`` is placed on shard ``shard`` (1-based) of ``shards`` equal ones by the
    table's own shard key, as the cluster's ``Distributed`` table places it."""
    key = current_tables()[table].shard_key
    if key is None:
        raise ValueError(f"{table} is replicated whole, not sharded")
    return f"({key}) % {int(shards)} = {int(shard) - 1}"


def cities_of_shard(wh: Warehouse, shards: int, shard: int) -> list[str]:
    """The city prefixes placed on shard ``shard`` (1-based) of ``shards``: those of the regions, events and
    ratings (a region missing from the reference table still has its rows taken by one worker)."""
    return [row[0] for row in wh.query_rows(
        f"SELECT DISTINCT {CITY_OF_ROW} AS city FROM ("
        "SELECT region_code FROM regions UNION ALL SELECT DISTINCT region_code FROM case_events "
        "UNION ALL SELECT DISTINCT region_code FROM ratings) "
        f"WHERE {shard_condition('case_events', shards, shard)} ORDER BY city")]


def shard_rows(wh: Warehouse, table: str, shards: int, shard: int):
    """The rows of a sharded raw table (deduplicated) that the cluster places on one shard."""
    return wh.query_df(f"SELECT * FROM {table} FINAL WHERE {shard_condition(table, shards, shard)}")


def followups_of_shard(wh: Warehouse, shards: int, shard: int):
    """The follow-ups of the ratings placed on one shard: what a worker of that shard's cities reads (through
    the cluster-wide table: follow-ups themselves are sharded by rating id)."""
    return wh.query_df("SELECT * FROM followups FINAL WHERE rating_id IN "
                       f"(SELECT rating_id FROM ratings WHERE {shard_condition('ratings', shards, shard)})")


def whole_table(wh: Warehouse, table: str):
    """Every row of a reference table (replicated whole to every node of a cluster)."""
    return wh.query_df(f"SELECT * FROM {table} FINAL")


def rows_off_their_city(wh: Warehouse) -> tuple[int, int]:
    """What would break the city sharding: cases whose events name more than one city, and ratings of a case
    whose city differs from the rating's own (such a case's facts and its ratings would be counted on two
    shards). Both 0 for the partitioned compute to be exact."""
    return wh.query_rows(
        f"SELECT (SELECT count() FROM (SELECT case_id FROM case_events GROUP BY case_id "
        f"        HAVING uniqExact({CITY_OF_ROW}) > 1)), "
        f"(SELECT count() FROM ratings AS r INNER JOIN (SELECT case_id, any({CITY_OF_ROW}) AS city "
        f"  FROM case_events GROUP BY case_id) AS c ON r.case_id = c.case_id "
        f"  WHERE r.case_id != '' AND substring(r.region_code, 1, 4) != c.city)")[0]
