"""What the complaint-cause classifier (:mod:`models.cause`) reads: the causes departments verified in the
warehouse (read by :func:`warehouse.queries.ratings.verified_causes`), the seed set shipped with hcp and the
independent test set.

* **Verified causes** (:func:`load_verified`): every bad rating in the loop (level 1–2, not a default
  rating) with a ``verified`` follow-up that names a ``reason_category``. A department that corrects its
  verification records a later ``verified``; the **latest** one is the department's word (and with the
  dashboard's pre-filled form every confirmation or correction is such a record, so it becomes training
  data). Returned with the rating's comment and tags, when it was rated and when it was verified.
* **Seed set** (``models/cause_seed.jsonl``, :data:`SEED_PATH`): several hundred colloquial complaints
  written for hcp — not produced by the demo generator — so that the classifier works on day one.
* **Independent test set** (``tests/data/complaints_independent.jsonl``, :data:`INDEPENDENT_PATH`):
  complaints written separately, in other voices (12345 hotline work orders, letters to the leadership,
  dialect, mixed English), never used for training; only in a source checkout.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from hcp.errors import HcpError
from warehouse.client import Warehouse
from warehouse.queries.ratings import rating_texts, verified_causes

SEED_PATH = Path(__file__).with_name("cause_seed.jsonl")
INDEPENDENT_PATH = Path(__file__).resolve().parents[1] / "tests" / "data" / "complaints_independent.jsonl"

EXAMPLE_SCHEMA = {"id": pl.String, "comment": pl.String, "tags": pl.List(pl.String), "cause": pl.String}

def load_verified(wh: Warehouse) -> pl.DataFrame:
    """``rating_id``, ``rated_at``, ``verified_at``, ``cause``, ``comment``, ``tags`` of every verified bad
    rating, by rating id."""
    frame = verified_causes(wh)
    if frame.is_empty():
        return pl.DataFrame(schema={"rating_id": pl.String, "rated_at": pl.Datetime("ms", "Asia/Shanghai"),
                                    "verified_at": pl.Datetime("ms", "Asia/Shanghai"), "cause": pl.String,
                                    "comment": pl.String, "tags": pl.List(pl.String)})
    return frame.with_columns(pl.col("tags").cast(pl.List(pl.String)), pl.col("comment").cast(pl.String))


def load_texts(wh: Warehouse, rating_ids: list[str]) -> pl.DataFrame:
    """``rating_id``, ``comment``, ``tags`` of the given ratings (those that exist)."""
    if not rating_ids:
        return pl.DataFrame(schema={"rating_id": pl.String, "comment": pl.String, "tags": pl.List(pl.String)})
    frame = rating_texts(wh, rating_ids)
    return frame.with_columns(pl.col("tags").cast(pl.List(pl.String)), pl.col("comment").cast(pl.String))


def read_examples(path: Path) -> pl.DataFrame:
    """A JSON Lines file of labelled complaints (``comment``, optional ``tags``, ``cause``, optional ``id``)."""
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                rows.append({"id": str(record.get("id", f"{path.stem}:{number}")), "comment": record.get("comment") or "",
                             "tags": [str(t) for t in record.get("tags") or []], "cause": record["cause"]})
            except (ValueError, KeyError, TypeError) as exc:
                raise HcpError(f"{path}: 第 {number} 行无法读取 / line {number} unreadable ({exc})") from exc
    return pl.DataFrame(rows, schema=EXAMPLE_SCHEMA)


def load_seed() -> pl.DataFrame:
    return read_examples(SEED_PATH)


def load_independent() -> pl.DataFrame | None:
    """The independent test set, or None outside a source checkout."""
    return read_examples(INDEPENDENT_PATH) if INDEPENDENT_PATH.exists() else None
