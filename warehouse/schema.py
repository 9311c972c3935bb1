"""Every warehouse table, declared once.

The schema is the fold of the versioned migrations in :mod:`warehouse.migrations`: each migration is
a list of operations (:class:`CreateTable`, :class:`AddColumns`), and :func:`current_tables` applies
them all. Two renderings come from the same declarations:

* **local** — plain ``*MergeTree`` tables, for the embedded warehouse and a single server;
* **cluster** — for each table a ``ReplicatedMergeTree`` family table ``<name>_local`` on every
  shard (ZooKeeper/Keeper path with ``{shard}``/``{replica}`` macros) and a ``Distributed`` table
  ``<name>`` over it, sharded by region; small dimension tables are replicated whole to every node
  (one Keeper path, no ``{shard}``), so joins against them stay local.

Queries always use the plain names, so the same SQL runs embedded, on a server and on a cluster.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

TS = "DateTime64(3, 'Asia/Shanghai')"
LC = "LowCardinality(String)"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    default: str | None = None  # SQL expression
    comment: str = ""

    def ddl(self) -> str:
        text = f"`{self.name}` {self.type}"
        if self.default is not None:
            text += f" DEFAULT {self.default}"
        if self.comment:
            text += " COMMENT '" + self.comment.replace("'", "\\'") + "'"
        return text


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    order_by: str
    engine: str = "ReplacingMergeTree"  # MergeTree family name without "Replicated"
    engine_args: str = ""  # e.g. the version column of a ReplacingMergeTree
    partition_by: str | None = None
    #: Distributed sharding expression; None = replicate the whole table to every node.
    shard_key: str | None = None
    comment: str = ""
    settings: str = ""

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"{self.name}.{name}")

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


# Operations ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateTable:
    table: Table


@dataclass(frozen=True)
class AddColumns:
    table: str
    columns: tuple[Column, ...]
    after: str | None = None  # column the first new one goes after (None: at the end)


Operation = CreateTable | AddColumns


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    operations: tuple[Operation, ...] = field(default_factory=tuple)


def apply_operation(tables: dict[str, Table], op: Operation) -> dict[str, Table]:
    """The tables after one operation (a new dict; the input is left alone)."""
    tables = dict(tables)
    if isinstance(op, CreateTable):
        tables[op.table.name] = op.table
    else:
        old = tables[op.table]
        cols = list(old.columns)
        at = len(cols) if op.after is None else old.column_names.index(op.after) + 1
        cols[at:at] = op.columns
        tables[op.table] = replace(old, columns=tuple(cols))
    return tables


def fold(migrations: list[Migration], up_to: int | None = None) -> dict[str, Table]:
    """The tables as they stand after applying ``migrations`` (up to a version, inclusive)."""
    tables: dict[str, Table] = {}
    for migration in sorted(migrations, key=lambda m: m.version):
        if up_to is not None and migration.version > up_to:
            break
        for op in migration.operations:
            tables = apply_operation(tables, op)
    return tables


# Rendering -----------------------------------------------------------------------------------


def _engine_clause(table: Table, engine: str, args: str) -> str:
    lines = [f"ENGINE = {engine}({args})"]
    if table.partition_by:
        lines.append(f"PARTITION BY {table.partition_by}")
    lines.append(f"ORDER BY {table.order_by}")
    if table.settings:
        lines.append(f"SETTINGS {table.settings}")
    if table.comment:
        lines.append("COMMENT '" + table.comment.replace("'", "\\'") + "'")
    return "\n".join(lines)


def _columns_clause(columns: tuple[Column, ...]) -> str:
    return "(\n    " + ",\n    ".join(c.ddl() for c in columns) + "\n)"


def local_create(table: Table) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for the embedded warehouse or a single server."""
    return (
        f"CREATE TABLE IF NOT EXISTS {table.name}\n{_columns_clause(table.columns)}\n"
        + _engine_clause(table, table.engine, table.engine_args)
    )


def local_table_name(table: Table) -> str:
    """Name of the per-node table on a cluster (the plain name is the Distributed table)."""
    return f"{table.name}_local" if table.shard_key else table.name


def cluster_create(table: Table, cluster: str) -> list[str]:
    """The cluster form: a replicated per-node table plus, for sharded tables, a Distributed one."""
    node_name = local_table_name(table)
    shard_part = "{shard}" if table.shard_key else "all"
    zk_path = f"'/clickhouse/tables/{shard_part}/{{database}}/{node_name}', '{{replica}}'"
    args = zk_path + (f", {table.engine_args}" if table.engine_args else "")
    statements = [
        f"CREATE TABLE IF NOT EXISTS {node_name} ON CLUSTER {cluster}\n{_columns_clause(table.columns)}\n"
        + _engine_clause(table, f"Replicated{table.engine}", args)
    ]
    if table.shard_key:
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {table.name} ON CLUSTER {cluster} AS {node_name}\n"
            f"ENGINE = Distributed({cluster}, currentDatabase(), {node_name}, {table.shard_key})"
        )
    return statements


def delete_statement(table: str, condition: str, engine_full: str) -> str:
    """``ALTER TABLE … DELETE WHERE condition`` for ``table`` as it is stored, waiting for the mutation to end.

    ``engine_full`` is the stored table's engine (``system.tables.engine_full``). A ``Distributed`` table (the
    cluster form) holds no rows: the rows are deleted from its per-node tables on every node of its cluster,
    ``ON CLUSTER``. Anything else is the table itself."""
    if engine_full.startswith("Distributed("):
        cluster = engine_full.removeprefix("Distributed(").split(",", 1)[0].strip().strip("'\"`")
        target = f"{table}_local ON CLUSTER {cluster}"
    else:
        target = table
    return f"ALTER TABLE {target} DELETE WHERE {condition} SETTINGS mutations_sync = 1"


def add_columns_statements(op: AddColumns, tables: dict[str, Table], cluster: str | None) -> list[str]:
    """``ALTER TABLE … ADD COLUMN IF NOT EXISTS`` for the local or the cluster form."""
    table = tables[op.table]
    targets = [table.name] if cluster is None else ([local_table_name(table), table.name] if table.shard_key else [table.name])
    on_cluster = f" ON CLUSTER {cluster}" if cluster else ""
    statements = []
    for target in targets:
        previous = op.after
        clauses = []
        for col in op.columns:
            where = f" AFTER `{previous}`" if previous else ""
            clauses.append(f"ADD COLUMN IF NOT EXISTS {col.ddl()}{where}")
            previous = col.name
        statements.append(f"ALTER TABLE {target}{on_cluster}\n    " + ",\n    ".join(clauses))
    return statements


def operation_statements(op: Operation, tables_before: dict[str, Table], cluster: str | None) -> list[str]:
    """SQL for one migration operation, given the tables as they were before it."""
    if isinstance(op, CreateTable):
        return [local_create(op.table)] if cluster is None else cluster_create(op.table, cluster)
    return add_columns_statements(op, tables_before, cluster)


def schema_statements(tables: dict[str, Table], cluster: str | None = None) -> list[str]:
    """The whole current schema as CREATE statements (what ``hcp schema`` prints)."""
    statements: list[str] = []
    for table in tables.values():
        statements.extend([local_create(table)] if cluster is None else cluster_create(table, cluster))
    return statements
