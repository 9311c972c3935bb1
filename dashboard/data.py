"""The dashboard's data access: every query takes a :class:`Scope` and filters by it **in SQL**.

Nothing here fetches rows and hides some of them afterwards: a department user's query never reads
another department's cases, ratings or follow-ups, whatever page or URL parameter asked for them. Pages
call these functions only (through :mod:`dashboard.ui`'s cache), never the warehouse directly.

Figures are the engine's own:

* **Stored** (the default): a calendar month and no item-type or channel filter read the current run of
  ``group_metrics`` — the very rows ``hcp metrics`` prints.
* **Live**: a date range, an item type or a channel is computed on the fly by the engine's pure functions
  (:func:`metrics.ratings.rating_facts`, :func:`metrics.indicators.rating_counts`,
  :func:`metrics.indicators.catalogue_counts`, :func:`metrics.indicators.indicator_values`,
  :func:`metrics.jobs.score_period`, :func:`metrics.indicators.case_counts`) from SQL-filtered inputs.
  Without filters, live equals stored (tested).

Red and yellow cards are :func:`metrics.flags.flags_as_of` with the scope applied in SQL (see :func:`open_flags`).

Personal data: only the masked columns (``*_masked``) are ever selected; pseudonyms (``applicant_key``,
``rater_key``) never leave the warehouse through this module.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from hcp.domain import REGION_PREFIX
from hcp.periods import Period
from hcp.scope import NotPermitted, Scope
from warehouse.queries.state import department_region_changes
from metrics.facts import clock_stops
from metrics.flags import flags_as_of
from metrics.indicators import (CELL_KEYS, COUNT_COLUMNS, INDICATOR_KEYS, OWN_LEVELS, case_counts, catalogue_counts,
                                indicator_values, items_in_force, rating_counts)
from metrics.jobs import MetricsSettings, rating_facts_where, score_period
from metrics.quality import inconsistent_cases as listed_inconsistent, untimed_cases as listed_untimed
from models import cause, cause_data, risk, store as model_store
from supervision import actions
from supervision.settings import SupervisionSettings
from supervision.store import load_loop
from supervision.urges import Urger, record_urge as record_an_urge, urge_outcomes
from warehouse.client import SHANGHAI, Warehouse
from warehouse.queries import events, facts, group_metrics, ratings, reference
from warehouse.queries.sql import Where, scope_condition
from warehouse.queries.state import data_stamp, due_judged_on

#: Columns never selected into the dashboard (pseudonyms of people).
FORBIDDEN_COLUMNS = ("applicant_key", "rater_key")


# Filters ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Filters:
    """Period (``YYYY-MM`` or ``YYYY-MM-DD..YYYY-MM-DD``), item type and case channel ('' = all)."""

    period: str
    item_type: str = ""
    channel: str = ""

    @property
    def parsed(self) -> Period:
        return Period.parse(self.period)

    @property
    def live(self) -> bool:
        """True when the figures cannot be read from the stored monthly results."""
        return bool(self.item_type or self.channel) or not self.parsed.is_month


#: The prefix widths of the levels whose governments' own work is a ``region:own`` group (本级).
OWN_WIDTHS = tuple(REGION_PREFIX[level] for level in OWN_LEVELS)


def _cases(scope: Scope, filters: Filters) -> Where:
    """The scope's cases (by the case's own region and department) of the filters' item type and channel."""
    return facts.case_filter(scope_condition(scope), item_type=filters.item_type, channel=filters.channel)


def _ratings(scope: Scope, filters: Filters) -> Where:
    """The scope's ratings (by the rating's own region and department) of the filters' item type and channel."""
    return ratings.rating_filter(scope_condition(scope), item_type=filters.item_type, channel=filters.channel)


_calendars: dict[tuple, object] = {}


def work_calendar(wh: Warehouse):
    """The working-day calendar with the stored overrides (memoised on their content)."""
    key = (wh.display_dsn, reference.calendar_stamp(wh))
    if key not in _calendars:
        if len(_calendars) > 8:
            _calendars.clear()
        _calendars[key] = reference.load_calendar(wh)
    return _calendars[key]


