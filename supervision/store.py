"""Reading what the supervision rules need from the warehouse (the I/O edge; the rules are pure).

Every read of a raw table uses ``FINAL``. Scopes (a department, a region subtree, one rating) are applied in
the SQL itself, so a unit's query never carries another unit's rows; follow-ups are selected with a
sub-query on the same scope.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from hcp.workdays import WorkCalendar, region_prefix
from metrics import store as metrics_store
from supervision.loop import loop_frame
from supervision.settings import SupervisionSettings
from warehouse.client import SHANGHAI, Warehouse

T = "{as_of:DateTime64(3, 'Asia/Shanghai')}"
#: Bad ratings that are in the loop: level 1–2 and not a system default rating.
IN_LOOP = "level <= 2 AND NOT default_rating"


def instant(value: dt.datetime | None) -> dt.datetime:
    """An aware Asia/Shanghai instant (now if None; a naive value is taken as Shanghai time)."""
    if value is None:
        return dt.datetime.now(SHANGHAI)
    return value.replace(tzinfo=SHANGHAI) if value.tzinfo is None else value.astimezone(SHANGHAI)


def dept_scope(dept_code: str) -> tuple[str, dict]:
    return "dept_code = {scope_dept:String}", {"scope_dept": dept_code}


def region_scope(region_code: str) -> tuple[str, dict]:
    """A region's subtree by code prefix: province 2 digits, city 4, county 6 (township 9, village 12)."""
    return "startsWith(region_code, {scope_prefix:String})", {"scope_prefix": region_prefix(region_code)}


def load_loop(wh: Warehouse, scope: tuple[str, dict], as_of: dt.datetime, settings: SupervisionSettings,
              calendar: WorkCalendar | None = None, *, bad_only: bool = True) -> pl.DataFrame:
    """The loop of every rating in ``scope`` given up to ``as_of`` (bad ratings in the loop unless
    ``bad_only`` is False), with the follow-ups recorded up to ``as_of``: see :func:`supervision.loop.loop_frame`."""
    where, params = scope
    params = {**params, "as_of": as_of}
    condition = f"({where}) AND rated_at <= {T}" + (f" AND {IN_LOOP}" if bad_only else "")
    ratings = metrics_store.load_ratings(wh, condition, params)
    followups = metrics_store.load_followups(wh, f"SELECT rating_id FROM ratings FINAL WHERE {condition}", params)
    calendar = calendar or metrics_store.load_calendar(wh)
    return loop_frame(ratings, followups, calendar, settings, as_of=as_of)


def load_rating(wh: Warehouse, rating_id: str) -> pl.DataFrame:
    """One rating (zero rows if it does not exist)."""
    return metrics_store.load_ratings(wh, "rating_id = {rid:String}", {"rid": rating_id})


def load_followups_of(wh: Warehouse, rating_id: str) -> pl.DataFrame:
    """Every follow-up of one rating with its provenance, in the order the loop reads them."""
    return wh.query_df(
        "SELECT followup_id, rating_id, action, action_time, actor, reason_category, note, source, received_at "
        "FROM followups FINAL WHERE rating_id = {rid:String} ORDER BY action_time, followup_id",
        {"rid": rating_id},
    )


# 督办 (urges, migration 6) -------------------------------------------------------------------------------
URGE_FIELDS = ("urge_id", "target", "case_id", "rating_id", "step", "flag", "dept_code", "region_code", "urged_by",
               "urged_by_office", "office_code", "note", "urged_at", "source")


def load_urge(wh: Warehouse, urge_id: str) -> dict | None:
    """One stored urge (None if there is none with that id)."""
    frame = wh.query_df(f"SELECT {', '.join(URGE_FIELDS)} FROM urges FINAL WHERE urge_id = {{u:String}}", {"u": urge_id})
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


def load_urges(wh: Warehouse, scope: tuple[str, dict], as_of: dt.datetime | None = None, *,
               case_id: str | None = None, rating_id: str | None = None) -> pl.DataFrame:
    """The urges in ``scope`` (a condition on the urge's own ``dept_code`` / ``region_code``: the target's), made
    up to ``as_of`` (default: all), optionally of one case (its case urges and the step urges of its ratings) or
    one rating."""
    where, params = scope
    sql = f"({where})"
    params = dict(params)
    if as_of is not None:
        sql += f" AND urged_at <= {T}"
        params["as_of"] = as_of
    if case_id is not None:
        sql += " AND case_id = {u_case:String}"
        params["u_case"] = case_id
    if rating_id is not None:
        sql += " AND rating_id = {u_rating:String}"
        params["u_rating"] = rating_id
    return wh.query_df(f"SELECT {', '.join(URGE_FIELDS)} FROM urges FINAL WHERE {sql} ORDER BY urged_at, urge_id",
                       params)


def load_urge_responses(wh: Warehouse, urges: pl.DataFrame, dept_actions: tuple[str, ...],
                        case_ends: tuple[str, ...]) -> pl.DataFrame:
    """The candidate answers to ``urges``: the department's follow-ups (``dept_actions``) of the urged ratings
    and the end events (``case_ends``) of the urged cases, as ``target, key, response_id, action, at``
    (:data:`supervision.urges.RESPONSE_SCHEMA`). Read from the raw tables, so an answer counts as
    soon as it is stored (no metrics run needed)."""
    ratings = urges.filter(pl.col("target") == "step")["rating_id"].unique().to_list()
    cases = urges.filter(pl.col("target") == "case")["case_id"].unique().to_list()
    return wh.query_df(
        "SELECT 'step' AS target, rating_id AS key, followup_id AS response_id, toString(action) AS action, "
        "action_time AS at FROM followups FINAL "
        "WHERE rating_id IN {u_ratings:Array(String)} AND action IN {u_actions:Array(String)} "
        "UNION ALL "
        "SELECT 'case' AS target, case_id AS key, event_id AS response_id, toString(event_type) AS action, "
        "event_time AS at FROM case_events FINAL "
        "WHERE case_id IN {u_cases:Array(String)} AND event_type IN {u_ends:Array(String)}",
        {"u_ratings": ratings, "u_actions": list(dept_actions), "u_cases": cases, "u_ends": list(case_ends)})


def load_case_owner(wh: Warehouse, case_id: str) -> dict | None:
    """The department and region of a case, from its latest event (None if no event of it is known)."""
    rows = wh.query_rows(
        "SELECT toString(argMax(dept_code, event_time)), toString(argMax(region_code, event_time)) "
        "FROM case_events FINAL WHERE case_id = {c:String} GROUP BY case_id", {"c": case_id})
    return {"dept_code": rows[0][0], "region_code": rows[0][1]} if rows else None
