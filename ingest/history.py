"""Reference-data history: every change of a region, department or catalogue item — who, when, from
where, what it was before and what after.

Reference data is "latest received wins", and it decides who sees what (a department's ``region_code``
puts its figures in a city's dashboard), so each change is kept in ``reference_changes`` (migration 5):

* one row per record that a batch **creates** (no stored version) or **changes** (stored content
  differs), with ``before``/``after`` as JSON objects of the record's content fields, the ``actor``
  (``token:<name>`` for an HTTP push, ``operator:<user>`` for local ingest and replays), ``source`` and
  ``position`` of the new version and ``before_source`` of the replaced one. An identical resend is no
  change and leaves no row.
* **Append-only**: rows are never updated or deleted. ``change_id`` is a digest of (kind, id, before,
  after, source, position), so a batch re-read after a crash records its changes once (the table is a
  ReplacingMergeTree on it and ids are looked up before inserting).
* The loader writes the history of a batch **before** its data rows: a crash in between leaves a history
  row whose change a restart then stores (the same id, not doubled); a crash after the data insert
  leaves a stored row equal to the resend, which is no change — so no change goes unrecorded.

Read it with :func:`warehouse.queries.state.reference_history` (``hcp ingest history``) and
:func:`warehouse.queries.state.department_region_changes` (who moved a department from one region to another;
for the dashboard).
"""

from __future__ import annotations

import hashlib

import polars as pl

from ingest.convert import WAREHOUSE_COLUMNS, content_expr
from ingest.fields import KIND_TABLE, REFERENCE_KINDS, record_id_expr
from warehouse.queries.state import insert_reference_changes, stored_by_id, stored_change_ids

#: The content fields of each reference kind, as kept in ``before``/``after``.
CONTENT_FIELDS = {k: [c for c in WAREHOUSE_COLUMNS[k] if c not in ("extra", "source")] for k in REFERENCE_KINDS}
HISTORY_COLUMNS = ["change_id", "kind", "record_id", "action", "before", "after", "before_source", "actor",
                   "source", "position"]


def _json_expr(kind: str) -> pl.Expr:
    cols = CONTENT_FIELDS[kind]
    return pl.struct([pl.col(c).dt.to_string("%Y-%m-%d") if c == "valid_from" else pl.col(c) for c in cols]) \
        .struct.json_encode()


def stored_versions(wh, kind: str, ids: list[str]) -> pl.DataFrame:
    """The stored (FINAL) version of each id: ``_rid``, ``_stored_hash``, ``before``, ``before_source``."""
    table = KIND_TABLE[kind]
    key = "item_code" if kind == "item" else ("dept_code" if kind == "department" else "region_code")
    keys = sorted({i.split("@", 1)[0] for i in ids}) if kind == "item" else sorted(set(ids))
    stored = stored_by_id(wh, table, key, list(WAREHOUSE_COLUMNS[kind]), keys)
    if stored.height == 0:
        return pl.DataFrame(schema={"_rid": pl.String, "_stored_hash": pl.UInt64, "before": pl.String,
                                    "before_source": pl.String})
    stored = stored.with_columns(pl.col(pl.Categorical).cast(pl.String))
    return stored.select(
        record_id_expr(kind).alias("_rid"),
        content_expr(kind).hash(seed=0).alias("_stored_hash"),
        _json_expr(kind).alias("before"),
        pl.col("source").cast(pl.String).alias("before_source"),
    ).filter(pl.col("_rid").is_in(ids))


def change_rows(wh, kind: str, rows: pl.DataFrame, *, actor: str) -> pl.DataFrame:
    """History rows for the reference ``rows`` about to be inserted (warehouse columns plus ``_rid``,
    ``_hash`` — the content hash the ledger uses — and ``_pos``): created and changed records only."""
    if rows.height == 0:
        return pl.DataFrame()
    stored = stored_versions(wh, kind, rows["_rid"].to_list())
    joined = rows.join(stored, on="_rid", how="left", maintain_order="left")
    joined = joined.filter(pl.col("_stored_hash").is_null() | (pl.col("_stored_hash") != pl.col("_hash")))
    if joined.height == 0:
        return pl.DataFrame()
    out = joined.select(
        pl.lit(kind).alias("kind"),
        pl.col("_rid").alias("record_id"),
        pl.when(pl.col("_stored_hash").is_null()).then(pl.lit("created")).otherwise(pl.lit("changed")).alias("action"),
        pl.col("before").fill_null(""),
        _json_expr(kind).alias("after"),
        pl.col("before_source").fill_null(""),
        pl.lit(actor).alias("actor"),
        pl.col("source").cast(pl.String),
        (pl.col("_pos").cast(pl.String) if "_pos" in joined.columns else pl.lit("")).fill_null("").alias("position"),
    )
    ids = [hashlib.blake2b("\x1f".join(values).encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
           for values in out.select("kind", "record_id", "before", "after", "source", "position").iter_rows()]
    return out.with_columns(pl.Series("change_id", ids, dtype=pl.String)).select(HISTORY_COLUMNS)


def store(wh, rows: pl.DataFrame) -> int:
    """Append history rows whose ``change_id`` is not stored yet."""
    if rows.height == 0:
        return 0
    rows = rows.unique("change_id", keep="first", maintain_order=True)
    seen = stored_change_ids(wh, rows["change_id"].to_list())
    if seen:
        rows = rows.filter(pl.col("change_id").is_in(list(seen)).not_())
    if rows.height:
        insert_reference_changes(wh, rows)
    return rows.height