# Reference data ------------------------------------------------------------------------------------------
#: The pages' cache is keyed on :func:`warehouse.queries.state.data_stamp` (``data_stamp`` here): it changes
#: whenever anything the dashboard shows may have changed — a raw record arrived (a rating, a follow-up, an
#: urge: the loop page shows them before the next compute), a metrics run, new case facts.
__all__ = ["Filters", "data_stamp"]


def periods(wh: Warehouse) -> list[str]:
    """Months with data (a consistent completed case or a counted rating in the current stored result),
    newest first: :func:`warehouse.queries.group_metrics.stored_periods`, so an empty or phantom month never shows."""
    return list(reversed(group_metrics.stored_periods(wh)))


#: A warehouse whose newest event is older than this holds past (or demo) data: "now" is that event.
PAST_DATA_AFTER = dt.timedelta(days=3)


def data_instant(now: dt.datetime, latest: dt.datetime | None) -> dt.datetime:
    """What "now" is for the data: ``now``; or, for a warehouse whose newest event is days old (past or demo
    data), that event's time rounded up to the next minute (so the instant is at or after every known event)."""
    now = now.astimezone(SHANGHAI).replace(second=0, microsecond=0)
    if latest is not None and now - latest > PAST_DATA_AFTER:
        return (latest.astimezone(SHANGHAI) + dt.timedelta(minutes=1)).replace(second=0, microsecond=0)
    return now


@dataclass(frozen=True)
class PeriodChoice:
    """The months the period picker offers and the one the dashboard opens on.

    ``months``: months with data, newest first. ``in_progress``: the month of the data instant ``as_of``
    when it has data (not over yet: its figures change as data arrives). ``default``: the newest month that
    is over at ``as_of`` (the last complete month), else the newest month. ``live_clock``: ``as_of`` is the
    real now (not the newest event of past data)."""

    months: tuple[str, ...]
    default: str | None
    in_progress: str | None
    as_of: dt.datetime
    live_clock: bool = True


def period_choice(months: list[str], as_of: dt.datetime, *, live_clock: bool = True) -> PeriodChoice:
    """:class:`PeriodChoice` for the months with data (newest first) at the data instant ``as_of``: a month
    is complete once ``as_of`` is at or after its end (00:00 of the next month, Asia/Shanghai)."""
    current = f"{as_of.astimezone(SHANGHAI):%Y-%m}"
    complete = [m for m in months if m < current]
    default = complete[0] if complete else (months[0] if months else None)
    return PeriodChoice(tuple(months), default, current if current in months else None, as_of, live_clock)


def regions_in_scope(wh: Warehouse, scope: Scope) -> pl.DataFrame:
    """Province, city and county regions the scope may select (a department selects none)."""
    if scope.dept_code and scope.role == "dept":
        return pl.DataFrame(schema={"region_code": pl.String, "region_name": pl.String, "level": pl.UInt8})
    return reference.regions_of(wh, scope)


def departments_in_scope(wh: Warehouse, scope: Scope) -> pl.DataFrame:
    return reference.departments_of(wh, scope)


def region_names(wh: Warehouse, scope: Scope) -> dict[str, str]:
    """Names of the regions of the scope's subtree (region names are public reference data)."""
    return reference.region_names_in(wh, scope)


def item_names(wh: Warehouse, scope: Scope) -> dict[str, str]:
    return reference.item_names_in(wh, scope)


def item_types(wh: Warehouse) -> list[str]:
    return reference.item_types(wh)


def case_channels(wh: Warehouse) -> list[str]:
    return facts.case_channels(wh)


def check_region(wh: Warehouse, scope: Scope, region: str) -> Scope:
    """The scope narrowed to a region the user may see (and that exists)."""
    narrowed = scope.narrow(region=region)
    if scope.role == "dept":
        raise NotPermitted(region)
    if not reference.region_exists(wh, region):
        raise NotPermitted(region)
    return narrowed


def check_dept(wh: Warehouse, scope: Scope, dept: str) -> Scope:
    """The scope narrowed to a department of it (NotPermitted for another one or an unknown code)."""
    narrowed = scope.narrow(dept=dept)
    if not reference.department_count(wh, narrowed):
        raise NotPermitted(dept)
    return narrowed


