"""Idempotent, crash-safe loading of validated records into the warehouse.

One :meth:`Loader.load` call commits one batch:

1. rows the reader could not read, rows without a known ``kind`` and rows that break a rule become
   quarantine rows (:mod:`ingest.validate`, :mod:`ingest.quarantine`);
2. the rest are converted (:mod:`ingest.convert`: pseudonyms and masks, never clear personal data);
3. ids repeated *within* the batch are reduced in Polars: an identical repeat is a duplicate, a repeat
   with other content is quarantined as ``duplicate_id_conflict`` (reference data: the last one wins);
4. under the commit lock, the batch's ids are looked up in the ``received_ids`` ledger in one query by
   its key ``(kind, record_id)`` (sent with the query, or for a large batch through a transient
   in-memory stage table: :func:`warehouse.queries.state.ledger_hashes`), the content hashes compared in Polars. A known id with the same content is a duplicate; with other content it is a
   conflict (facts: verified against the stored row first, see :meth:`Loader._verify_against_stored`)
   or a replacement (reference data, latest wins);
5. the history of the reference data the batch creates or changes is appended (:mod:`ingest.history`:
   who — the ``actor`` —, when, before and after), then data rows are inserted (Arrow, one insert per
   table), THEN the ledger rows (one insert of the new ids and their hashes), then the quarantine rows (deterministic
   ids, so never twice).

A crash between 5's steps loses nothing (the ledger does not yet know the ids, so a restart inserts
them again) and double-counts nothing: raw tables are ReplacingMergeTree keyed by the id and every read
uses FINAL. Two loaders writing the same warehouse take turns on a file lock around steps 4-5.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field

import polars as pl

from hcp.domain import RECORD_ID_FIELD, RECORD_KINDS
from hcp.pii import PiiKey, current_key
from hcp.locks import job_lock
from ingest.convert import WAREHOUSE_COLUMNS, carried_pseudonyms, content_expr, to_warehouse
from ingest.fields import (
    ERR,
    ERR_DETAIL,
    EXTRA,
    FACT_KINDS,
    GROUP,
    RAW,
    KIND_TABLE,
    LOAD_ORDER,
    REFERENCE_KINDS,
    record_id_expr,
)
from ingest import history
from ingest.limits import MAX_EXTRA_CHARS
from ingest.quarantine import quarantine_rows, raw_text, store
from ingest.readers import POLARS_ERRORS, error_text
from ingest.validate import Reader, Rule, fmt, validate, values_of
from warehouse.client import WarehouseError
from warehouse.migrations import current_tables
from warehouse.queries.reference import catalogue_has
from warehouse.queries.state import (drop_table, ledger_hashes, record_in_ledger, stage_tables,
                                     stored_by_id)

STAGE_PREFIX = "ingest_stage_"
UNKNOWN_ITEM_POLICIES = ("flag", "quarantine")


@dataclass
class Summary:
    """What happened to a batch (or, merged, to a whole run)."""

    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    reasons: Counter = field(default_factory=Counter)
    accepted_by_kind: Counter = field(default_factory=Counter)
    flagged_unknown_items: int = 0
    seconds: float = 0.0
    #: per rejected row: (position, reason, detail) — kept when the caller asks (HTTP answers)
    rejects: list[tuple[str, str, str]] = field(default_factory=list)
    rejected_ids: list[str] = field(default_factory=list)
    #: per request of a grouped batch (its :data:`GROUP` value): that request's own summary
    groups: dict[int, "Summary"] = field(default_factory=dict)

    def part(self, group: int) -> "Summary":
        """The summary of one request of a grouped batch (created empty)."""
        if group not in self.groups:
            self.groups[group] = Summary()
        return self.groups[group]

    def tally(self, name: str, n: int, groups: pl.Series | None = None) -> None:
        """Add ``n`` to the count ``name``, and, when the rows' requests are given, to each request's."""
        setattr(self, name, getattr(self, name) + n)
        if groups is not None and groups.len():
            for g, c in groups.value_counts().iter_rows():
                part = self.part(int(g))
                setattr(part, name, getattr(part, name) + int(c))

    def merge(self, other: "Summary") -> "Summary":
        self.received += other.received
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.quarantined += other.quarantined
        self.reasons.update(other.reasons)
        self.accepted_by_kind.update(other.accepted_by_kind)
        self.flagged_unknown_items += other.flagged_unknown_items
        self.seconds += other.seconds
        self.rejects.extend(other.rejects)
        self.rejected_ids.extend(other.rejected_ids)
        for g, part in other.groups.items():
            self.part(g).merge(part)
        return self

    def as_dict(self) -> dict:
        return {
            "received": self.received, "accepted": self.accepted, "duplicates": self.duplicates,
            "quarantined": self.quarantined, "quarantined_by_reason": dict(sorted(self.reasons.items())),
            "accepted_by_kind": dict(sorted(self.accepted_by_kind.items())),
            "flagged_unknown_items": self.flagged_unknown_items,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.received / self.seconds) if self.seconds > 0 else None,
        }


def _groups(rows: pl.DataFrame) -> pl.Series | None:
    """The request of each row of a grouped batch (``None`` for an ordinary batch)."""
    return rows.get_column(GROUP) if GROUP in rows.columns else None


def commit_lock_name(wh) -> str:
    """The machine-wide lock (:func:`hcp.locks.job_lock`) every loader of one warehouse commits under."""
    return "ingest-" + hashlib.sha1(wh.display_dsn.encode()).hexdigest()[:16]


def _low_cardinality(table: str) -> tuple[str, ...]:
    return tuple(c.name for c in current_tables()[table].columns if c.type.startswith("LowCardinality"))


_LC_CACHE: dict[str, tuple[str, ...]] = {}


def arrow_for(table: str, rows: pl.DataFrame):
    """Rows as one Arrow table, ``LowCardinality`` columns dictionary-encoded (ClickHouse takes the
    dictionary as it is: a smaller payload and no re-encoding — about a third off the insert)."""
    if table not in _LC_CACHE:
        _LC_CACHE[table] = _low_cardinality(table)
    lc = [c for c in _LC_CACHE[table] if c in rows.columns and rows.schema[c] == pl.String]
    data = rows.with_columns(pl.col(lc).cast(pl.Categorical)).rechunk().to_arrow()
    return data.unify_dictionaries().combine_chunks() if lc else data


@dataclass
class Prepared:
    """A batch validated and converted, ready to commit (``parts``: halves of a batch that had to be
    prepared piece by piece, committed in order)."""

    summary: Summary
    quarantine: list
    accepted: dict
    frame: pl.DataFrame
    started: float
    actor: str = ""
    parts: list = field(default_factory=list)


def operator_actor() -> str:
    """The actor of local ingest: the machine's operator (``operator:<user>``)."""
    try:
        user = getpass.getuser()
    except Exception:  # no user name in this environment
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return f"operator:{user}"


