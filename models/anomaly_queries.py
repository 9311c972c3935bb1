"""The ClickHouse SQL of the rating-anomaly detector (:mod:`models.anomaly`), in one place.

* :func:`ratings_between` — the ratings given in [start, end) that are the rater's act (system-written
  default ratings are left out), with the unit columns (staff, hall device, department, rater
  pseudonym), the day in Asia/Shanghai, and the first completion of the rated case (null when the
  rating names no case or the case has no ``completed`` event).
* :func:`rating_span` — the first and last rating time of the warehouse (the training window).
* :func:`existing_ratings` — which of a list of rating ids the warehouse holds (the evaluation keeps
  only labelled episodes whose ratings were ingested).
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from warehouse.client import Warehouse

_WINDOW = ("rated_at >= {start:DateTime64(3, 'Asia/Shanghai')} AND rated_at < {end:DateTime64(3, 'Asia/Shanghai')}"
           " AND NOT default_rating")

RATINGS_SQL = f"""
SELECT r.rating_id AS rating_id, r.case_id AS case_id, r.dept_code AS dept_code, r.region_code AS region_code,
       r.staff_id AS staff_id, JSONExtractString(r.extra, 'device_id') AS device_id, r.channel AS channel,
       r.level AS level, r.rated_at AS rated_at, toDate(r.rated_at, 'Asia/Shanghai') AS day,
       r.rater_key AS rater_key, r.rater_phone_masked AS rater_phone_masked,
       c.completed_at AS completed_at
FROM (SELECT * FROM ratings FINAL WHERE {_WINDOW}) AS r
LEFT JOIN (
    SELECT case_id, minIf(toNullable(event_time), event_type = 'completed') AS completed_at
    FROM case_events FINAL
    WHERE event_type = 'completed'
      AND case_id IN (SELECT case_id FROM ratings FINAL WHERE {_WINDOW} AND case_id != '')
    GROUP BY case_id
) AS c ON c.case_id = r.case_id
SETTINGS join_use_nulls = 1
"""

RATINGS_SCHEMA = {
    "rating_id": pl.String, "case_id": pl.String, "dept_code": pl.String, "region_code": pl.String,
    "staff_id": pl.String, "device_id": pl.String, "channel": pl.String, "level": pl.Int64,
    "rated_at": pl.Datetime("ms", "Asia/Shanghai"), "day": pl.Date, "rater_key": pl.String,
    "rater_phone_masked": pl.String, "completed_at": pl.Datetime("ms", "Asia/Shanghai"),
}


def ratings_between(wh: Warehouse, start: dt.datetime, end: dt.datetime) -> pl.DataFrame:
    """The rater-given ratings of [start, end) (naive instants are Asia/Shanghai), columns
    :data:`RATINGS_SCHEMA`, ordered by time then id."""
    params = {"start": start.replace(tzinfo=None) if start.tzinfo is None else start,
              "end": end.replace(tzinfo=None) if end.tzinfo is None else end}
    frame = wh.query_df(RATINGS_SQL, params)
    if frame.is_empty():
        return pl.DataFrame(schema=RATINGS_SCHEMA)
    frame = frame.with_columns(pl.col(c).cast(pl.String) for c in ("dept_code", "region_code", "channel"))
    return frame.cast(RATINGS_SCHEMA).sort("rated_at", "rating_id")


def rating_span(wh: Warehouse) -> tuple[dt.datetime, dt.datetime] | None:
    """(first, last) time of a rater-given rating, or None when there is none."""
    row = wh.query_rows("SELECT min(rated_at), max(rated_at), count() FROM ratings FINAL WHERE NOT default_rating")
    if not row or not row[0][2]:
        return None
    return row[0][0], row[0][1]


def existing_ratings(wh: Warehouse, rating_ids: list[str]) -> set[str]:
    """The ids among ``rating_ids`` that the warehouse holds."""
    if not rating_ids:
        return set()
    rows = wh.query_rows("SELECT DISTINCT rating_id FROM ratings WHERE rating_id IN {ids:Array(String)}",
                         {"ids": list(rating_ids)})
    return {r[0] for r in rows}
