"""Rating invitations (智能邀评): completed cases nobody has rated yet, for an SMS invitation.

The rule, as of an instant T (dates in Asia/Shanghai):

* a case is a candidate when it was **completed** (its handling ended with ``completed``, per the case facts)
  at or before T, and the calendar days from its completion date to date(T) number at least
  ``invite_after_days`` (default 3) and less than ``invite_after_days + invite_window_days`` (default 7): an
  invitation goes out once the applicant has had N days to rate on their own, and stops being sent a week
  later;
* it has **no rating that is the applicant's voice** given by T: a system-written default rating (默认好评)
  does not count — a case rated only by default is still invited, and marked ``default_rated``;
* someone can be texted: the case has a masked phone number on record.

Personal data is never in clear: the list carries only the keyed pseudonym of the applicant
(``applicant_key``, which the SMS gateway resolves inside the source platform) and the masked phone for
display (``138****5678``), both as stored by ingest in ``case_events``.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from supervision import store
from supervision.settings import SupervisionSettings
from hcp.scope import Scope
from warehouse.client import Warehouse
from warehouse.queries.events import first_applicant_contacts
from warehouse.queries.facts import cases_of, completed_between, completed_cases_since
from warehouse.queries.ratings import ratings_of_cases
from warehouse.queries.sql import scope_condition

INVITATION_COLUMNS = ("case_id", "dept_code", "region_code", "item_code", "completed_at", "days_since_completion",
                      "default_rated", "applicant_key", "applicant_phone_masked")
LABELS = {
    "case_id": ("办件编号", "case"), "dept_code": ("部门", "dept"), "region_code": ("区划", "region"),
    "item_code": ("事项", "item"), "completed_at": ("办结时间", "completed at"),
    "days_since_completion": ("办结后天数", "days since completion"),
    "default_rated": ("已有默认评价", "default-rated"), "applicant_key": ("申请人标识（假名）", "applicant pseudonym"),
    "applicant_phone_masked": ("手机号（脱敏）", "phone (masked)"),
}


def invitation_list(completed: pl.DataFrame, ratings: pl.DataFrame, applicants: pl.DataFrame, as_of: dt.datetime,
                    *, after_days: int = 3, window_days: int = 7) -> pl.DataFrame:
    """The cases to invite as of ``as_of`` (see the module doc), oldest completion first.

    ``completed``: ``case_id``, ``dept_code``, ``region_code``, ``item_code``, ``completed_at`` of completed
    cases; ``ratings``: ``case_id``, ``rated_at``, ``default_rating``; ``applicants``: ``case_id``,
    ``applicant_key``, ``applicant_phone_masked``.
    """
    days = (pl.lit(as_of.date()) - pl.col("completed_at").dt.date()).dt.total_days().cast(pl.Int32)
    candidates = completed.filter(pl.col("completed_at") <= as_of).with_columns(days_since_completion=days).filter(
        (pl.col("days_since_completion") >= after_days) & (pl.col("days_since_completion") < after_days + window_days))
    known = ratings.filter(pl.col("rated_at") <= as_of).group_by("case_id").agg(
        voiced=(~pl.col("default_rating")).any(), default_rated=pl.col("default_rating").any())
    return (
        candidates.join(known, on="case_id", how="left")
        .filter(~pl.col("voiced").fill_null(False))
        .join(applicants, on="case_id", how="left")
        .filter(pl.col("applicant_phone_masked").fill_null("") != "")
        .with_columns(default_rated=pl.col("default_rated").fill_null(False),
                      applicant_key=pl.col("applicant_key").fill_null(""))
        .select(INVITATION_COLUMNS)
        .sort("completed_at", "case_id")
    )


def invitations(wh: Warehouse, as_of: dt.datetime | None = None, days: int | None = None, *,
                scope: Scope | None = None, settings: SupervisionSettings | None = None) -> pl.DataFrame:
    """The invitation list as of ``as_of`` (default now) from the warehouse, optionally within a scope
    (``Scope.of_dept`` / ``Scope.of_region``: by the case's own department and region). ``days`` overrides
    ``invite_after_days``. Reads the case facts: run ``hcp compute`` (the CLI does) so they are current."""
    settings = settings or SupervisionSettings.load()
    as_of = store.instant(as_of)
    after = settings.invite_after_days if days is None else int(days)
    if after < 0:
        raise ValueError("days must not be negative")
    earliest = dt.datetime.combine(as_of.date() - dt.timedelta(days=after + settings.invite_window_days - 1),
                                   dt.time(), as_of.tzinfo)
    selected = completed_between(scope_condition(scope or Scope()), earliest, as_of)
    cases = cases_of(selected)
    completed = completed_cases_since(wh, selected)
    ratings = ratings_of_cases(wh, cases, selected.params)
    applicants = first_applicant_contacts(wh, cases, selected.params)
    return invitation_list(completed, ratings, applicants, as_of, after_days=after,
                           window_days=settings.invite_window_days)
