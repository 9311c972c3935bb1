"""What the complaint-cause classifier (:mod:`models.cause`) reads: the causes departments verified in the
warehouse (the one SQL of the model), the seed set shipped with hcp and the independent test set.

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

SEED_PATH = Path(__file__).with_name("cause_seed.jsonl")
INDEPENDENT_PATH = Path(__file__).resolve().parents[1] / "tests" / "data" / "complaints_independent.jsonl"

EXAMPLE_SCHEMA = {"id": pl.String, "comment": pl.String, "tags": pl.List(pl.String), "cause": pl.String}

#: The latest verified cause of every bad rating in the loop, with its text.
VERIFIED_SQL = """
SELECT r.rating_id AS rating_id, r.rated_at AS rated_at, v.verified_at AS verified_at, v.cause AS cause,
       r.comment AS comment, r.tags AS tags
FROM (SELECT rating_id, rated_at, comment, CAST(tags, 'Array(String)') AS tags FROM ratings FINAL
      WHERE level <= 2 AND NOT default_rating) AS r
INNER JOIN (SELECT rating_id, argMax(reason_category, (action_time, followup_id)) AS cause,
                   max(action_time) AS verified_at
            FROM followups FINAL WHERE action = 'verified' AND reason_category != '' GROUP BY rating_id) AS v
ON r.rating_id = v.rating_id
ORDER BY rating_id
"""


def load_verified(wh: Warehouse) -> pl.DataFrame:
    """``rating_id``, ``rated_at``, ``verified_at``, ``cause``, ``comment``, ``tags`` of every verified bad
    rating, by rating id."""
    frame = wh.query_df(VERIFIED_SQL)
    if frame.is_empty():
        return pl.DataFrame(schema={"rating_id": pl.String, "rated_at": pl.Datetime("ms", "Asia/Shanghai"),
                                    "verified_at": pl.Datetime("ms", "Asia/Shanghai"), "cause": pl.String,
                                    "comment": pl.String, "tags": pl.List(pl.String)})
    return frame.with_columns(pl.col("tags").cast(pl.List(pl.String)), pl.col("comment").cast(pl.String))


def load_texts(wh: Warehouse, rating_ids: list[str]) -> pl.DataFrame:
    """``rating_id``, ``comment``, ``tags`` of the given ratings (those that exist)."""
    if not rating_ids:
        return pl.DataFrame(schema={"rating_id": pl.String, "comment": pl.String, "tags": pl.List(pl.String)})
    frame = wh.query_df("SELECT rating_id, comment, CAST(tags, 'Array(String)') AS tags FROM ratings FINAL "
                        "WHERE rating_id IN {ids:Array(String)}", {"ids": list(rating_ids)})
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
