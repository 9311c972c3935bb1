"""What a push token may write: every record of a request lies within its grant, or the request is
refused (``403``) and nothing of it is stored.

The rules, record by record (:func:`violations`). A record that cannot be read, has no known ``kind``,
or lacks the field a rule reads is left to validation, which quarantines it (it never reaches a raw
table); a region code that is not 12 digits likewise.

* ``kind_not_allowed`` — the token's kinds do not name the record's kind (reference data — ``region``,
  ``department``, ``item`` — needs a token that names it).
* ``region_outside_scope`` — a ``case_event``, ``rating``, ``department`` or ``region`` whose
  ``region_code`` is outside the token's subtree; a ``region`` whose ``parent_code`` is neither inside
  the subtree nor an ancestor of its root.
* ``department_outside_scope`` — a ``case_event``, ``rating`` or ``item`` whose department (as this
  request sends it, else as stored) belongs to a region outside the subtree; a ``department`` that is
  stored under a region outside it: a token can move a department neither out of its regions nor in
  from elsewhere.
* ``department_unknown`` — an ``item`` whose department is neither in the request nor stored (its
  region, and so its scope, cannot be known).
* ``item_outside_scope`` — an ``item`` whose stored versions belong to a department outside the subtree.
* ``rating_unknown`` / ``rating_outside_scope`` — a ``followup`` whose rating (in the request, else
  stored) is unknown, or in a region outside the subtree.

A token for every region checks kinds only. Lookups are one query per table for the whole request.
"""

from __future__ import annotations

import polars as pl

from hcp.domain import RECORD_KINDS
from hcp.workdays import region_prefix
from ingest.fields import ERR
from ingest.tokens import Token
from ingest.validate import Reader
from warehouse.queries.reference import department_regions, item_owners, rating_regions

_CODE = r"^\d{12}$"
COLUMNS = {"_line": pl.Int64, "kind": pl.String, "record_id": pl.String, "reason": pl.String, "detail": pl.String}


def violations(wh, token: Token, frame: pl.DataFrame) -> pl.DataFrame:
    """The records of ``frame`` (as :mod:`ingest.readers` decodes them) outside ``token``'s grant:
    ``_line, kind, record_id, reason, detail``, in line order (empty when the request may be stored)."""
    if frame.height == 0:
        return pl.DataFrame(schema=COLUMNS)
    r = Reader(frame)
    f = frame.select(
        pl.col("_line").cast(pl.Int64) if "_line" in frame.columns else pl.int_range(1, frame.height + 1, dtype=pl.Int64).alias("_line"),
        r.text("kind").alias("kind"),
        (pl.col(ERR).is_null() if ERR in frame.columns else pl.lit(True)).alias("_readable"),
        *[r.text(c).alias(c) for c in ("region_code", "dept_code", "rating_id", "parent_code", "item_code")],
        pl.coalesce([r.text(c) for c in ("event_id", "rating_id", "followup_id", "dept_code", "item_code", "region_code")])
        .fill_null("").alias("record_id"),
    ).filter(pl.col("_readable") & pl.col("kind").is_in(list(RECORD_KINDS)))
    found: list[pl.DataFrame] = []

    def add(rows: pl.DataFrame, reason: str, detail: pl.Expr | str) -> None:
        if rows.height:
            found.append(rows.select(
                "_line", "kind", "record_id", pl.lit(reason).alias("reason"),
                (pl.lit(detail) if isinstance(detail, str) else detail).cast(pl.String).alias("detail")))

    kind = pl.col("kind")
    add(f.filter(kind.is_in(list(token.kinds)).not_()), "kind_not_allowed",
        pl.concat_str([pl.lit(f"token {token.name} may not write "), kind,
                       pl.lit(f" records (it may write {', '.join(token.kinds)})")]))
    f = f.filter(kind.is_in(list(token.kinds)))
    prefix = token.prefix
    if prefix and f.height:
        _regional(wh, token, f, add)
    if not found:
        return pl.DataFrame(schema=COLUMNS)
    return pl.concat(found).sort("_line", maintain_order=True)


