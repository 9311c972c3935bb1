"""Bookkeeping: the metrics job's state (``metrics_state``), what arrived when (``received_at`` of the raw
tables), the ingest ledger, quarantine, tokens and reference history.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from warehouse.client import Warehouse
from warehouse.migrations import current_tables
from warehouse.queries.sql import Where, final, in_list, ts_param
from typing import NamedTuple


# Serving the metrics job: its state --------------------------------------------------------------------
def get_state(wh: Warehouse, key: str) -> str | None:
    return wh.query_value("SELECT value FROM metrics_state FINAL WHERE key = {k:String}", {"k": key})


def set_state(wh: Warehouse, key: str, value: str) -> None:
    wh.command("INSERT INTO metrics_state (key, value) VALUES ({k:String}, {v:String})", {"k": key, "v": value})


def due_judged_on(wh: Warehouse) -> dt.date | None:
    """The day the latest metrics run judged rectification due-ness on: every stored ``bad_due`` /
    ``bad_overdue_unrectified`` / ``bad_in_progress`` is as of that day (each run recomputes every month
    whose due-ness moved since the run before). None before any run."""
    judged = get_state(wh, "due_judged_on")
    if judged:
        return dt.date.fromisoformat(judged)
    started = get_state(wh, "run_started")  # a warehouse computed before the day was kept apart
    return dt.datetime.fromisoformat(started).date() if started else None


#: The raw tables an incremental run looks for arrivals in, with the key that identifies a row.
ARRIVAL_KEYS = {"case_events": "event_id", "ratings": "rating_id", "followups": "followup_id",
                "items": "item_code, valid_from"}


def arrivals_digest(wh: Warehouse, after: str, upto: str) -> str:
    """A digest of every stored row (every physical copy) that arrived in (``after``, ``upto``]: equal
    digests taken at two moments mean no row of that interval became visible in between."""
    interval = f"received_at > {ts_param('a')} AND received_at <= {ts_param('b')}"
    parts = " UNION ALL ".join(
        f"SELECT '{table}' AS t, count() AS n, groupBitXor(cityHash64({key}, received_at)) AS h "
        f"FROM {table} WHERE {interval}" for table, key in ARRIVAL_KEYS.items())
    rows = sorted(wh.query_rows(parts, {"a": after, "b": upto}))
    return ";".join(f"{t}:{n}:{h}" for t, n, h in rows)


# What the stored data is as of (dashboard/ cache, reports/ data version) --------------------------------
#: Raw tables whose newest ``received_at`` is the data watermark.
RAW_TABLES = ("regions", "departments", "items", "calendar_overrides", "case_events", "ratings", "followups", "urges")
#: The column whose newest value marks a change in a table, the first of these it has: an arrival, an update,
#: a change of reference data, the facts' version, a metrics run, the row's computation, a migration.
CHANGE_COLUMNS = ("received_at", "updated_at", "changed_at", "version", "run_id", "computed_at", "applied_at")
#: The tables records arrive in (they have ``received_at``): raw records, reference data, the ledger, the
#: quarantine, urges.
ARRIVAL_TABLES = frozenset(name for name, table in current_tables().items() if "received_at" in table.column_names)


class DataStamp(NamedTuple):
    """What the stored data is as of: ``watermark`` — the newest ``received_at`` over the raw tables
    (``YYYY-MM-DD hh:mm:ss.fff``, Asia/Shanghai; None for an empty warehouse) —, the latest metrics run and
    the newest case-facts version; ``tables``, each table's own state (:meth:`of`). Equal stamps: nothing a
    page or a bulletin reads has changed."""

    watermark: str | None
    metrics_run: str
    facts_version: str
    #: (table, "<newest value of its change column>|<rows>") for every table of the schema, sorted
    tables: tuple[tuple[str, str], ...] = ()

    def of(self, tables) -> tuple:
        """The part of the stamp that says whether any of ``tables`` changed: each one's newest change and
        row count (a row written moves both; rows go only when a merge collapses replaced copies, which moves
        the count). A table the stamp does not know stands for the whole stamp."""
        known = dict(self.tables)
        if any(table not in known for table in tables):
            return tuple(self)
        return tuple((table, known[table]) for table in sorted(tables))

    def with_arrivals_of(self, earlier: "DataStamp") -> "DataStamp":
        """This stamp with the arrivals as ``earlier`` saw them: the tables that records arrive in
        (:data:`ARRIVAL_TABLES`) and the watermark from ``earlier``, everything the engine computes (case
        facts, results, runs) from this one."""
        before = dict(earlier.tables)
        return self._replace(watermark=earlier.watermark, tables=tuple(
            (table, before.get(table, state) if table in ARRIVAL_TABLES else state) for table, state in self.tables))


def data_stamp(wh: Warehouse) -> DataStamp:
    """The :class:`DataStamp` of the warehouse, in one query: each table's row count (its metadata) and the
    newest value of its change column (:data:`CHANGE_COLUMNS`; a ``received_at`` reads as
    ``YYYY-MM-DD hh:mm:ss.fff`` in Asia/Shanghai, the watermark's form)."""
    newest = {name: next((f"toString(max({c}))" for c in CHANGE_COLUMNS if c in table.column_names), "''")
              for name, table in current_tables().items()}
    rows = wh.query_rows(" UNION ALL ".join(
        f"SELECT '{name}' AS t, {expression} AS m, count() AS n FROM {name}" for name, expression in newest.items()))
    state = {t: (m, n) for t, m, n in sorted(rows)}
    arrived = [m for t, (m, n) in state.items() if t in RAW_TABLES and n > 0]
    return DataStamp(max(arrived) if arrived else None, state["metric_runs"][0], state["case_facts"][0],
                     tuple((t, f"{m}|{n}") for t, (m, n) in state.items()))


# Serving `hcp admin status`: how many rows each table holds ------------------------------------------------
def table_row_counts(wh: Warehouse, names: list[str]) -> dict[str, int]:
    """Rows of each named table that exists (``system.tables``; a missing table has no entry)."""
    return dict(wh.query_rows(
        "SELECT name, total_rows FROM system.tables WHERE database = currentDatabase() AND name IN {n:Array(String)}",
        {"n": list(names)},
    ))


# Serving the ingest quarantine (ingest.quarantine, ingest.replay) ------------------------------------------------
def existing_quarantine_ids(wh: Warehouse, ids: list[str]) -> set[str]:
    """The quarantine ids among ``ids`` that are stored (looked up 20 000 at a time)."""
    found: set[str] = set()
    for start in range(0, len(ids), 20_000):
        part = ids[start:start + 20_000]
        rows = wh.query_rows(
            "SELECT DISTINCT toString(quarantine_id) FROM quarantine "
            "WHERE quarantine_id IN (SELECT toUUID(arrayJoin({ids:Array(String)})))", {"ids": part})
        found.update(r[0] for r in rows)
    return found


def insert_quarantine(wh: Warehouse, rows: pl.DataFrame) -> int:
    """Append quarantine rows (a new record, or a new state of a stored one: the table keeps the latest)."""
    return wh.insert_df("quarantine", rows)


def quarantine_records(wh: Warehouse, *, status: str | None = "open", reason: str | None = None,
                       source: str | None = None, limit: int | None = None) -> pl.DataFrame:
    """The quarantined records (of a status, ``all`` or None: every one; of a reason; of a source), in the
    order they arrived (by arrival, source and position)."""
    where = Where()
    if status and status != "all":
        where.add("status = {status:String}", status=status)
    if reason:
        where.add("reason = {reason:String}", reason=reason)
    if source:
        where.add("source = {source:String}", source=source)
    sql = (
        "SELECT toString(quarantine_id) AS quarantine_id, received_at, source, position, kind, record_id, reason, "
        f"detail, raw, status, replayed_at FROM {final('quarantine')}"
        + (f" WHERE {where.sql()}" if where.conditions else "")
        + " ORDER BY received_at, source, length(position), position"
        + (f" LIMIT {int(limit)}" if limit else "")
    )
    return wh.query_df(sql, where.params)


# Serving the loader (ingest.loader): the ingest ledger ``received_ids`` and its transient stage tables ----------
def stage_tables(wh: Warehouse, prefix: str) -> list[str]:
    """The names of the tables of this database whose name starts with ``prefix`` (a loader's stages)."""
    return [r[0] for r in wh.query_rows(
        "SELECT name FROM system.tables WHERE database = currentDatabase() AND startsWith(name, {p:String})",
        {"p": prefix})]


def drop_table(wh: Warehouse, name: str) -> None:
    """Drop a transient table (a loader's stage) if it exists."""
    wh.command(f"DROP TABLE IF EXISTS `{name}`")


def create_stage(wh: Warehouse, name: str) -> None:
    """A transient in-memory table of ``(kind, record_id)`` rows: a batch's ids."""
    wh.command(f"CREATE TABLE `{name}` (kind String, record_id String) ENGINE = Memory")


#: Up to this many ids, and this many bytes of them, the ledger is looked up with the ids as a query parameter;
#: above either, through a stage table. A parameter of 10 000 ids binds in a few milliseconds, one of 300 000
#: would take seconds; and a ClickHouse server takes the parameters in the request's URL (at most 1 MiB by
#: default, ``http_max_uri_size``, where a byte may take three characters).
LEDGER_LOOKUP_BY_VALUE = 10_000
LEDGER_LOOKUP_BY_VALUE_BYTES = 256 << 10

_LEDGER_SELECT = "SELECT kind, record_id, argMax(content_hash, received_at) AS h FROM received_ids WHERE "


def ledger_hashes(wh: Warehouse, keys: pl.DataFrame, *, stage: str) -> pl.DataFrame:
    """``kind``, ``record_id``, ``h`` (the latest content hash the ledger holds) of every id of ``keys``
    (``kind``, ``record_id``) the ledger already knows: one look-up of ``received_ids`` by its key
    ``(kind, record_id)`` (the caller compares the hashes; a join here would cost ClickHouse more than the
    comparison costs Polars).

    A batch of up to :data:`LEDGER_LOOKUP_BY_VALUE` ids (and :data:`LEDGER_LOOKUP_BY_VALUE_BYTES` of them) sends
    them with the query; a larger one is staged in a transient table named ``stage``, created and dropped here."""
    if keys.height == 0:
        return pl.DataFrame(schema={"kind": pl.String, "record_id": pl.String, "h": pl.UInt64})
    if keys.height <= LEDGER_LOOKUP_BY_VALUE and keys["record_id"].str.len_bytes().sum() <= LEDGER_LOOKUP_BY_VALUE_BYTES:
        conditions, params = [], {}
        for i, (kind, ids) in enumerate(keys.group_by("kind", maintain_order=True).agg("record_id").iter_rows()):
            conditions.append(f"(kind = {{k{i}:String}} AND record_id IN {{r{i}:Array(String)}})")
            params[f"k{i}"], params[f"r{i}"] = kind, ids
        return wh.query_df(_LEDGER_SELECT + " OR ".join(conditions) + " GROUP BY kind, record_id", params)
    create_stage(wh, stage)
    try:
        wh.insert_df(stage, keys.select("kind", "record_id"))
        return wh.query_df(_LEDGER_SELECT + f"(kind, record_id) GLOBAL IN (SELECT kind, record_id FROM `{stage}`) "
                           "GROUP BY kind, record_id")
    finally:
        drop_table(wh, stage)


def record_in_ledger(wh: Warehouse, keys: pl.DataFrame) -> None:
    """Add ``kind``, ``record_id``, ``h`` (the content hash) rows to ``received_ids`` (received now)."""
    wh.insert_df("received_ids", keys.select("kind", "record_id", pl.col("h").alias("content_hash")))


def stored_by_id(wh: Warehouse, table: str, id_column: str, columns: list[str], ids: list[str]) -> pl.DataFrame:
    """The stored rows (``FINAL``; ``columns``) of a raw table whose id is among ``ids`` (20 000 at a time)."""
    names = ", ".join(f"`{c}`" for c in columns)
    parts = [wh.query_df(f"SELECT {names} FROM {final(table)} WHERE {in_list(id_column, 'ids')}",
                         {"ids": ids[start:start + 20_000]}) for start in range(0, len(ids), 20_000)]
    return pl.concat(parts) if parts else pl.DataFrame()


# Serving the ingest tokens (ingest.tokens): grants are rows of ``ingest_tokens``, the latest per name wins --------
TOKEN_FIELDS = "name, kinds, region_code, status, issued_at, revoked_at, note"


def token_rows(wh: Warehouse, name: str | None = None) -> pl.DataFrame:
    """The current grant of every token name (or of one), by name: :data:`TOKEN_FIELDS`."""
    where = " WHERE name = {n:String}" if name is not None else ""
    return wh.query_df(f"SELECT {TOKEN_FIELDS} FROM (SELECT * FROM {final('ingest_tokens')}){where} ORDER BY name",
                       {"n": name} if name is not None else {})


def tokens_by_hashes(wh: Warehouse, token_hashes: list[str]) -> list[tuple]:
    """The grants of tokens' hashes in one look-up (this runs for every wave of pushes: plain rows, no frame):
    ``token_hash`` then :data:`TOKEN_FIELDS` (region and status as text), one row per hash that is the
    current one of its name."""
    return wh.query_rows(
        "SELECT token_hash, name, kinds, toString(region_code), toString(status), issued_at, revoked_at, note FROM "
        f"(SELECT * FROM {final('ingest_tokens')}) WHERE token_hash IN {{h:Array(String)}}", {"h": list(token_hashes)})


def token_hash_of(wh: Warehouse, name: str) -> str | None:
    return wh.query_value(f"SELECT token_hash FROM {final('ingest_tokens')} WHERE name = {{n:String}}", {"n": name})


def token_updated_at(wh: Warehouse, name: str):
    """The latest ``updated_at`` of any row of a token name (None when it has none)."""
    return wh.query_value("SELECT max(updated_at) FROM ingest_tokens WHERE name = {n:String}", {"n": name})


def insert_token(wh: Warehouse, row: pl.DataFrame) -> None:
    wh.insert_df("ingest_tokens", row)


# Serving the reference-data history (ingest.history, hcp ingest history, the dashboard) --------------------------
def stored_change_ids(wh: Warehouse, ids: list[str]) -> set[str]:
    """The change ids among ``ids`` that ``reference_changes`` holds (20 000 at a time)."""
    seen: set[str] = set()
    for start in range(0, len(ids), 20_000):
        seen.update(r[0] for r in wh.query_rows(
            f"SELECT change_id FROM reference_changes WHERE {in_list('change_id', 'ids')}",
            {"ids": ids[start:start + 20_000]}))
    return seen


def insert_reference_changes(wh: Warehouse, rows: pl.DataFrame) -> int:
    return wh.insert_df("reference_changes", rows)


#: A change whose region, before or after, lies in the subtree ``{p}`` (what an office of it may see).
TOUCHES_REGION = ("(startsWith(JSONExtractString(before, 'region_code'), {p:String}) "
                  "OR startsWith(JSONExtractString(after, 'region_code'), {p:String}))")


def _touching(where: Where, region_prefix: str | None) -> Where:
    """``where`` narrowed to changes whose region before or after lies in a subtree (none: unchanged)."""
    return where.add(TOUCHES_REGION, p=region_prefix) if region_prefix else where


def reference_history(wh, *, kind: str | None = None, record_id: str | None = None, actor: str | None = None,
                      region_prefix: str | None = None, limit: int | None = None) -> pl.DataFrame:
    """Changes of reference data, oldest first: ``changed_at, kind, record_id, action, before, after,
    before_source, actor, source, position``.

    ``record_id`` is a region code, a department code or an item code (every version of the item);
    ``region_prefix`` keeps changes whose ``region_code`` before or after lies in that subtree.
    """
    where = _touching(Where(), region_prefix)
    if kind:
        where.add("kind = {kind:String}", kind=kind)
    if record_id:
        where.add("record_id = {rid:String} OR startsWith(record_id, {rid_at:String})", rid=record_id,
                  rid_at=record_id + "@")
    if actor:
        where.add("actor = {actor:String}", actor=actor)
    sql = ("SELECT changed_at, kind, record_id, action, before, after, before_source, actor, source, position "
           f"FROM {final('reference_changes')} WHERE {where.sql()} ORDER BY changed_at, kind, record_id, change_id"
           + (f" LIMIT {int(limit)}" if limit is not None and limit >= 0 else ""))
    params = where.params
    return wh.query_df(sql, params).with_columns(pl.col(pl.Categorical).cast(pl.String))


def department_region_changes(wh, *, dept_code: str | None = None, region_prefix: str | None = None,
                              include_created: bool = False) -> pl.DataFrame:
    """Who put a department in another region, oldest first: ``changed_at, dept_code, dept_name,
    region_before, region_after, actor, source, position``.

    Only changes of ``region_code`` (a renamed department is not listed); with ``include_created``, the
    creation of a department too (``region_before`` ''). ``region_prefix`` keeps moves into or out of
    that subtree — what a city or county office may see.
    """
    moved = "JSONExtractString(before, 'region_code') != JSONExtractString(after, 'region_code')"
    where = _touching(Where("kind = 'department'"), region_prefix)
    where.add(f"action = 'created' OR {moved}" if include_created else f"action = 'changed' AND {moved}")
    if dept_code:
        where.add("record_id = {d:String}", d=dept_code)
    sql = ("SELECT changed_at, record_id AS dept_code, JSONExtractString(after, 'dept_name') AS dept_name, "
           "JSONExtractString(before, 'region_code') AS region_before, "
           "JSONExtractString(after, 'region_code') AS region_after, actor, source, position "
           f"FROM {final('reference_changes')} WHERE {where.sql()} ORDER BY changed_at, dept_code")
    params = where.params
    return wh.query_df(sql, params)


# Serving the stream follower (ingest.follow): where a stream's reading stands --------------------------------------
def checkpoint_of(wh: Warehouse, stream: str) -> tuple[str, int] | None:
    """(file id, byte position) a followed stream was read up to, or None."""
    rows = wh.query_rows(
        f"SELECT file_id, position FROM {final('ingest_checkpoints')} WHERE stream = {{s:String}}", {"s": stream})
    return (rows[0][0], int(rows[0][1])) if rows else None


def insert_checkpoint(wh: Warehouse, stream: str, file_id: str, position: int) -> None:
    wh.insert_df("ingest_checkpoints", pl.DataFrame(
        {"stream": [stream], "file_id": [file_id], "position": [position]},
        schema={"stream": pl.String, "file_id": pl.String, "position": pl.UInt64}))