#: What a record's text may not hold: U+FFFD, the mark of bytes that could not be decoded.
REPLACEMENT_CHAR = "\ufffd"
#: Its JSON escape (``\ufffd``), unless the backslash before it is itself escaped.
_FFFD_ESCAPE = r"(?:^|[^\\])(?:\\\\)*\\u[fF]{3}[dD]"


def replacement_char_expr(frame: pl.DataFrame) -> pl.Expr:
    """True for rows with U+FFFD in any text value (fields, ``applicant``/``rater``, ``tags``, unknown
    fields): bytes a reader could not decode, or text mangled before it reached us. Such a record is
    ``bad_encoding``; U+FFFD never reaches a raw table."""
    if RAW in frame.columns and frame.get_column(RAW).null_count() == 0:
        # JSON Lines: the line itself holds the character, or its escape (one scan instead of one per field).
        raw = pl.col(RAW)
        literal = raw.str.contains(REPLACEMENT_CHAR, literal=True)
        if not frame.select(raw.str.contains(r"\\u[fF]{3}[dD]").any()).item():  # the strict pattern is slower
            return literal.fill_null(False)
        return (literal | raw.str.contains(_FFFD_ESCAPE)).fill_null(False)
    tests = []
    for name, dtype in frame.schema.items():
        if name.startswith("_") and name != EXTRA:
            continue
        col = pl.col(name)
        if dtype == pl.String:
            tests.append(col.str.contains(REPLACEMENT_CHAR, literal=True))
        elif isinstance(dtype, pl.List) and dtype.inner == pl.String:
            tests.append(col.list.eval(pl.element().str.contains(REPLACEMENT_CHAR, literal=True)).list.any())
        elif isinstance(dtype, pl.Struct):
            tests += [col.struct.field(f.name).str.contains(REPLACEMENT_CHAR, literal=True)
                      for f in dtype.fields if f.dtype == pl.String]
    return pl.any_horizontal(tests).fill_null(False) if tests else pl.lit(False)