def _regional(wh, token: Token, f: pl.DataFrame, add) -> None:
    prefix = token.prefix
    kind = pl.col("kind")
    region, dept = pl.col("region_code"), pl.col("dept_code")
    where = f"the subtree of {token.region_code}"

    def outside(col: pl.Expr) -> pl.Expr:
        return col.str.contains(_CODE).fill_null(False) & col.str.starts_with(prefix).not_()

    add(f.filter(kind.is_in(["case_event", "rating", "department", "region"]) & outside(region)),
        "region_outside_scope", pl.concat_str([pl.lit("region_code "), region, pl.lit(f" is outside {where}")]))
    parents = f.filter((kind == "region") & pl.col("parent_code").str.contains(_CODE).fill_null(False))
    if parents.height:
        # inside the subtree, or an ancestor of its root (a city token may name its province as parent)
        fine = [p for p in parents["parent_code"].unique().to_list()
                if p.startswith(prefix) or token.region_code.startswith(region_prefix(p))]
        add(parents.filter(pl.col("parent_code").is_in(fine).not_()), "region_outside_scope",
            pl.concat_str([pl.lit("parent_code "), pl.col("parent_code"), pl.lit(f" is outside {where}")]))

    # Departments: as this request sends them (the last one of a code), else as stored.
    codes = f.filter(kind.is_in(["case_event", "rating", "item", "department"]) & dept.is_not_null())["dept_code"]
    codes = codes.unique().to_list()
    stored = department_regions(wh, codes)
    sent = {d: reg for d, reg in f.filter((kind == "department") & region.str.contains(_CODE).fill_null(False))
            .select("dept_code", "region_code").iter_rows() if d}
    known = {**stored, **sent}
    dept_region = dept.replace_strict(known, default=None, return_dtype=pl.String) if known \
        else pl.lit(None, dtype=pl.String)
    stored_region = dept.replace_strict(stored, default=None, return_dtype=pl.String) if stored \
        else pl.lit(None, dtype=pl.String)
    facts = f.with_columns(dept_region.alias("_dept_region"), stored_region.alias("_stored_region"))
    add(facts.filter(kind.is_in(["case_event", "rating", "item"]) & outside(pl.col("_dept_region"))),
        "department_outside_scope",
        pl.concat_str([pl.lit("department "), dept, pl.lit(" belongs to region "), pl.col("_dept_region"),
                       pl.lit(f", outside {where}")]))
    add(facts.filter((kind == "department") & outside(pl.col("_stored_region"))), "department_outside_scope",
        pl.concat_str([pl.lit("department "), dept, pl.lit(" is stored under region "), pl.col("_stored_region"),
                       pl.lit(f", outside {where}: it cannot be changed with this token")]))
    add(facts.filter((kind == "item") & dept.is_not_null() & pl.col("_dept_region").is_null()), "department_unknown",
        pl.concat_str([pl.lit("department "), dept,
                       pl.lit(" is not known (send the department first): the item's region cannot be checked")]))

    items = f.filter((kind == "item") & pl.col("item_code").is_not_null())["item_code"].unique().to_list()
    if items:
        owners = item_owners(wh, items)
        missing = sorted({d for _, d in owners if d not in known})
        more = department_regions(wh, missing)
        bad = sorted({code for code, d in owners
                      if (known.get(d) or more.get(d)) and not (known.get(d) or more.get(d)).startswith(prefix)})
        add(f.filter((kind == "item") & pl.col("item_code").is_in(bad)), "item_outside_scope",
            pl.concat_str([pl.lit("item "), pl.col("item_code"),
                           pl.lit(f" belongs to a department outside {where}: it cannot be changed with this token")]))

    followups = f.filter((kind == "followup") & pl.col("rating_id").is_not_null())
    if followups.height:
        ids = followups["rating_id"].unique().to_list()
        in_request = {rid: reg for rid, reg in f.filter((kind == "rating") & region.str.contains(_CODE).fill_null(False))
                      .select("rating_id", "region_code").iter_rows() if rid}
        missing = [i for i in ids if i not in in_request]
        stored_ratings = rating_regions(wh, missing)
        rating_region = {**stored_ratings, **in_request}
        rr = pl.col("rating_id").replace_strict(rating_region, default=None, return_dtype=pl.String) if rating_region \
            else pl.lit(None, dtype=pl.String)
        followups = followups.with_columns(rr.alias("_rating_region"))
        add(followups.filter(pl.col("_rating_region").is_null()), "rating_unknown",
            pl.concat_str([pl.lit("rating "), pl.col("rating_id"),
                           pl.lit(" is not known: a follow-up is accepted only for a rating in the token's regions")]))
        add(followups.filter(outside(pl.col("_rating_region"))), "rating_outside_scope",
            pl.concat_str([pl.lit("rating "), pl.col("rating_id"), pl.lit(" is in region "), pl.col("_rating_region"),
                           pl.lit(f", outside {where}")]))