def check_item(wh: Warehouse, scope: Scope, item: str) -> str:
    """The department of an item of the scope (NotPermitted otherwise)."""
    dept = reference.item_department(wh, scope, item)
    if dept is None:
        raise NotPermitted(item)
    return dept


# Group metrics: stored and live -------------------------------------------------------------------------
def stored_groups(wh: Warehouse, scope: Scope, period: str, grouping: str, codes: list[str] | None = None) -> pl.DataFrame:
    """The current stored rows of one month and grouping that lie in the scope (optionally some codes)."""
    return group_metrics.stored_rows_in_scope(wh, scope, [period], grouping, codes)


#: The case-fact columns the case counts are made of (:func:`metrics.indicators.case_cells`).
CASE_COUNT_INPUTS = ("completed_at", "state", "inconsistent", "on_time", "net_working_days", "same_day", "trips",
                     "online", "rating_count", *CELL_KEYS)


def _span(periods: list[Period]) -> Period:
    """The least period holding every one of ``periods``."""
    return periods[0] if len(periods) == 1 else Period(
        "span", min(p.start for p in periods), max(p.end for p in periods))


def live_case_counts(wh: Warehouse, scope: Scope, filters: Filters, grouping: str,
                     periods: list[Period]) -> dict[str, pl.DataFrame]:
    """The counts behind the case indicators of the scope's cases completed in each period, counted by the
    metrics job's own rule (:func:`metrics.indicators.case_counts`) over the SQL-selected case facts — so live
    figures and stored ones cannot count differently (inconsistent cases only in ``inconsistent_cases``, a case
    that cannot be timed outside ``timed_n``). The facts of every period are read at once."""
    selected = facts.load_case_facts(wh, _cases(scope, filters).add(*facts.completed_in(_span(periods))),
                                     columns=CASE_COUNT_INPUTS)
    return {p.label: case_counts(selected, p, grouping) for p in periods}


def _settings():
    return MetricsSettings.load()


def live_rating_counts(wh: Warehouse, scope: Scope, filters: Filters, grouping: str, periods: list[Period],
                       calendar=None) -> dict[str, pl.DataFrame]:
    """:func:`metrics.indicators.rating_counts` of each period for the scope and filters. Ratings that count
    and good ratings are counted in SQL (per day, then summed over each period); the bad ratings — few — go
    through :func:`metrics.ratings.rating_facts` for the follow-up figures (rectified, on time, revisited).
    The ratings of every period are read at once."""
    span = _span(periods)
    group, in_group = facts.group_sql(grouping, OWN_WIDTHS)
    daily = ratings.rating_totals(wh, _ratings(scope, filters).add(*ratings.rated_in(span)), group, in_group,
                                  by_day=True)
    rated = live_rating_facts(wh, scope, filters, calendar, bad_only=True, period=span)
    counts = {}
    for period in periods:
        totals = (daily.filter((pl.col("day") >= period.start) & (pl.col("day") < period.end))
                  .group_by("group").agg(pl.col("ratings", "good_n").sum()))
        bad = rating_counts(rated, period, grouping)
        # Every count of the bad ratings (bad_count, rectified, due, overdue unrectified, in progress, …).
        columns = [c for c in bad.columns if c not in ("group", "ratings", "good_n")]
        merged = totals.join(bad.select("group", *columns), on="group", how="full", coalesce=True)
        counts[period.label] = merged.with_columns([pl.col(c).fill_null(0) for c in ("ratings", "good_n", *columns)])
    return counts


def live_rating_facts(wh: Warehouse, scope: Scope, filters: Filters, calendar=None, *, bad_only: bool = False,
                      as_of: dt.datetime | None = None, period: Period | None = None) -> pl.DataFrame:
    """:func:`metrics.ratings.rating_facts` of the scope's ratings given in the period (``period``, else the
    filters'; SQL-filtered), or of its bad ratings (level 1–2) only; due-ness as of ``as_of`` (default: now, as
    the metrics job)."""
    where = _ratings(scope, filters).add(*ratings.rated_in(period or filters.parsed))
    if bad_only:
        ratings.bad_only(where)
    return rating_facts_where(wh, where, _settings(), calendar or work_calendar(wh), as_of=as_of)