class Loader:
    """Commits batches of record frames to one warehouse (see the module docstring)."""

    def __init__(self, wh, *, unknown_items: str = "flag", keep_rejects: bool = False,
                 key: PiiKey | None = None, replay: bool = False, actor: str | None = None):
        if unknown_items not in UNKNOWN_ITEM_POLICIES:
            raise ValueError(f"unknown_items must be one of {UNKNOWN_ITEM_POLICIES}")
        self.wh = wh
        #: who writes (the reference-data history): ``token:<name>`` for a push, else the operator
        self.actor = actor or operator_actor()
        self.unknown_items = unknown_items
        self.keep_rejects = keep_rejects
        self.replay = replay
        self._fixed_key = key
        #: item codes known to be in the catalogue: found there, or committed by this loader (an item is
        #: never removed from the catalogue, so a code found once is not looked up again)
        self.known_items: set[str] = set()
        self.lock_name = commit_lock_name(wh)
        self._drop_stale_stages()

    # --- helpers --------------------------------------------------------------------------------
    def key(self) -> PiiKey:
        return self._fixed_key or current_key()  # re-read: `hcp keys rotate` takes effect at once

    def _drop_stale_stages(self) -> None:
        try:
            names = stage_tables(self.wh, STAGE_PREFIX)
        except Exception:
            return
        for name in names:
            try:
                created = int(name[len(STAGE_PREFIX):].split("_")[0])
            except ValueError:
                continue
            if time.time() - created > 86_400:
                drop_table(self.wh, name)

    def _catalogue_has(self, codes: list[str]) -> set[str]:
        return catalogue_has(self.wh, codes)

    # --- the batch --------------------------------------------------------------------------------
    def load(self, frame: pl.DataFrame, source: str = "", *, actor: str | None = None) -> Summary:
        """Commit one batch. ``frame`` comes from :mod:`ingest.readers` with ``_pos`` (and optionally
        ``_source``, else ``source`` is used); ``actor`` (default: the loader's) is kept in the
        reference-data history."""
        return self.commit(self.prepare(frame, source, actor=actor))

    def prepare(self, frame: pl.DataFrame, source: str = "", *, actor: str | None = None) -> "Prepared":
        """Steps 1-3 (pure Polars, plus catalogue look-ups): may run for the next batch while the
        previous one commits.

        No record stops a batch: should preparing it fail in a way no rule foresaw, it is prepared
        again in halves, down to single records, and a record that still fails is quarantined as
        ``unreadable`` with the error.
        """
        actor = actor or self.actor
        try:
            return self._prepare(frame, source, actor)
        except (WarehouseError, OSError):
            raise  # the warehouse, not the input: nothing to quarantine
        except POLARS_ERRORS as exc:
            if frame.height <= 1:
                return self._unreadable(frame, source, actor, exc)
        half = frame.height // 2
        parts = [self.prepare(frame.slice(0, half), source, actor=actor),
                 self.prepare(frame.slice(half), source, actor=actor)]
        return Prepared(Summary(), [], {}, frame, time.perf_counter(), actor, parts)

    def _unreadable(self, frame: pl.DataFrame, source: str, actor: str, exc: BaseException) -> "Prepared":
        frame = frame.with_columns(pl.lit(source).alias("_source")) if "_source" not in frame.columns else frame
        if "_pos" not in frame.columns:
            frame = frame.with_columns(pl.lit("").alias("_pos"))
        safe = frame.select([c for c in ("_source", "_pos", "_raw") if c in frame.columns])
        if "_raw" not in safe.columns:  # a tabular row: its cells as JSON text, as far as they encode
            try:
                safe = safe.with_columns(raw_text(frame).alias("_raw"))
            except POLARS_ERRORS:
                safe = safe.with_columns(pl.lit("").alias("_raw"))
        rows = quarantine_rows(safe, reason=pl.Series(["unreadable"] * frame.height, dtype=pl.String),
                               detail=pl.Series([f"the record could not be processed: {error_text(exc)}"] * frame.height,
                                                dtype=pl.String),
                               kind="", record_id=None)
        summary = Summary()
        summary.tally("received", frame.height, _groups(frame))
        return Prepared(summary, [rows], {}, frame, time.perf_counter(), actor)

    def _prepare(self, frame: pl.DataFrame, source: str, actor: str) -> "Prepared":
        started = time.perf_counter()
        summary = Summary()
        summary.tally("received", frame.height, _groups(frame))
        if frame.height == 0:
            return Prepared(summary, [], {}, frame, started, actor)
        if "_source" not in frame.columns:
            frame = frame.with_columns(pl.lit(source).alias("_source"))
        if ERR not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(ERR), pl.lit(None, dtype=pl.String).alias(ERR_DETAIL))
        if EXTRA not in frame.columns:
            frame = frame.with_columns(pl.lit("").alias(EXTRA))
        frame = frame.with_columns(pl.int_range(0, frame.height).alias("_idx"))
        key = self.key()
        reader = Reader(frame)
        kind = reader.text("kind")
        frame = frame.with_columns(
            kind.alias("_kind"),
            pl.coalesce(
                pl.col(ERR),
                pl.when(replacement_char_expr(frame)).then(pl.lit("bad_encoding")),
                pl.when(kind.is_null()).then(pl.lit("missing_field:kind")),
                pl.when(kind.is_in(list(RECORD_KINDS)).not_()).then(pl.lit("unknown_kind")),
            ).alias("_pre"),
        )
        quarantine: list[pl.DataFrame] = []
        pre = frame.filter(pl.col("_pre").is_not_null())
        if pre.height:
            detail = pre.select(pl.coalesce(
                pl.col(ERR_DETAIL),
                pl.when(pl.col("_pre") == "bad_encoding").then(pl.lit(
                    "holds U+FFFD, the mark of bytes that could not be decoded (another encoding? see --encoding) "
                    "or of text mangled before it was sent")),
                pl.when(pl.col("_pre") == "unknown_kind").then(
                    fmt("kind '{}' is not one of " + ", ".join(RECORD_KINDS), pl.col("_kind").str.slice(0, 40))),
                pl.lit("kind is required"),
            )).to_series()
            rid = values_of(pre, pl.coalesce([pl.col(c).cast(pl.String) for c in ("event_id", "rating_id", "followup_id")
                                               if c in pre.columns] or [pl.lit(None, dtype=pl.String)]))
            quarantine.append(quarantine_rows(pre, reason=pre["_pre"], detail=detail,
                                              kind=pre["_kind"].fill_null(""), record_id=rid))
            frame = frame.filter(pl.col("_pre").is_null())
        kinds = set(frame["_kind"].unique().to_list())

        accepted: dict[str, pl.DataFrame] = {}  # kind -> warehouse rows with _rid/_content/_pos
        batch_items: set[str] = set()
        for k in LOAD_ORDER:
            if k not in kinds:
                continue
            sub = frame if len(kinds) == 1 else frame.filter(pl.col("_kind") == k)
            extra_rules: list[Rule] = [Rule(
                "too_long:extra", pl.col(EXTRA).fill_null("").str.len_chars() > MAX_EXTRA_CHARS,
                fmt(f"unknown fields take {{}} characters as JSON; at most {MAX_EXTRA_CHARS} are kept",
                    pl.col(EXTRA).str.len_chars()))]
            item_known = None
            if k in ("case_event", "rating"):
                codes = Reader(sub).text("item_code")
                distinct = [c for c in sub.select(codes.unique()).to_series().drop_nulls().to_list()]
                unknown = [c for c in distinct if c not in self.known_items and c not in batch_items]
                known = set(distinct) - set(unknown)
                if unknown:
                    found = self._catalogue_has(unknown)
                    known |= found
                    self.known_items.update(found)  # the catalogue never loses an item: asked once
                item_known = values_of(sub, codes.is_in(list(known)).fill_null(False))
                if self.unknown_items == "quarantine":
                    extra_rules.append(Rule("unknown_item", codes.is_not_null() & codes.is_in(list(known)).not_(),
                                            fmt("item_code '{}' is not in the catalogue", codes)))
            checked = validate(k, sub, extra_rules)
            ok = checked.reason.is_null()
            bad_mask = ok.not_()
            if bad_mask.any():
                bad = sub.filter(bad_mask)
                persons = checked.typed.filter(bad_mask).select(
                    [c for c in checked.typed.columns if c.startswith(("applicant.", "rater."))])
                quarantine.append(quarantine_rows(
                    bad, reason=checked.reason.filter(bad_mask), detail=checked.detail.filter(bad_mask), kind=k,
                    record_id=values_of(bad, Reader(bad).text(RECORD_ID_FIELD[k])),
                    key=key, persons=persons))
            if not ok.any():
                continue
            good = sub.filter(ok)
            rows = to_warehouse(
                k, checked.typed.filter(ok), key=key, extra=good[EXTRA].fill_null(""), source=good["_source"],
                item_known=item_known.filter(ok) if item_known is not None else None,
                carried=carried_pseudonyms(good) if self.replay else None,
            )
            rows = rows.with_columns(
                record_id_expr(k).alias("_rid"), content_expr(k).alias("_content"),
                good["_idx"].alias("_idx"),
                *([good[GROUP]] if GROUP in good.columns else []),
                *([good["_pos"].cast(pl.String).alias("_pos")] if k in REFERENCE_KINDS and "_pos" in good.columns else []),
            )
            rows = rows.with_columns(pl.int_range(0, rows.height).alias("_row"))
            first = rows.select(pl.col("_rid").is_first_distinct()).to_series()
            # Within-batch repeats (usually none: then nothing more to do).
            if first.all():
                pass
            elif k in REFERENCE_KINDS:
                last = rows.select(pl.col("_row") == pl.col("_row").max().over("_rid")).to_series()
                summary.tally("duplicates", int((~last).sum()), _groups(rows.filter(~last)))
                rows = rows.filter(last)
            else:
                same = rows.select(pl.col("_content") == pl.col("_content").first().over("_rid")).to_series()
                dup = ~first & same
                conflict = ~first & ~same
                summary.tally("duplicates", int(dup.sum()), _groups(rows.filter(dup)))
                if conflict.any():
                    quarantine.append(self._conflicts(good.filter(conflict), k, rows.filter(conflict)["_rid"]))
                rows = rows.filter(first)
            if k == "item":
                batch_items.update(rows["item_code"].to_list())
                self.known_items.update(batch_items)  # they are in the catalogue once committed
            accepted[k] = rows.with_columns(pl.col("_content").hash(seed=0).alias("_hash")).drop("_content")
        return Prepared(summary, quarantine, accepted, frame, started, actor)

    def commit(self, prepared: "Prepared") -> Summary:
        """Steps 4-5, under the commit lock."""
        if prepared.parts:
            total = Summary()
            for part in prepared.parts:
                total.merge(self.commit(part))
            return total
        summary, quarantine, accepted, frame = prepared.summary, prepared.quarantine, prepared.accepted, prepared.frame
        if accepted:
            with job_lock(self.lock_name):
                inserted, dupes, conflicts = self._commit(accepted, prepared.actor or self.actor)
                for rows in dupes:
                    summary.tally("duplicates", rows.height, _groups(rows))
                for k, rows in inserted.items():
                    summary.tally("accepted", rows.height, _groups(rows))
                    summary.accepted_by_kind[k] += rows.height
                    if GROUP in rows.columns:
                        for g, c in rows[GROUP].value_counts().iter_rows():
                            summary.part(int(g)).accepted_by_kind[k] += int(c)
                    if "item_known" in rows.columns:
                        unknown = rows.filter(~pl.col("item_known"))
                        summary.tally("flagged_unknown_items", unknown.height, _groups(unknown))
                for k, rows in conflicts.items():
                    src = rows.select("_idx").join(frame, on="_idx", how="left", maintain_order="left")
                    quarantine.append(self._conflicts(src, k, rows["_rid"]))
                self._store_quarantine(quarantine, summary)
        else:
            self._store_quarantine(quarantine, summary)
        summary.seconds = time.perf_counter() - prepared.started
        return summary

    def _conflicts(self, src: pl.DataFrame, kind: str, rids: pl.Series) -> pl.DataFrame:
        """Quarantine rows for ids that came back with other content (``src`` rows as read)."""
        return quarantine_rows(
            src, reason=pl.Series(["duplicate_id_conflict"] * src.height, dtype=pl.String),
            detail=pl.Series([f"{RECORD_ID_FIELD[kind]} was already received with different content; "
                              "the first version is kept"] * src.height, dtype=pl.String),
            kind=kind, record_id=rids)

    def _store_quarantine(self, parts: list[pl.DataFrame], summary: Summary) -> None:
        parts = [p for p in parts if p.height]
        if not parts:
            return
        rows = pl.concat(parts, how="diagonal_relaxed")
        targets = [(summary, rows)]
        if GROUP in rows.columns:
            targets += [(summary.part(int(g)), rows.filter(pl.col(GROUP) == g)) for g in rows[GROUP].unique().to_list()]
            rows = rows.drop(GROUP)
        for target, part in targets:
            target.quarantined += part.height
            target.reasons.update(part["reason"].to_list())
            if self.keep_rejects:
                target.rejects.extend(zip(part["position"].to_list(), part["reason"].to_list(), part["detail"].to_list()))
                target.rejected_ids.extend(part["quarantine_id"].to_list())
        store(self.wh, rows, upsert=self.replay)

    def _commit(self, accepted: dict[str, pl.DataFrame], actor: str):
        """Steps 4-5 of the module docstring, under the commit lock."""
        wh = self.wh
        staged = pl.concat([rows.select(pl.lit(k).alias("kind"), pl.col("_rid").alias("record_id"),
                                        pl.col("_hash").alias("h")) for k, rows in accepted.items()])
        known = ledger_hashes(wh, staged, stage=f"{STAGE_PREFIX}{int(time.time())}_{os.getpid()}_{secrets.token_hex(4)}")
        inserted: dict[str, pl.DataFrame] = {}
        conflicts: dict[str, pl.DataFrame] = {}
        dupes: list[pl.DataFrame] = []  # the rows already stored, identical (their requests when grouped)
        skip: list[pl.DataFrame] = []
        for k, rows in accepted.items():
            hits = known.filter(pl.col("kind") == k).select("record_id", pl.col("h").alias("_ledger_hash"))
            if hits.height:
                rows = rows.join(hits, left_on="_rid", right_on="record_id", how="left", maintain_order="left")
                rows = rows.with_columns((pl.col("_ledger_hash") == pl.col("_hash")).alias("same")).drop("_ledger_hash")
                if k in FACT_KINDS and (rows["same"] == False).any():  # noqa: E712 - polars mask
                    rows = self._verify_against_stored(k, rows)
                same = rows["same"].fill_null(False)
                seen = rows["same"].is_not_null()
                dupes.append(rows.filter(same).select(GROUP if GROUP in rows.columns else "_rid"))
                # Facts: a known id is never stored again (other content is a conflict); reference
                # data: identical is a duplicate, changed content replaces.
                if k in FACT_KINDS and (seen & ~same).any():
                    conflicts[k] = rows.filter(seen & ~same)
                known_ids = seen if k in FACT_KINDS else same
                skip.append(rows.filter(known_ids).select(pl.lit(k).alias("kind"), pl.col("_rid").alias("record_id")))
                rows = rows.filter(~known_ids)
                rows = rows.drop("same")
            if rows.height:
                inserted[k] = rows
        # The history of reference data first (see ingest.history for why it precedes the data) ...
        changes = [history.change_rows(wh, k, rows, actor=actor) for k, rows in inserted.items()
                   if k in REFERENCE_KINDS]
        changes = [c for c in changes if c.height]
        if changes:
            history.store(wh, pl.concat(changes))
        # ... data next ...
        # A batch holds one row per id (step 3), so the insert-time collapse of rows with one sorting key
        # (optimize_on_insert) has nothing to do but costs ~40 % of the insert: off (reads use FINAL).
        for k, rows in inserted.items():
            wh.insert_arrow(KIND_TABLE[k], arrow_for(KIND_TABLE[k], rows.drop("_rid", "_hash", "_idx", "_row", "_pos", GROUP,
                                                                              strict=False)),
                            settings={"optimize_on_insert": 0})
        # ... then the ledger.
        if inserted:
            record_in_ledger(wh, staged.join(pl.concat(skip), on=["kind", "record_id"], how="anti") if skip else staged)
        return inserted, dupes, conflicts

    def _verify_against_stored(self, kind: str, rows: pl.DataFrame) -> pl.DataFrame:
        """Ids whose ledger hash differs: compare with the stored row itself before calling it a conflict.

        The ledger's hash is Polars' 64-bit hash of the canonical content, stable within a Polars
        version; after an upgrade it may differ for identical content, so the stored row (FINAL) is
        hashed again with the running version and compared.
        """
        table = KIND_TABLE[kind]
        id_col = RECORD_ID_FIELD[kind]
        suspects = rows.filter(pl.col("same") == False)["_rid"].to_list()  # noqa: E712
        stored_df = stored_by_id(self.wh, table, id_col, list(WAREHOUSE_COLUMNS[kind]), suspects)
        if stored_df.height == 0:
            return rows
        stored_df = stored_df.with_columns(pl.col(pl.Categorical).cast(pl.String))
        rehashed = stored_df.select(pl.col(id_col).alias("_rid"),
                                    content_expr(kind).hash(seed=0).alias("_stored_hash"))
        rows = rows.join(rehashed, on="_rid", how="left", maintain_order="left")
        rows = rows.with_columns(
            pl.when(pl.col("same").not_() & (pl.col("_stored_hash") == pl.col("_hash"))).then(True)
            .otherwise(pl.col("same")).alias("same"))
        return rows.drop("_stored_hash")
