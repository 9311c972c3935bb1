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