def due_day(wh: Warehouse, filters: Filters) -> dt.date:
    """The day the bad ratings' due-ness is judged on for these figures (a rating is due once that day is
    past its limit): for stored figures, the day the latest metrics run judged it on (each run recomputes
    every month whose due-ness moved since the one before, so every stored ``bad_due`` /
    ``bad_overdue_unrectified`` / ``bad_in_progress`` is as of that day), so that a list agrees with them;
    for figures computed live, today (as they are)."""
    judged = None if filters.live else due_judged_on(wh)
    return judged or dt.datetime.now(SHANGHAI).date()


def bad_rectification(wh: Warehouse, scope: Scope, filters: Filters) -> pl.DataFrame:
    """Where each bad rating of the period stands against its rectification limit (DOMAIN.md): the rating
    facts of the scope's bad ratings with ``status`` — ``rectified`` (on time or not: ``rectified_on_time``),
    ``overdue`` (逾期未整改: due and not rectified), ``in_progress`` (整改中: not due, not rectified) or
    ``not_counted`` (appeal upheld) — and ``working_days_left`` to the limit for those in progress (working
    days after the day up to the limit), as of :func:`due_day` (the counts agree with the period's
    ``bad_overdue_unrectified`` and ``bad_in_progress``). ``as_of`` (that day) is in every row."""
    day = due_day(wh, filters)
    calendar = work_calendar(wh)
    rated = live_rating_facts(wh, scope, filters, calendar, bad_only=True,
                              as_of=dt.datetime.combine(day, dt.time(12), SHANGHAI))
    slot = calendar.locality_expr("region_code")
    left = (calendar.index_expr("due_date", slot) - calendar.index_expr(pl.lit(day), slot)).cast(pl.Int32)
    return rated.filter(pl.col("bad")).with_columns(
        status=pl.when(~pl.col("counted")).then(pl.lit("not_counted"))
        .when(pl.col("rectified")).then(pl.lit("rectified"))
        .when(pl.col("due")).then(pl.lit("overdue"))
        .otherwise(pl.lit("in_progress")),
    ).with_columns(
        working_days_left=pl.when(pl.col("status") == "in_progress").then(left),
        as_of=pl.lit(day, dtype=pl.Date),
    ).sort("rated_at", "rating_id")


def _catalogue_inputs(wh: Warehouse, scope: Scope, filters: Filters) -> tuple[pl.DataFrame, pl.DataFrame]:
    items = reference.load_items(wh)
    departments = reference.load_departments(wh)
    if not scope.unrestricted:
        visible = departments_in_scope(wh, scope)["dept_code"]
        items = items.filter(pl.col("dept_code").is_in(visible.implode()))
    if filters.item_type:
        items = items.filter(pl.col("item_type") == filters.item_type)
    return items, departments


def live_groups(wh: Warehouse, scope: Scope, filters: Filters, grouping: str, calendar=None) -> pl.DataFrame:
    """Every indicator, score and rank of a grouping, computed now for the scope and filters.

    Ranks compare the units of the scope only (peers outside it are not read)."""
    period = filters.parsed
    return live_groups_of(wh, scope, filters, grouping, [period], calendar)[period.label]


def live_groups_of(wh: Warehouse, scope: Scope, filters: Filters, grouping: str, periods: list[Period],
                   calendar=None) -> dict[str, pl.DataFrame]:
    """:func:`live_groups` of each of ``periods`` (the filters' own period is not used), from one read of the
    case facts and one of the ratings over all of them — a trend of months computed live reads its inputs
    once, not once a month. Each period is counted, rolled up and scored alone, as the metrics job does."""
    if not periods:
        return {}
    if group_metrics.group_scope(scope, grouping) is None:
        return {p.label: pl.DataFrame() for p in periods}
    case_part = live_case_counts(wh, scope, filters, grouping, periods)
    rating_part = live_rating_counts(wh, scope, filters, grouping, periods, calendar)
    items, departments = _catalogue_inputs(wh, scope, filters)
    all_items = items if scope.unrestricted and not filters.item_type else reference.load_items(wh)
    return {period.label: _scored(scope, grouping, period, [case_part[period.label], rating_part[period.label],
                                                             catalogue_counts(items, departments, period, grouping)],
                                  all_items, departments)
            for period in periods}


