"""What the supervision rules read from the warehouse, assembled for them (the I/O edge; the rules are pure).

The reads themselves are the query layer's (:mod:`warehouse.queries.ratings`, :mod:`warehouse.queries.loop`):
every read of a raw table uses ``FINAL``, and a :class:`hcp.scope.Scope` (a department, a region subtree) is
applied in the SQL itself, so a unit's query never carries another unit's rows; follow-ups are selected with a
sub-query on the same scope.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from hcp.scope import Scope
from hcp.workdays import WorkCalendar
from supervision.loop import loop_frame
from supervision.settings import SupervisionSettings
from warehouse.client import SHANGHAI, Warehouse
from warehouse.queries.loop import loop_ratings
from warehouse.queries.ratings import load_followups, load_ratings, of_rating
from warehouse.queries.reference import load_calendar
from warehouse.queries.sql import Where, as_where, scope_condition


def instant(value: dt.datetime | None) -> dt.datetime:
    """An aware Asia/Shanghai instant (now if None; a naive value is taken as Shanghai time)."""
    if value is None:
        return dt.datetime.now(SHANGHAI)
    return value.replace(tzinfo=SHANGHAI) if value.tzinfo is None else value.astimezone(SHANGHAI)


def load_loop(wh: Warehouse, scope: Scope, as_of: dt.datetime, settings: SupervisionSettings,
              calendar: WorkCalendar | None = None, *, bad_only: bool = True, where: Where | None = None) -> pl.DataFrame:
    """The loop of every rating in ``scope`` (and ``where``, e.g. a page's filters) given up to ``as_of`` (bad
    ratings in the loop unless ``bad_only`` is False), with the follow-ups recorded up to ``as_of``: see
    :func:`supervision.loop.loop_frame`."""
    selection = loop_ratings(scope_condition(scope, as_where(where)), as_of, bad_only=bad_only)
    ratings = load_ratings(wh, selection)
    followups = load_followups(wh, selection)
    return loop_frame(ratings, followups, calendar or load_calendar(wh), settings, as_of=as_of)


def load_rating(wh: Warehouse, rating_id: str) -> pl.DataFrame:
    """One rating (zero rows if it does not exist)."""
    return load_ratings(wh, of_rating(Where(), rating_id))
