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

Read it with :func:`reference_history` (``hcp ingest history``) and :func:`department_region_changes`
(who moved a department from one region to another; for the dashboard).
"""

from __future__ import annotations

import hashlib

import polars as pl

from ingest.convert import WAREHOUSE_COLUMNS, content_expr
from ingest.fields import KIND_TABLE, REFERENCE_KINDS, record_id_expr

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
    columns = ", ".join(f"`{c}`" for c in WAREHOUSE_COLUMNS[kind])
    parts = []
    for start in range(0, len(keys), 20_000):
        parts.append(wh.query_df(f"SELECT {columns} FROM {table} FINAL WHERE {key} IN {{ids:Array(String)}}",
                                 {"ids": keys[start:start + 20_000]}))
    empty = pl.DataFrame(schema={"_rid": pl.String, "_stored_hash": pl.UInt64, "before": pl.String,
                                 "before_source": pl.String})
    parts = [p for p in parts if p.height]
    if not parts:
        return empty
    stored = pl.concat(parts).with_columns(pl.col(pl.Categorical).cast(pl.String))
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
    ids = rows["change_id"].to_list()
    seen: set[str] = set()
    for start in range(0, len(ids), 20_000):
        seen.update(r[0] for r in wh.query_rows(
            "SELECT change_id FROM reference_changes WHERE change_id IN {ids:Array(String)}",
            {"ids": ids[start:start + 20_000]}))
    if seen:
        rows = rows.filter(pl.col("change_id").is_in(list(seen)).not_())
    if rows.height:
        wh.insert_df("reference_changes", rows)
    return rows.height


# Reading -------------------------------------------------------------------------------------------


#: A change whose region, before or after, lies in the subtree ``{p}`` (what an office of it may see).
TOUCHES_REGION = ("(startsWith(JSONExtractString(before, 'region_code'), {p:String}) "
                  "OR startsWith(JSONExtractString(after, 'region_code'), {p:String}))")


def reference_history(wh, *, kind: str | None = None, record_id: str | None = None, actor: str | None = None,
                      region_prefix: str | None = None, limit: int | None = None) -> pl.DataFrame:
    """Changes of reference data, oldest first: ``changed_at, kind, record_id, action, before, after,
    before_source, actor, source, position``.

    ``record_id`` is a region code, a department code or an item code (every version of the item);
    ``region_prefix`` keeps changes whose ``region_code`` before or after lies in that subtree.
    """
    where, params = [], {}
    if kind:
        where.append("kind = {kind:String}")
        params["kind"] = kind
    if record_id:
        where.append("(record_id = {rid:String} OR startsWith(record_id, {rid_at:String}))")
        params.update(rid=record_id, rid_at=record_id + "@")
    if actor:
        where.append("actor = {actor:String}")
        params["actor"] = actor
    if region_prefix:
        where.append(TOUCHES_REGION)
        params["p"] = region_prefix
    sql = ("SELECT changed_at, kind, record_id, action, before, after, before_source, actor, source, position "
           "FROM reference_changes FINAL" + (" WHERE " + " AND ".join(where) if where else "")
           + " ORDER BY changed_at, kind, record_id, change_id"
           + (f" LIMIT {int(limit)}" if limit is not None and limit >= 0 else ""))
    return wh.query_df(sql, params).with_columns(pl.col(pl.Categorical).cast(pl.String))


def department_region_changes(wh, *, dept_code: str | None = None, region_prefix: str | None = None,
                              include_created: bool = False) -> pl.DataFrame:
    """Who put a department in another region, oldest first: ``changed_at, dept_code, dept_name,
    region_before, region_after, actor, source, position``.

    Only changes of ``region_code`` (a renamed department is not listed); with ``include_created``, the
    creation of a department too (``region_before`` ''). ``region_prefix`` keeps moves into or out of
    that subtree — what a city or county office may see.
    """
    where = ["kind = 'department'"]
    params: dict = {}
    moved = "JSONExtractString(before, 'region_code') != JSONExtractString(after, 'region_code')"
    where.append(f"(action = 'created' OR {moved})" if include_created else f"action = 'changed' AND {moved}")
    if dept_code:
        where.append("record_id = {d:String}")
        params["d"] = dept_code
    if region_prefix:
        where.append(TOUCHES_REGION)
        params["p"] = region_prefix
    sql = ("SELECT changed_at, record_id AS dept_code, JSONExtractString(after, 'dept_name') AS dept_name, "
           "JSONExtractString(before, 'region_code') AS region_before, "
           "JSONExtractString(after, 'region_code') AS region_after, actor, source, position "
           "FROM reference_changes FINAL WHERE " + " AND ".join(where)
           + " ORDER BY changed_at, dept_code")
    return wh.query_df(sql, params)