def _scored(scope: Scope, grouping: str, period: Period, parts: list[pl.DataFrame], all_items: pl.DataFrame,
            departments: pl.DataFrame) -> pl.DataFrame:
    """A period's counts (case, rating and catalogue parts) as indicators, scored and ranked among the
    scope's units."""
    merged = parts[0]
    for part in parts[1:]:
        merged = merged.join(part, on="group", how="full", coalesce=True)
    merged = merged.with_columns([pl.col(c).fill_null(0).cast(pl.Int64) for c in COUNT_COLUMNS if c in merged.columns])
    values = indicator_values(merged).sort("group")
    if grouping.startswith("region:") and scope.region_prefix:
        values = values.filter(pl.col("group").str.starts_with(scope.region_prefix))
    scored = score_period(values, grouping, _settings(), None, all_items, departments, period)
    contribution_keys = [c for c in scored.columns if c.startswith("contrib_")]
    contributions = (pl.struct([pl.col(c).alias(c[len("contrib_"):]) for c in contribution_keys]).struct.json_encode()
                     if contribution_keys else pl.lit("{}"))
    return scored.rename({"group": "group_code"}).with_columns(
        period=pl.lit(period.label), grouping=pl.lit(grouping), contributions=contributions,
    ).drop(contribution_keys)


def _with_rank_status(frame: pl.DataFrame) -> pl.DataFrame:
    """``rank_status`` as stored; for a row stored before it existed, ranked if it has a rank, else no_data
    (as :func:`metrics.records.metrics_records`)."""
    if frame.height == 0:
        return frame
    fallback = pl.when(pl.col("rank").is_not_null()).then(pl.lit("ranked")).otherwise(pl.lit("no_data"))
    if "rank_status" not in frame.columns:
        return frame.with_columns(rank_status=fallback)
    status = pl.col("rank_status")
    return frame.with_columns(rank_status=pl.when(status.is_null() | (status == "")).then(fallback).otherwise(status))


def groups(wh: Warehouse, scope: Scope, filters: Filters, grouping: str) -> pl.DataFrame:
    """Rows of a grouping in the scope: stored for a plain month, live otherwise; with ``name`` and
    ``rank_status``."""
    if filters.live:
        frame = live_groups(wh, scope, filters, grouping)
    else:
        frame = stored_groups(wh, scope, filters.period, grouping)
    if frame.height == 0:
        return frame
    return _with_rank_status(frame).with_columns(
        name=pl.col("group_code").replace_strict(_names(wh, scope, grouping), default=""))


def _names(wh: Warehouse, scope: Scope, grouping: str) -> dict[str, str]:
    if grouping == "dept":
        return dict(departments_in_scope(wh, scope).select("dept_code", "dept_name").rows())
    if grouping == "item":
        return item_names(wh, scope)
    if grouping.startswith("region:"):
        return region_names(wh, scope)
    return {"all": "全部"}


def unit_row(wh: Warehouse, scope: Scope, filters: Filters) -> dict | None:
    """The scope's own figures (its row of ``group_metrics``, or computed live), or None if empty."""
    unit = scope.unit()
    if unit is None or filters.live:
        return _unit_of(live_groups(wh, scope, filters, _unit_grouping(unit)), unit)
    grouping, code = unit
    return _unit_of(stored_groups(wh, scope, filters.period, grouping, [code]), unit)


def _unit_grouping(unit: tuple[str, str] | None) -> str:
    return "all" if unit is None else unit[0]


def _unit_of(frame: pl.DataFrame, unit: tuple[str, str] | None) -> dict | None:
    """The unit's row of a grouping's rows (the whole, ``all``, for a scope without a unit), or None."""
    if frame.height == 0:
        return None
    if unit is None:
        frame, code = frame.with_columns(group_code=pl.lit("all")), "all"
    else:
        code = unit[1]
    rows = _with_rank_status(frame.filter(pl.col("group_code") == code)).to_dicts()
    return rows[0] if rows else None


