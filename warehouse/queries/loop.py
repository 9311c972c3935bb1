"""The bad-rating loop's reads (ratings in the loop) and the urges (督办, the table ``urges``): append-only,
read deduplicated (``FINAL``)."""

from __future__ import annotations

import polars as pl

from hcp.scope import Scope
from warehouse.client import Warehouse
from warehouse.queries.sql import Where, final, in_list, scope_condition, ts_param


# The bad-rating loop and urges (supervision/, dashboard/, reports/) -------------------------------------
#: Bad ratings that are in the loop: level 1–2 and not a system default rating.
IN_LOOP = "level <= 2 AND NOT default_rating"


def loop_ratings(where: Where, as_of, *, bad_only: bool = True) -> Where:
    """The ratings of ``where`` given up to ``as_of`` (bound as ``as_of``) that are in the loop (all of them
    unless ``bad_only``), added to ``where``."""
    where.add(f"rated_at <= {ts_param('as_of')}", as_of=as_of)
    return where.add(IN_LOOP) if bad_only else where


#: The columns of an urge (督办, migration 6).
URGE_FIELDS = ("urge_id", "target", "case_id", "rating_id", "step", "flag", "dept_code", "region_code", "urged_by",
               "urged_by_office", "office_code", "note", "urged_at", "source")


def load_urge(wh: Warehouse, urge_id: str) -> dict | None:
    """One stored urge (None if there is none with that id)."""
    frame = wh.query_df(f"SELECT {', '.join(URGE_FIELDS)} FROM {final('urges')} WHERE urge_id = {{u:String}}",
                        {"u": urge_id})
    return frame.row(0, named=True) if frame.height else None


def insert_urge(wh: Warehouse, record: dict) -> bool:
    """Append one urge (``record``: :data:`URGE_FIELDS`); False, writing nothing, when its ``urge_id`` is already
    stored — so a re-send never makes a second row. Urges are never updated or deleted (and every read is
    ``FINAL``, so even two concurrent sends of one id count once)."""
    if load_urge(wh, record["urge_id"]) is not None:
        return False
    frame = pl.DataFrame([{k: record.get(k, "") for k in URGE_FIELDS}]).with_columns(
        pl.col("urged_at").cast(pl.Datetime("ms", "Asia/Shanghai")))
    wh.insert_df("urges", frame)
    return True


def load_urges(wh: Warehouse, scope: Scope, as_of=None, *, case_id: str | None = None,
               rating_id: str | None = None) -> pl.DataFrame:
    """The urges in ``scope`` (judged by the urge's own ``dept_code`` / ``region_code``: the target's), made up
    to ``as_of`` (default: all), optionally of one case (its case urges and the step urges of its ratings) or
    one rating; by time."""
    where = scope_condition(scope)
    if as_of is not None:
        where.add(f"urged_at <= {ts_param('as_of')}", as_of=as_of)
    if case_id is not None:
        where.add("case_id = {u_case:String}", u_case=case_id)
    if rating_id is not None:
        where.add("rating_id = {u_rating:String}", u_rating=rating_id)
    return wh.query_df(f"SELECT {', '.join(URGE_FIELDS)} FROM {final('urges')} WHERE {where.sql()} "
                       "ORDER BY urged_at, urge_id", where.params)


def urge_responses(wh: Warehouse, rating_ids: list[str], actions: tuple[str, ...], case_ids: list[str],
                   case_ends: tuple[str, ...]) -> pl.DataFrame:
    """The candidate answers to urges as ``target, key, response_id, action, at``: the follow-ups
    (``actions``) of the urged ratings and the end events (``case_ends``) of the urged cases, from the raw
    tables (an answer counts as soon as it is stored)."""
    return wh.query_df(
        "SELECT 'step' AS target, rating_id AS key, followup_id AS response_id, toString(action) AS action, "
        f"action_time AS at FROM {final('followups')} "
        f"WHERE {in_list('rating_id', 'u_ratings')} AND action IN {{u_actions:Array(String)}} "
        "UNION ALL "
        "SELECT 'case' AS target, case_id AS key, event_id AS response_id, toString(event_type) AS action, "
        f"event_time AS at FROM {final('case_events')} "
        f"WHERE {in_list('case_id', 'u_cases')} AND event_type IN {{u_ends:Array(String)}}",
        {"u_ratings": rating_ids, "u_actions": list(actions), "u_cases": case_ids, "u_ends": list(case_ends)})
