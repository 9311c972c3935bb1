"""Ratings and their follow-ups (the raw tables ``ratings`` and ``followups``), read deduplicated (``FINAL``).

A selection of ratings is a :class:`~warehouse.queries.sql.Where` (or an SQL condition with its parameters)
on the ratings' own columns; the follow-ups of a selection are read through a sub-query, never a long list.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from warehouse.client import Warehouse
from warehouse.queries.sql import Where, as_where, final, in_list, ts_param
from warehouse.queries.reference import items_of_type

RATING_COLUMNS = ("rating_id", "case_id", "item_code", "dept_code", "region_code", "channel", "level",
                  "rated_at", "real_name", "default_rating")
FOLLOWUP_COLUMNS = ("followup_id", "rating_id", "action", "action_time", "actor", "reason_category", "note")

#: The ratings an upheld appeal excludes, in SQL — the same rule as ``appeal_upheld`` in
#: :func:`metrics.ratings.rating_facts` (the latest decision by (action time, follow-up id) decides), for
#: counting ratings in ClickHouse.
UPHELD_RATINGS_SQL = (
    "SELECT rating_id FROM followups FINAL WHERE action IN ('appeal_upheld', 'appeal_rejected') "
    "GROUP BY rating_id HAVING argMax(action, (action_time, followup_id)) = 'appeal_upheld'"
)


# Serving the metrics job, the loop and the pages: ratings and follow-ups of a selection -----------------
def load_ratings(wh: Warehouse, where: Where | str | None = None, parameters: dict | None = None) -> pl.DataFrame:
    """The ratings a condition selects (all without one)."""
    selection = as_where(where, parameters)
    clause = f" WHERE {selection.sql()}" if selection.conditions else ""
    return wh.query_df(f"SELECT {', '.join(RATING_COLUMNS)} FROM {final('ratings')}{clause}", selection.params)


def load_followups(wh: Warehouse, of_ratings: Where | str | None = None, parameters: dict | None = None, *,
                   select_final: bool = True) -> pl.DataFrame:
    """The follow-ups of the ratings a condition on the ratings selects (all without one).

    ``select_final=False`` selects the ratings on every stored copy (no ``FINAL`` in the sub-query): cheaper,
    for a reader that joins the follow-ups to ratings read with ``FINAL`` (as the metrics job does), where a
    follow-up of a rating whose current copy no longer matches finds no rating."""
    selection = as_where(of_ratings, parameters)
    ratings = final("ratings") if select_final else "ratings"
    clause = (f" WHERE rating_id IN (SELECT rating_id FROM {ratings} WHERE {selection.sql()})"
              if selection.conditions else "")
    return wh.query_df(f"SELECT {', '.join(FOLLOWUP_COLUMNS)} FROM {final('followups')}{clause}", selection.params)


def no_followups(wh: Warehouse) -> pl.DataFrame:
    """An empty frame of follow-ups (for rating facts that need none, e.g. a due date)."""
    return load_followups(wh, "0")


def rated_in(period: Any) -> tuple[str, dict]:
    """SQL condition (and parameters) for ratings given in a period (anything with ``start`` and ``end`` dates)."""
    return (
        f"rated_at >= {ts_param('start')} AND rated_at < {ts_param('end')}",
        {"start": dt.datetime.combine(period.start, dt.time()), "end": dt.datetime.combine(period.end, dt.time())},
    )


def rated_in_months(firsts: list[dt.date]) -> Where:
    """Ratings given in any of the months that start on ``firsts``."""
    return Where("has({m:Array(Date)}, toStartOfMonth(rated_at))", {"m": list(firsts)})


def ratings_per_case(wh: Warehouse, where: Where) -> pl.DataFrame:
    """``case_id``, ``rating_count``: how many distinct ratings that are not default ratings each case of the
    ratings a selection holds has — :func:`metrics.ratings.rated_cases` counted in ClickHouse (an incremental
    run needs only this of the touched cases' ratings). Distinct by rating id: a rating re-sent under another
    region or department is two rows even after ``FINAL`` (the table's key holds them)."""
    return wh.query_df(f"SELECT case_id, toUInt32(uniqExact(rating_id)) AS rating_count FROM {final('ratings')} "
                       f"WHERE NOT default_rating AND case_id != '' AND ({where.sql()}) GROUP BY case_id", where.params)


def count_ratings(wh: Warehouse, where: Where) -> int:
    """How many stored rows of ratings a selection holds (copies of a crash window included: a size, not a figure)."""
    return int(wh.query_value(f"SELECT count() FROM ratings WHERE {where.sql()}", where.params) or 0)


def bad_ratings_since(wh: Warehouse, earliest: dt.datetime) -> pl.DataFrame:
    """The bad ratings (level 1–2, not a default rating) given from ``earliest`` on."""
    return load_ratings(wh, Where(f"level <= 2 AND NOT default_rating AND rated_at >= {ts_param('e')}",
                                  {"e": earliest}))


# Serving the metrics job's incremental run: ratings touched since a watermark ------------------------------
def touched_ratings_sql(since: str = "w") -> str:
    """Sub-query: the ratings that arrived, or got a follow-up that arrived, after the bound instant ``since``."""
    w = ts_param(since)
    return (f"SELECT rating_id FROM ratings WHERE received_at > {w} "
            f"UNION DISTINCT SELECT rating_id FROM followups WHERE received_at > {w}")


def touched_rating_months(wh: Warehouse, since: str) -> list[dt.date]:
    """First days of the months of the ratings touched after ``since`` (a Shanghai instant as text)."""
    return [r[0] for r in wh.query_rows(
        f"SELECT DISTINCT toStartOfMonth(rated_at) FROM {final('ratings')} WHERE rating_id IN ({touched_ratings_sql()})",
        {"w": since})]


# Ratings and follow-ups for the dashboard, the bulletins and supervision (dashboard/, reports/, supervision/)
def rating_filter(where: Where, *, item_type: str = "", channel: str = "") -> Where:
    """Ratings of an item type (by the rating's own item) and/or of cases submitted through a channel (by
    the rated case's facts), added to ``where``."""
    if item_type:
        where.add(f"item_code IN ({items_of_type()})", f_type=item_type)
    if channel:
        where.add(f"case_id IN (SELECT case_id FROM {final('case_facts')} WHERE channel = {{f_channel:String}})",
                  f_channel=channel)
    return where


def ratings_of(where: Where) -> str:
    """Sub-query: the ids of the ratings ``where`` selects (bind ``where.params`` with it)."""
    return f"SELECT rating_id FROM {final('ratings')} WHERE {where.sql()}"


def rating_totals(wh: Warehouse, where: Where, group: str, in_group: str, *, by_day: bool = False) -> pl.DataFrame:
    """``group, ratings, good_n``: the ratings ``where`` selects that count (not a default rating, no upheld
    appeal: :data:`UPHELD_RATINGS_SQL`) and the good ones among them (level 4–5), per group (``group`` /
    ``in_group``: :func:`warehouse.queries.facts.group_sql`) — and per day they were given (``day``, Shanghai
    time) with ``by_day``, for adding up over several periods read at once."""
    counted = f"NOT default_rating AND rating_id NOT IN ({UPHELD_RATINGS_SQL})"
    day, by = ("toDate(rated_at) AS day, ", "day, ") if by_day else ("", "")
    return wh.query_df(
        f"SELECT {day}{group} AS group, toUInt32(count()) AS ratings, toUInt32(countIf(level >= 4)) AS good_n "
        f"FROM {final('ratings')} WHERE {where.sql()} AND {counted} AND {in_group} GROUP BY {by}group", where.params)


def rating_ids(wh: Warehouse, where: Where) -> list[str]:
    return wh.query_df(ratings_of(where), where.params)["rating_id"].to_list()


def rating_remarks(wh: Warehouse, where: Where, ids: list[str]) -> pl.DataFrame:
    """``rating_id, comment, stage, rater_name_masked`` of those of ``ids`` that ``where`` selects."""
    return wh.query_df(
        f"SELECT rating_id, comment, stage, rater_name_masked FROM {final('ratings')} "
        f"WHERE {where.sql()} AND {in_list('rating_id', 'ids')}", {**where.params, "ids": ids})


def rater_names(wh: Warehouse, where: Where) -> dict[str, str]:
    """rating id → masked rater name, of the ratings ``where`` selects."""
    return dict(wh.query_rows(f"SELECT rating_id, rater_name_masked FROM {final('ratings')} WHERE {where.sql()}",
                              where.params))


def case_ratings(wh: Warehouse, where: Where) -> pl.DataFrame:
    """The ratings ``where`` selects as a case page shows them (masked rater only), in time order."""
    return wh.query_df(
        "SELECT rating_id, level, channel, stage, comment, tags, rated_at, real_name, default_rating, "
        f"rater_name_masked FROM {final('ratings')} WHERE {where.sql()} ORDER BY rated_at, rating_id", where.params)


def followups_shown(wh: Warehouse, where: Where) -> pl.DataFrame:
    """The follow-ups of the ratings ``where`` selects, as a case page shows them, in the loop's order."""
    return wh.query_df(
        f"SELECT rating_id, action, action_time, actor, reason_category, note FROM {final('followups')} "
        f"WHERE rating_id IN ({ratings_of(where)}) ORDER BY action_time, followup_id", where.params)


def followup_history(wh: Warehouse, rating_id: str) -> pl.DataFrame:
    """Every follow-up of one rating with its provenance, in the order the loop reads them."""
    return wh.query_df(
        "SELECT followup_id, rating_id, action, action_time, actor, reason_category, note, source, received_at "
        f"FROM {final('followups')} WHERE rating_id = {{rid:String}} ORDER BY action_time, followup_id",
        {"rid": rating_id})


def pattern_inputs(wh: Warehouse, where: Where) -> pl.DataFrame:
    """The ratings ``where`` selects with what the suspicious-pattern rules read: ``rating_id, case_id,
    dept_code, staff_id, device_id`` (from ``extra``)``, level, stage, rated_at, default_rating``."""
    return wh.query_df(
        "SELECT rating_id, case_id, dept_code, staff_id, JSONExtractString(extra, 'device_id') AS device_id, level, "
        f"stage, rated_at, default_rating FROM {final('ratings')} WHERE {where.sql()}", where.params)


def rated_cases(where: Where) -> str:
    """Sub-query: the case ids named by the ratings ``where`` selects (bind ``where.params``)."""
    return f"SELECT case_id FROM {final('ratings')} WHERE {where.sql()} AND case_id != ''"


def ratings_of_cases(wh: Warehouse, cases: str, params: dict) -> pl.DataFrame:
    """``case_id, rated_at, default_rating`` of the ratings of the cases of the sub-query ``cases``."""
    return wh.query_df(f"SELECT case_id, rated_at, default_rating FROM {final('ratings')} WHERE case_id IN ({cases})",
                       params)


def of_rating(where: Where, rating_id: str) -> Where:
    """One rating (bound as ``r``), added to ``where``."""
    return where.add("rating_id = {r:String}", r=rating_id)


def among_ratings(where: Where, rating_ids: list[str]) -> Where:
    """Some ratings (bound as ``ids``), added to ``where``."""
    return where.add(in_list("rating_id", "ids"), ids=list(rating_ids))


def bad_only(where: Where) -> Where:
    """Bad ratings (差评, level 1–2), added to ``where``."""
    return where.add("level <= 2")


# Serving the rating-anomaly detector (models.anomaly) --------------------------------------------------------
_WINDOW = f"rated_at >= {ts_param('start')} AND rated_at < {ts_param('end')} AND NOT default_rating"

#: The rater-given ratings of a window with their unit columns and the first completion of the rated case.
ANOMALY_RATINGS_SQL = f"""
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

ANOMALY_RATINGS_SCHEMA = {
    "rating_id": pl.String, "case_id": pl.String, "dept_code": pl.String, "region_code": pl.String,
    "staff_id": pl.String, "device_id": pl.String, "channel": pl.String, "level": pl.Int64,
    "rated_at": pl.Datetime("ms", "Asia/Shanghai"), "day": pl.Date, "rater_key": pl.String,
    "rater_phone_masked": pl.String, "completed_at": pl.Datetime("ms", "Asia/Shanghai"),
}


def ratings_between(wh: Warehouse, start: dt.datetime, end: dt.datetime) -> pl.DataFrame:
    """The ratings given in [start, end) that are the rater's act (system-written default ratings are left
    out; naive instants are Asia/Shanghai), with the unit columns (staff, hall device, department, rater
    pseudonym), the day in Asia/Shanghai, and the first completion of the rated case (null when the rating
    names no case or the case has no ``completed`` event): columns :data:`ANOMALY_RATINGS_SCHEMA`, ordered
    by time then id."""
    frame = wh.query_df(ANOMALY_RATINGS_SQL, {"start": start, "end": end})
    if frame.is_empty():
        return pl.DataFrame(schema=ANOMALY_RATINGS_SCHEMA)
    frame = frame.with_columns(pl.col(c).cast(pl.String) for c in ("dept_code", "region_code", "channel"))
    return frame.cast(ANOMALY_RATINGS_SCHEMA).sort("rated_at", "rating_id")


def rating_span(wh: Warehouse) -> tuple[dt.datetime, dt.datetime] | None:
    """(first, last) time of a rater-given rating (the training window), or None when there is none."""
    row = wh.query_rows(f"SELECT min(rated_at), max(rated_at), count() FROM {final('ratings')} WHERE NOT default_rating")
    if not row or not row[0][2]:
        return None
    return row[0][0], row[0][1]


def existing_ratings(wh: Warehouse, rating_ids: list[str]) -> set[str]:
    """The ids among ``rating_ids`` that the warehouse holds (the evaluation keeps only labelled episodes
    whose ratings were ingested)."""
    if not rating_ids:
        return set()
    rows = wh.query_rows(f"SELECT DISTINCT rating_id FROM ratings WHERE {in_list('rating_id', 'ids')}",
                         {"ids": list(rating_ids)})
    return {r[0] for r in rows}


# Serving the complaint-cause classifier (models.cause_data) --------------------------------------------------
VERIFIED_CAUSES_SQL = """
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


def verified_causes(wh: Warehouse) -> pl.DataFrame:
    """The latest verified cause (``reason_category`` of the latest ``verified`` follow-up) of every bad rating
    in the loop (level 1–2, not a default rating), with its comment and tags, when it was rated and when it
    was verified; by rating id."""
    return wh.query_df(VERIFIED_CAUSES_SQL)


def rating_texts(wh: Warehouse, rating_ids: list[str]) -> pl.DataFrame:
    """``rating_id``, ``comment``, ``tags`` of the given ratings (those that exist)."""
    return wh.query_df(f"SELECT rating_id, comment, CAST(tags, 'Array(String)') AS tags FROM {final('ratings')} "
                       f"WHERE {in_list('rating_id', 'ids')}", {"ids": list(rating_ids)})