def unit_trend(wh: Warehouse, scope: Scope, filters: Filters, months: int = 12) -> pl.DataFrame:
    """The scope's figures for each month with data up to the period's (oldest first): a month in which the
    unit has no completed case and no rating is no point of the trend. Figures computed live (a scope without
    a unit, an item type or a channel) cover the last six months, read at once."""
    unit = scope.unit()
    end_label = filters.parsed.end - dt.timedelta(days=1)
    labels = [p for p in reversed(periods(wh)) if p <= f"{end_label:%Y-%m}"][-months:]
    if unit is None or filters.item_type or filters.channel:
        computed = live_groups_of(wh, scope, filters, _unit_grouping(unit), [Period.parse(m) for m in labels[-6:]])
        rows = [row for frame in computed.values() if (row := _unit_of(frame, unit))]
        frame = pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame()
    else:
        grouping, code = unit
        frame = group_metrics.stored_rows_in_scope(wh, scope, labels, grouping, [code])
    if frame.height == 0:
        return frame
    return frame.filter((pl.col("cases_completed").fill_null(0) > 0) | (pl.col("ratings").fill_null(0) > 0))


# Cases ---------------------------------------------------------------------------------------------------
CASE_LIST_COLUMNS = ("case_id", "item_code", "dept_code", "region_code", "channel", "state", "accepted_at",
                     "completed_at", "deadline", "on_time", "overdue_days", "net_working_days", "trips")


def cases(wh: Warehouse, scope: Scope, filters: Filters, *, item: str | None = None, overdue_only: bool = False,
          limit: int = 1000) -> pl.DataFrame:
    """Cases of the scope completed in the period, plus those still open that were accepted by its end."""
    return facts.listed_cases(wh, _cases(scope, filters), filters.parsed, CASE_LIST_COLUMNS, item=item,
                              overdue_only=overdue_only, limit=limit)


def count_cases(wh: Warehouse, scope: Scope, filters: Filters, *, overdue_only: bool = False) -> int:
    return facts.completed_count(wh, _cases(scope, filters), filters.parsed, overdue_only=overdue_only)


def latest_instant(wh: Warehouse) -> dt.datetime | None:
    """The newest event time in the warehouse (what "now" means for a warehouse of past data)."""
    value = events.latest_event_time(wh)
    return value.astimezone(SHANGHAI) if value is not None else None


def open_flags(wh: Warehouse, scope: Scope, filters: Filters, as_of: dt.datetime, warning_days: int,
               calendar=None) -> pl.DataFrame:
    """Red and yellow open cases of the scope as of an instant: :func:`metrics.flags.flags_as_of` with the
    scope and the filters applied to the candidate cases in SQL."""
    where = _cases(scope, filters)
    return flags_as_of(wh, as_of, warning_days, where=where.sql(), parameters=where.params,
                       calendar=calendar or work_calendar(wh))


def likely_overdue(wh: Warehouse, scope: Scope, filters: Filters, as_of: dt.datetime, warning_days: int,
                   threshold: float, model_version: int | None, lang: str = "zh") -> dict:
    """可能超期 / likely to go overdue: the scope's open cases that are neither red nor yellow at ``as_of``
    and that the current overdue-risk model scores at ``threshold`` or more (:func:`models.risk.likely_overdue`),
    riskiest first, with their factors in words. The cases are scored with the scope only, so that a
    department's open workload (a feature) stays whole and a case scores as in ``hcp models risk``; the item
    type and channel filters then narrow the list. ``model_version`` (:func:`models.store.current_version`)
    is only there so that a retrained model is not served from the cache.

    Returns ``{"status": "ok" | "missing" | "incompatible", "message": str, "cases": DataFrame}``: with no
    usable model the message says why (one line) and the frame is empty."""
    try:
        model, manifest = model_store.load("risk", risk.FEATURE_VERSION, lang)
    except model_store.ModelMissing as exc:
        return {"status": "missing", "message": str(exc), "cases": pl.DataFrame()}
    except model_store.ModelIncompatible as exc:
        return {"status": "incompatible", "message": str(exc), "cases": pl.DataFrame()}
    where = scope_condition(scope)
    scored = risk.score(wh, as_of, model, warning_days=warning_days, where=where.sql(), parameters=where.params)
    likely = risk.likely_overdue(scored, threshold)
    if (filters.item_type or filters.channel) and likely.height:
        kept = facts.case_filter(Where(), item_type=filters.item_type, channel=filters.channel)
        likely = likely.join(facts.case_ids_among(wh, kept, likely["case_id"].to_list()), on="case_id", how="semi")
    return {"status": "ok", "message": "", "model_version": manifest["version"],
            "cases": likely.drop("factors").with_columns(risk.factor_words_column(likely["factors"], lang))}


