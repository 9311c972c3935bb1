"""Red and yellow cards (红牌 / 黄牌) for open cases, as of an instant T (DOMAIN.md rule 5).

An open case (accepted; not completed, rejected or withdrawn) with deadline D is

* **red** (overdue) iff date(T) > D; it is overdue by the working days d with D < d ≤ date(T);
* **yellow** (due soon) iff not red and the working days from date(T) (excluded) to D (included) number
  at most the warning threshold (default 2);
* neither while its clock is stopped (suspended, or a supplement requested after acceptance) and it has
  not passed D.

``facts`` must be case facts computed *as of T* (:func:`metrics.facts.case_facts` with ``as_of=T``), so
that events after T are ignored and an open stop runs to date(T). :func:`flags_as_of` reads them from the
warehouse for an instant (what ``hcp flags``, the dashboard, the digest and the escalations show).
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from hcp.workdays import WorkCalendar
from metrics.facts import FACT_SCHEMA, case_facts
from warehouse.queries.events import load_events
from warehouse.queries.facts import case_ids_sql, latest_event_and_arrival, load_case_facts, open_at
from warehouse.queries.reference import load_calendar, load_items
from warehouse.queries.state import get_state

FLAG_COLUMNS = ("case_id", "flag", "deadline", "overdue_working_days", "working_days_left",
                "dept_code", "item_code", "region_code", "accepted_at")


def case_flags(facts: pl.DataFrame, as_of: dt.datetime, calendar: WorkCalendar, *, warning_days: int = 2) -> pl.DataFrame:
    """The red and yellow open cases, reddest first (most overdue, then soonest due)."""
    slot = calendar.locality_expr("region_code")
    today = pl.lit(as_of.date())
    idx_today = calendar.index_expr(today, slot)
    idx_deadline = calendar.index_expr("deadline", slot)
    open_cases = facts.filter((pl.col("state") == "accepted") & pl.col("deadline").is_not_null())
    flagged = open_cases.with_columns(
        _red=today > pl.col("deadline"),
        _left=(idx_deadline - idx_today).cast(pl.Int32),
    ).with_columns(
        flag=pl.when(pl.col("_red"))
        .then(pl.lit("red"))
        .when(~pl.col("clock_stopped") & (pl.col("_left") <= warning_days))
        .then(pl.lit("yellow")),
        overdue_working_days=pl.when(pl.col("_red")).then((idx_today - idx_deadline).cast(pl.Int32)),
        working_days_left=pl.when(~pl.col("_red")).then(pl.col("_left")),
    ).filter(pl.col("flag").is_not_null())
    return flagged.sort(
        [pl.col("flag") != "red", pl.col("overdue_working_days"), pl.col("working_days_left"), "case_id"],
        descending=[False, True, False, False], nulls_last=True,
    ).select(FLAG_COLUMNS)


def yellow_horizon(calendar: WorkCalendar, day: dt.date, warning_days: int) -> dt.date:
    """The first day on which a deadline is too far ahead to be yellow on ``day``, in every locality."""
    bounds = []
    for locality in calendar.localities:
        try:
            bounds.append(calendar.add_working_days(day, warning_days + 1, locality))
        except ValueError:
            bounds.append(calendar.end)
    return max(bounds)


def stored_facts_current(wh, as_of: dt.datetime) -> bool:
    """True when the stored case facts are the facts as of ``as_of``: no known event lies after the
    instant, and the last metrics run started after every event, catalogue entry and calendar override
    had arrived."""
    started = get_state(wh, "run_started")
    if started is None:
        return False
    latest_event, latest_arrival = latest_event_and_arrival(wh)
    started_at = dt.datetime.fromisoformat(started)
    return (latest_event is None or latest_event <= as_of) and (latest_arrival is None or latest_arrival < started_at)


def flags_as_of(wh, as_of: dt.datetime, warning_days: int, *, where: str = "", parameters: dict | None = None,
                calendar: WorkCalendar | None = None) -> pl.DataFrame:
    """Red and yellow open cases as of an instant, from the events known up to it.

    ``where`` narrows the candidates with an SQL condition on ``case_facts`` columns (a user's scope, a
    filter), applied in the query. The candidates are the cases accepted by the instant and not ended by
    it; their facts are recomputed as of the instant from their events. When the stored facts already are
    the facts as of the instant (:func:`stored_facts_current`: the usual "now"), they are flagged
    directly, skipping every case whose deadline is pending (an open clock stop that applies moves the
    deadline past the instant: neither red nor yellow) or beyond the yellow horizon.
    """
    calendar = calendar or load_calendar(wh)
    if stored_facts_current(wh, as_of):
        horizon = yellow_horizon(calendar, as_of.date(), warning_days)
        selection = open_at(as_of, where, parameters, deadline_before=horizon)
        facts = load_case_facts(wh, selection.sql(), selection.params)
    else:
        selection = open_at(as_of, where, parameters)
        events = load_events(wh, case_ids_sql(selection), selection.params)
        facts = (case_facts(events, load_items(wh), calendar, as_of=as_of) if events.height
                 else pl.DataFrame(schema=FACT_SCHEMA))
    return case_flags(facts, as_of, calendar, warning_days=warning_days)
