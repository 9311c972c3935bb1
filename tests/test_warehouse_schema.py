"""The schema: local DDL builds, cluster DDL parses with ClickHouse's own parser, and both agree."""

from __future__ import annotations

import re

from warehouse.migrations import LATEST_VERSION, current_tables
from warehouse.schema import schema_statements


def test_every_cluster_statement_parses_with_clickhouse(warehouse):
    statements = schema_statements(current_tables(), cluster="hcp_cluster")
    assert statements
    for statement in statements:
        formatted = warehouse.query_value("SELECT formatQuery({q:String})", {"q": statement})
        assert "ON CLUSTER hcp_cluster" in formatted


def test_cluster_form_uses_replication_macros_and_shards_by_region():
    statements = "\n".join(schema_statements(current_tables(), cluster="c"))
    assert "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/case_events_local', '{replica}')" in statements
    assert "ENGINE = Distributed(c, currentDatabase(), case_events_local, cityHash64(substring(region_code, 1, 4)))" in statements
    assert "ENGINE = Distributed(c, currentDatabase(), ratings_local, cityHash64(substring(region_code, 1, 4)))" in statements
    # Dimension tables are replicated whole to every node, not sharded.
    assert "'/clickhouse/tables/all/{database}/items', '{replica}'" in statements
    assert "items_local" not in statements


def _columns(wh, table):
    return wh.query_rows(
        "SELECT name, type, default_kind, default_expression FROM system.columns "
        "WHERE database = currentDatabase() AND table = {t:String} ORDER BY position",
        {"t": table},
    )


def test_local_and_cluster_schemas_have_the_same_columns(warehouse):
    """Build each cluster per-node table without replication (the same DDL minus Keeper) and compare."""
    tables = current_tables()
    for statement in schema_statements(tables, cluster="c"):
        if "ENGINE = Distributed" in statement:
            continue
        name = re.search(r"CREATE TABLE IF NOT EXISTS (\w+)", statement).group(1)
        local_twin = statement.replace(" ON CLUSTER c", "")
        local_twin = re.sub(r"ENGINE = Replicated(\w*)\('[^']*', '\{replica\}'(, )?", r"ENGINE = \1(", local_twin)
        local_twin = local_twin.replace(f"EXISTS {name}\n", f"EXISTS cluster_twin_{name}\n")
        warehouse.command(local_twin)
        base = name.removesuffix("_local")
        assert _columns(warehouse, f"cluster_twin_{name}") == _columns(warehouse, base), base
    assert len(tables) >= 11 and LATEST_VERSION >= 2


def test_local_schema_uses_clickhouse_native_types(warehouse):
    cols = dict((name, typ) for name, typ, *_ in _columns(warehouse, "case_events"))
    assert cols["event_time"] == "DateTime64(3, 'Asia/Shanghai')"
    assert cols["event_type"] == "LowCardinality(String)"
    ddl = warehouse.query_value("SELECT create_table_query FROM system.tables WHERE name = 'case_events' AND database = currentDatabase()")
    assert "PARTITION BY toYYYYMM(event_time)" in ddl and "ORDER BY (case_id, event_id)" in ddl


def test_a_delete_reaches_the_per_node_tables_of_a_cluster_and_the_table_itself_elsewhere(warehouse):
    """A ``Distributed`` table holds no rows: rows are deleted from its per-node tables, on every node."""
    from warehouse.schema import delete_statement

    engine = "Distributed('hcp', 'default', 'case_facts_local', cityHash64(substring(region_code, 1, 4)))"
    on_cluster = delete_statement("case_facts", "version < 7", engine)
    assert on_cluster == "ALTER TABLE case_facts_local ON CLUSTER hcp DELETE WHERE version < 7 SETTINGS mutations_sync = 1"
    assert "ON CLUSTER hcp" in warehouse.query_value("SELECT formatQuery({q:String})", {"q": on_cluster})
    local = delete_statement("case_facts", "version < 7", "ReplacingMergeTree(version) ORDER BY case_id")
    assert local == "ALTER TABLE case_facts DELETE WHERE version < 7 SETTINGS mutations_sync = 1"