def case_detail(wh: Warehouse, scope: Scope, case_id: str) -> dict | None:
    """Everything about one case of the scope — facts, events, clock stops, ratings and their follow-ups —
    or None when the case is not in the scope (or does not exist)."""
    where = facts.of_case(scope_condition(scope), case_id)
    found = facts.load_case_facts(wh, where)
    if found.height == 0:
        return None
    history = events.case_history(wh, case_id, facts.cases_of(where), where.params)
    stops = clock_stops(
        history.select("event_type", "event_time").with_columns(case_id=pl.lit(case_id)).lazy(),
        found.select("case_id", "accepted_at").lazy(),
    ).collect().sort("start")
    return {"facts": found.row(0, named=True), "events": history, "stops": stops,
            "ratings": ratings.case_ratings(wh, where), "followups": ratings.followups_shown(wh, where)}


# Data quality ------------------------------------------------------------------------------------------
def inconsistent_cases(wh: Warehouse, scope: Scope, filters: Filters) -> pl.DataFrame:
    """The scope's inconsistent cases of the period (:func:`metrics.quality.inconsistent_cases`: any milestone
    in the period), for correction: an office sees its subtree, a department its own cases."""
    where = _cases(scope, filters)
    return listed_inconsistent(wh, filters.parsed, where=where)


def untimed_cases(wh: Warehouse, scope: Scope, filters: Filters) -> pl.DataFrame:
    """The scope's cases completed in the period under an item the catalogue does not hold (no deadline:
    :func:`metrics.quality.untimed_cases`), for the catalogue to be completed."""
    where = _cases(scope, filters)
    return listed_untimed(wh, filters.parsed, where=where)


def department_moves(wh: Warehouse, scope: Scope) -> pl.DataFrame:
    """Who put a department in another region, and when (:func:`warehouse.queries.state.department_region_changes`:
    the reference-data history ingest keeps): a department sees its own moves, an office the moves into or
    out of its subtree (a move changes who sees a department's figures)."""
    if scope.dept_code:
        return department_region_changes(wh, dept_code=scope.dept_code)
    return department_region_changes(wh, region_prefix=scope.region_prefix or None)


# Catalogue -----------------------------------------------------------------------------------------------
def catalogue_items(wh: Warehouse, scope: Scope, filters: Filters, dept: str | None = None) -> pl.DataFrame:
    """The scope's items in force at the period's end, with their name, department and declared figures."""
    items, _ = _catalogue_inputs(wh, scope, filters)
    if dept:
        items = items.filter(pl.col("dept_code") == dept)
    return items_in_force(items, filters.parsed.end - dt.timedelta(days=1)).sort("dept_code", "item_code")


# Bad ratings: the loop of supervision/ ----------------------------------------------------------------
#: What each role may record: a department works its own bad ratings; a supervisory office decides appeals.
DEPT_ACTIONS = ("verified", "rectified", "explained", "feedback", "revisited", "appealed")
OFFICE_ACTIONS = ("appeal_upheld", "appeal_rejected")


def actions_for(role: str) -> tuple[str, ...]:
    return DEPT_ACTIONS if role == "dept" else OFFICE_ACTIONS


def loop_rows(wh: Warehouse, scope: Scope, filters: Filters, as_of: dt.datetime, *, period_only: bool) -> pl.DataFrame:
    """The bad-rating loop (:func:`supervision.store.load_loop`) of the scope's ratings as of an instant:
    every bad rating given by then (the queue), or only those given in the period; with the comment, the
    stage and the masked rater."""
    where = ratings.rating_filter(Where(), item_type=filters.item_type, channel=filters.channel)  # scope: load_loop's
    if period_only:
        where.add(*ratings.rated_in(filters.parsed))
    loop = load_loop(wh, scope, as_of, SupervisionSettings.load(), work_calendar(wh), where=where)
    if loop.height == 0:
        return loop
    return loop.join(ratings.rating_remarks(wh, where, loop["rating_id"].to_list()), on="rating_id", how="left")


