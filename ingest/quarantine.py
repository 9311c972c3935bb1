"""The quarantine: records that broke an interchange rule, kept with the reason — never clear PII.

* :func:`quarantine_rows` builds quarantine rows from rejected input rows. The raw text is the line as
  received (JSON Lines) or a JSON object of the row's cells (CSV, Excel, Parquet), with personal data
  masked whatever the shape of ``applicant``/``rater`` (:func:`ingest.convert.protect_people`,
  :func:`ingest.convert.protect_raw_expr`), U+FFFD written as the escape ``\\ufffd`` (the character
  itself never reaches the warehouse) and at most :data:`ingest.limits.MAX_RAW_CHARS` kept (then
  ``…[truncated]``; such a record is not replayed). When the person could be read, the record also
  carries its pseudonyms in a leading ``"_pii"`` member so a replay links it to the same person.
* ``quarantine_id`` is a UUID derived from (source, position, masked raw): the same bad record from
  the same place always gets the same id, so re-reading a source after a crash or a restart never
  quarantines it twice (``quarantine`` is a ReplacingMergeTree on ``quarantine_id``; read it with FINAL).
* :func:`list_quarantine` serves ``hcp quarantine``; replaying (``hcp quarantine replay``) is
  :func:`ingest.replay.replay`, which runs the records through the loader again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

import polars as pl

from hcp.pii import PiiKey
from hcp.settings import TIMEZONE
from ingest.convert import person_key_expr, protect_people, protect_raw_expr
from ingest.fields import EXTRA, GROUP, KNOWN_FIELDS, PII_CARRIER, RAW
from ingest.limits import MAX_RAW_CHARS, TRUNCATED_MARK
from ingest.readers import extra_json_expr
from hcp.frames import ENGINE
from ingest.validate import values_of
from warehouse.queries.state import existing_quarantine_ids, insert_quarantine, quarantine_records

QUARANTINE_COLUMNS = ["quarantine_id", "received_at", "source", "position", "kind", "record_id", "reason",
                      "detail", "raw", "status", "updated_at"]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def quarantine_id(source: str, position: str, raw: str) -> str:
    digest = hashlib.blake2b(f"{source}\x1f{position}\x1f{raw}".encode(), digest_size=16).digest()
    return str(uuid.UUID(bytes=digest))


def raw_text(frame: pl.DataFrame) -> pl.Series:
    """The record's text: the received line, else a JSON object of its known cells plus unknown ones.

    The cells' JSON is built once (a column may hold megabytes), then merged with the unknown fields.
    """
    known = [c for c in frame.columns if c in KNOWN_FIELDS]
    cells = values_of(frame, extra_json_expr(known)).alias("_cells").to_frame()
    extra = values_of(frame, pl.col(EXTRA).fill_null("") if EXTRA in frame.columns else pl.lit("")).alias("_x").to_frame()
    both = pl.concat([cells, extra], how="horizontal").lazy().select(
        pl.when(pl.col("_x") == "").then(pl.col("_cells"))
        .when(pl.col("_cells") == "").then(pl.col("_x"))
        .otherwise(pl.col("_cells").str.strip_suffix("}") + pl.lit(",") + pl.col("_x").str.strip_prefix("{"))
        .alias("_m")).select(pl.when(pl.col("_m") == "").then(pl.lit("{}")).otherwise(pl.col("_m")).alias("raw"))
    built = both.collect(engine=ENGINE).to_series()
    if RAW in frame.columns:
        return frame.select(pl.coalesce(pl.col(RAW), pl.lit(built))).to_series().alias("raw")
    return built


_MASK_MARGIN = 4096


def stored_raw_expr(raw: pl.Expr) -> pl.Expr:
    """Raw text as the quarantine keeps it: U+FFFD as the escape ``\\ufffd``, cut to MAX_RAW_CHARS."""
    raw = raw.str.replace_all("\ufffd", "\\ufffd", literal=True)
    return pl.when(raw.str.len_chars() > MAX_RAW_CHARS).then(
        raw.str.slice(0, MAX_RAW_CHARS) + pl.lit(TRUNCATED_MARK)).otherwise(raw)


def quarantine_rows(frame: pl.DataFrame, *, reason: pl.Series, detail: pl.Series, kind: pl.Series | str,
                    record_id: pl.Series | None, key: PiiKey | None = None,
                    persons: pl.DataFrame | None = None) -> pl.DataFrame:
    """Quarantine rows for rejected input rows (``frame`` carries ``_pos`` and ``_source``).

    ``persons`` holds the typed ``applicant.*``/``rater.*`` values of these rows when they could be read,
    so the carried pseudonym links a replayed record to the same person.
    """
    if frame.height == 0:
        return pl.DataFrame()
    now = _now()
    # The person masks need the whole text; the others run on what is kept (plus a margin longer than any
    # ID number or phone, so one cut at the margin is cut off with it).
    raw = protect_people(raw_text(frame).fill_null(""))
    raw = raw.str.slice(0, MAX_RAW_CHARS + _MASK_MARGIN)
    base = frame.select(
        pl.col("_source").alias("source"),
        pl.col("_pos").alias("position"),
        (pl.lit(kind) if isinstance(kind, str) else kind.alias("kind")).alias("kind"),
        (record_id.fill_null("") if record_id is not None else pl.lit("")).alias("record_id"),
        reason.alias("reason"),
        detail.fill_null("").str.slice(0, 1000).alias("detail"),
        stored_raw_expr(protect_raw_expr(pl.lit(raw))).alias("raw"),
    )
    carried = pl.lit("")
    if persons is not None and key is not None and persons.width:
        parts = []
        for prefix in ("applicant", "rater"):
            if f"{prefix}.id_number" in persons.columns:
                keys = persons.select(person_key_expr(prefix, key)).to_series()
                parts.append(pl.when(keys != "").then(pl.lit(f'"{prefix}_key":"') + keys + pl.lit('"')))
        if parts:
            carried_keys = persons.select(pl.concat_str(parts, separator=",", ignore_nulls=True)).to_series()
            carried = pl.lit(carried_keys).fill_null("")
    base = base.with_columns(carried.alias("_carry"))
    # Ids are computed from the masked raw (key-independent), before the pseudonym carrier is added.
    ids = [quarantine_id(s, p, r) for s, p, r in zip(base["source"].to_list(), base["position"].to_list(),
                                                      base["raw"].to_list())]
    if "_qid" in frame.columns:  # replay: the row already has its id and arrival time
        ids = [q or i for q, i in zip(frame["_qid"].to_list(), ids)]
    received = frame["_qreceived"] if "_qreceived" in frame.columns else None
    out = base.with_columns(
        pl.Series("quarantine_id", ids, dtype=pl.String),
        pl.when((pl.col("_carry") != "") & pl.col("raw").str.starts_with("{")
                & pl.col("raw").str.starts_with('{"' + PII_CARRIER + '"').not_())
        .then(pl.lit('{"' + PII_CARRIER + '":{') + pl.col("_carry") + pl.lit("},") + pl.col("raw").str.slice(1))
        .otherwise(pl.col("raw")).alias("raw"),
        pl.lit("open").alias("status"),
        pl.lit(now).dt.convert_time_zone(TIMEZONE).dt.cast_time_unit("ms").alias("updated_at"),
    )
    received_expr = pl.lit(now).dt.convert_time_zone(TIMEZONE).dt.cast_time_unit("ms")
    if received is not None:
        received_expr = pl.coalesce(pl.lit(received).dt.convert_time_zone(TIMEZONE).dt.cast_time_unit("ms"), received_expr)
    out = out.with_columns(received_expr.alias("received_at"))
    if GROUP in frame.columns:  # a grouped batch: the request each row came from (counted per request)
        return out.select(QUARANTINE_COLUMNS).with_columns(frame.get_column(GROUP))
    return out.select(QUARANTINE_COLUMNS)


def store(wh, rows: pl.DataFrame, *, upsert: bool = False) -> int:
    """Insert quarantine rows; ids already stored are skipped (or, for a replay, updated in place)."""
    if rows.height == 0:
        return 0
    rows = rows.unique("quarantine_id", keep="first", maintain_order=True)
    if not upsert:
        seen = existing_quarantine_ids(wh, rows["quarantine_id"].to_list())
        if seen:
            rows = rows.filter(pl.col("quarantine_id").is_in(list(seen)).not_())
    insert_quarantine(wh, rows)
    return rows.height


def list_quarantine(wh, *, status: str | None = "open", reason: str | None = None, source: str | None = None,
                    limit: int | None = None) -> pl.DataFrame:
    """The quarantined records of a status (``all``: every one), a reason and a source, as they arrived."""
    return quarantine_records(wh, status=status, reason=reason, source=source, limit=limit)


def mark_replayed(wh, rows: pl.DataFrame) -> int:
    """Record that these quarantine rows (as listed) were accepted by a replay."""
    if rows.height == 0:
        return 0
    now = _now()
    stamp = pl.lit(now).dt.convert_time_zone(TIMEZONE).dt.cast_time_unit("ms")
    out = rows.with_columns(
        pl.lit("replayed").alias("status"), stamp.alias("updated_at"), stamp.alias("replayed_at"),
        pl.col("quarantine_id").cast(pl.String),
        pl.col("received_at").dt.convert_time_zone(TIMEZONE).dt.cast_time_unit("ms"),
    ).select(QUARANTINE_COLUMNS + ["replayed_at"])
    insert_quarantine(wh, out)
    return out.height