def cause_suggestions(wh: Warehouse, scope: Scope, rating_ids: tuple[str, ...], model_version: int | None,
                      lang: str = "zh") -> pl.DataFrame:
    """The complaint-cause model's suggestion (:mod:`models.cause`) for the scope's given ratings: ``rating_id``,
    ``predicted_cause``, ``predicted_confidence`` (0–1), ``predicted_basis`` (``model``, or ``rule`` when the
    text says nothing). Only a trained, compatible model is used (none: an empty frame, and the queue shows no
    suggestion); ``model_version`` (:func:`models.store.current_version`) keeps a retrained model out of the cache."""
    empty = pl.DataFrame(schema={"rating_id": pl.String, "predicted_cause": pl.String,
                                 "predicted_confidence": pl.Float64, "predicted_basis": pl.String})
    if model_version is None or not rating_ids:
        return empty
    try:
        model = model_store.load("cause", cause.FEATURE_VERSION, lang)[0]  # loaded once per file (models.store)
    except (model_store.ModelMissing, model_store.ModelIncompatible):
        return empty
    in_scope = ratings.rating_ids(wh, ratings.among_ratings(scope_condition(scope), list(rating_ids)))
    predicted = cause.predict(model, cause_data.load_texts(wh, in_scope))
    return predicted.select("rating_id", predicted_cause="cause", predicted_confidence="confidence",
                            predicted_basis="basis")


def rating_in_scope(wh: Warehouse, scope: Scope, rating_id: str) -> bool:
    return ratings.count_ratings(wh, ratings.of_rating(scope_condition(scope), rating_id)) > 0


def loop_detail(wh: Warehouse, scope: Scope, rating_id: str, as_of: dt.datetime | None = None) -> dict:
    """Where one rating's loop stands (:func:`supervision.actions.loop_status`) and its history, for a rating
    of the scope (NotPermitted otherwise)."""
    if not rating_in_scope(wh, scope, rating_id):
        raise NotPermitted(rating_id)
    status = actions.loop_status(wh, rating_id, as_of)
    history = actions.history(wh, rating_id).select("action", "action_time", "actor", "reason_category", "note", "source")
    return {"status": status, "history": history}


def record_loop_action(wh: Warehouse, scope: Scope, role: str, rating_id: str, action: str, actor: str,
                       reason_category: str | None = None, note: str | None = None) -> str:
    """Record an action of the loop through :func:`supervision.actions.record_action` (which checks it
    against the state machine), after checking here that the rating is in the user's scope and that the
    user's role may take this action. Raises NotPermitted or ``ActionRefused``; returns the follow-up id."""
    if action not in actions_for(role) or not rating_in_scope(wh, scope, rating_id):
        raise NotPermitted(rating_id)
    return actions.record_action(wh, rating_id, action, actor, reason_category or None, note or None,
                                 source="dashboard")


# 督办 (urges): supervision.urges ----------------------------------------------------------------------
def urges(wh: Warehouse, scope: Scope, as_of: dt.datetime, *, case_id: str | None = None,
          rating_id: str | None = None) -> pl.DataFrame:
    """The scope's urges (by the urged target's own region and department, in SQL) made up to ``as_of``, with
    what followed each (:func:`supervision.urges.urge_outcomes`); optionally of one case (its case urges and
    the step urges of its ratings) or one rating."""
    return urge_outcomes(wh, scope, as_of, case_id=case_id, rating_id=rating_id,
                         calendar=work_calendar(wh))


def record_urge(wh: Warehouse, scope: Scope, username: str, office_name: str, *, case_id: str | None = None,
                rating_id: str | None = None, note: str | None = None, urge_id: str | None = None) -> tuple[str, bool]:
    """Record an urge by the user of ``scope`` (:func:`supervision.urges.record_urge`: an office, inside its
    region, on a red/yellow case or an overdue step, with a note); ``UrgeRefused`` otherwise. ``urge_id`` (the
    form's) makes a double submit one urge."""
    urger = Urger(username, scope.role, scope.region_prefix if scope.role != "dept" else "", office_name)
    return record_an_urge(wh, urger, case_id=case_id, rating_id=rating_id, note=note, urge_id=urge_id, source="dashboard")


__all__ += ["INDICATOR_KEYS"]
