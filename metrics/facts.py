"""Case facts: one row per case, derived from its lifecycle events by the rules of DOMAIN.md.

The rules, in domain words (all dates local, Asia/Shanghai):

1. The clock starts on the **acceptance date** A (the first ``accepted`` event); A itself is not counted.
2. The clock is **stopped** between ``suspended`` (date s) and the next ``resumed`` (date r): working days d
   with s < d ≤ r are not counted. A ``supplement_requested`` made *after* acceptance stops it the same
   way until the next ``supplement_received``; supplements before acceptance do not touch the clock. A
   stop still open when the case ends runs to the end date; one still open at the as-of instant runs to
   the as-of date (and without an as-of it has no end yet, so the deadline is pending).
3. The **deadline** D is the working day on which the count of counted working days after A reaches the
   promised limit L of the item's catalogue version in force on A (the earliest version if A predates
   them all). For L = 0 (immediate item), D = A.
4. A completed case is **on time** iff its completion date C ≤ D; otherwise it is overdue by the working
   days d with D < d ≤ C.
5. **Net working days used**: counted working days d with A < d ≤ C.
6. A case is **inconsistent** when its own events contradict each other: its completion or its
   acceptance falls before its submission, or its completion before its acceptance (instants). It cannot
   be timed: ``on_time``, ``overdue_days``, ``net_working_days`` and ``same_day`` are null, and the
   indicators leave it out (it is counted in ``inconsistent_cases`` and listed for correction).

A case ends at its first terminal event (``completed``, ``rejected`` or ``withdrawn``). Events may arrive
late, out of order and more than once: the facts depend only on the set of distinct events.

Computation is vectorised on the working-day index of :class:`hcp.workdays.WorkCalendar`: stops become
index intervals (s, r], overlapping ones are merged, and a stop moves the deadline iff it starts before
the deadline as moved by the stops before it — which, stops being sorted and disjoint, is a prefix test
on ``start − (length of earlier stops) < idx(A) + L``.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from hcp.domain import ONLINE_CHANNELS, STOP_EVENT_TYPES
from hcp.frames import ENGINE  # Polars' in-memory engine for these plans
from hcp.workdays import WorkCalendar
from warehouse.queries.events import EVENT_COLUMNS  # the event columns this module needs


#: An index far beyond any calendar: an open stop without an as-of never ends.
_NEVER = 10_000_000

FACT_SCHEMA = {
    "case_id": pl.String,
    "item_code": pl.String,
    "dept_code": pl.String,
    "region_code": pl.String,
    "channel": pl.String,
    "online": pl.Boolean,
    "trips": pl.UInt32,
    "state": pl.String,
    "submitted_at": pl.Datetime("ms", "Asia/Shanghai"),
    "accepted_at": pl.Datetime("ms", "Asia/Shanghai"),
    "terminal_at": pl.Datetime("ms", "Asia/Shanghai"),
    "completed_at": pl.Datetime("ms", "Asia/Shanghai"),
    "result": pl.String,
    "item_known": pl.Boolean,
    "promised_limit_days": pl.Int32,
    "acceptance_date": pl.Date,
    "deadline": pl.Date,
    "completion_date": pl.Date,
    "on_time": pl.Boolean,
    "overdue_days": pl.Int32,
    "net_working_days": pl.Int32,
    "stopped_days": pl.Int32,
    "same_day": pl.Boolean,
    "clock_stopped": pl.Boolean,
    "inconsistent": pl.Boolean,
}


def inconsistent_expr() -> pl.Expr:
    """True where a case's own milestones contradict each other (rule 6): completion or acceptance before
    submission, or completion before acceptance."""
    submitted, accepted, completed = pl.col("submitted_at"), pl.col("accepted_at"), pl.col("completed_at")
    return ((completed < submitted) | (accepted < submitted) | (completed < accepted)).fill_null(False)


def _first_time(event_type: str) -> pl.Expr:
    return pl.col("event_time").filter(pl.col("event_type") == event_type).min()


#: The columns of :func:`first_events` (one row per case).
FIRST_EVENT_COLUMNS = ("case_id", "submitted_at", "accepted_at", "completed_at_raw", "rejected_at", "withdrawn_at",
                       "channel", "result", "item_code", "dept_code", "region_code", "trips")


def first_events(events: pl.LazyFrame) -> pl.LazyFrame:
    """Per case: the first time of each milestone event, the channel of the first submission, the result
    of the first completion, the codes of the earliest event and the number of on-site events (trips).

    ``events`` must be sorted by (event_time, event_id): "first" means earliest, ties broken by id.
    ``warehouse.queries.events.load_first_events_with_stops`` is the same aggregate done in ClickHouse (tested to agree).
    """
    return events.group_by("case_id").agg(
        submitted_at=_first_time("submitted"),
        accepted_at=_first_time("accepted"),
        completed_at_raw=_first_time("completed"),
        rejected_at=_first_time("rejected"),
        withdrawn_at=_first_time("withdrawn"),
        channel=pl.col("channel").filter(pl.col("event_type") == "submitted").first(),
        result=pl.col("result").filter(pl.col("event_type") == "completed").first(),
        item_code=pl.col("item_code").first(),
        dept_code=pl.col("dept_code").first(),
        region_code=pl.col("region_code").first(),
        trips=pl.col("onsite").cast(pl.UInt32).sum(),
    )


def milestones(events: pl.LazyFrame) -> pl.LazyFrame:
    """Per case: when each milestone first happened, its codes, channel, trips and end state.

    ``events`` must be sorted by (event_time, event_id): "first" means earliest, ties broken by id.
    """
    return milestones_of(first_events(events))


def milestones_of(per_case: pl.LazyFrame) -> pl.LazyFrame:
    """The end state (the first terminal event decides), completion and online flag from the first events."""
    terminal_at = pl.min_horizontal("completed_at_raw", "rejected_at", "withdrawn_at")
    state = (
        pl.when(terminal_at.is_null())
        .then(pl.when(pl.col("accepted_at").is_not_null()).then(pl.lit("accepted")).otherwise(pl.lit("submitted")))
        .when(pl.col("completed_at_raw") == terminal_at)
        .then(pl.lit("completed"))
        .when(pl.col("rejected_at") == terminal_at)
        .then(pl.lit("rejected"))
        .otherwise(pl.lit("withdrawn"))
    )
    return per_case.with_columns(terminal_at=terminal_at, state=state).with_columns(
        completed_at=pl.when(pl.col("state") == "completed").then(pl.col("completed_at_raw")),
        channel=pl.col("channel").fill_null(""),
        online=pl.col("channel").is_in(list(ONLINE_CHANNELS)).fill_null(False),
    ).drop("completed_at_raw", "rejected_at", "withdrawn_at")


def _pair_stops(events: pl.LazyFrame, start_type: str, end_type: str, key: str = "case_id") -> pl.LazyFrame:
    """Each ``start_type`` event paired with the next ``end_type`` event of the same case (or none)."""
    starts = events.filter(pl.col("event_type") == start_type).select(key, start=pl.col("event_time")).sort("start")
    ends = events.filter(pl.col("event_type") == end_type).select(key, end=pl.col("event_time")).sort("end")
    return starts.join_asof(ends, left_on="start", right_on="end", by=key, strategy="forward",
                           check_sortedness=False)


def clock_stops(events: pl.LazyFrame, cases: pl.LazyFrame, key: str = "case_id") -> pl.LazyFrame:
    """The clock stops of every case: suspensions, and supplement requests made after acceptance. ``key``
    names the column that identifies a case in both frames (``case_id``, or an integer stand-in for it)."""
    suspensions = _pair_stops(events, "suspended", "resumed", key)
    supplements = _pair_stops(events, "supplement_requested", "supplement_received", key).join(
        cases.select(key, "accepted_at"), on=key
    ).filter(pl.col("start") > pl.col("accepted_at")).drop("accepted_at")
    return pl.concat([suspensions, supplements])


def item_limits(cases: pl.LazyFrame, items: pl.LazyFrame) -> pl.LazyFrame:
    """Attach the promised limit of the catalogue version in force on the acceptance date.

    A case accepted before the item's first version takes that first version (catalogues lag).
    """
    versions = items.select("item_code", "valid_from", "promised_limit_days").sort("valid_from")
    with_date = cases.with_columns(
        acceptance_date=pl.col("accepted_at").dt.date(),
        _lookup_date=pl.coalesce("accepted_at", "submitted_at").dt.date(),
    ).sort("_lookup_date")
    in_force = with_date.join_asof(
        versions, left_on="_lookup_date", right_on="valid_from", by="item_code", strategy="backward",
        check_sortedness=False,
    ).drop("valid_from")
    earliest = versions.group_by("item_code").agg(_first_limit=pl.col("promised_limit_days").first())
    return (
        in_force.join(earliest, on="item_code", how="left")
        .with_columns(
            promised_limit_days=pl.coalesce("promised_limit_days", "_first_limit").cast(pl.Int32),
            item_known=pl.col("_first_limit").is_not_null(),  # every catalogued item has a first version
        )
        .drop("_first_limit", "_lookup_date")
    )


def case_facts(
    events: pl.DataFrame | pl.LazyFrame,
    items: pl.DataFrame | pl.LazyFrame,
    calendar: WorkCalendar,
    *,
    as_of: dt.datetime | None = None,
) -> pl.DataFrame:
    """One row per case with the columns of :data:`FACT_SCHEMA`.

    ``as_of`` reconstructs the case as it stood at that instant (events after it are ignored, and a
    stop still open then runs to the as-of date); without it, every known event counts and an open
    stop leaves the deadline pending (null).
    """
    ev = events.lazy().select(*EVENT_COLUMNS)
    if as_of is not None:
        ev = ev.filter(pl.col("event_time") <= as_of)
    # The events and the per-case frame feed several joins below: materialise each once (a lazy frame
    # used in several branches would be recomputed in each).
    ev = ev.filter(pl.col("event_id").is_first_distinct()).sort("event_time", "event_id").collect(engine=ENGINE).lazy()
    return case_facts_from(first_events(ev), ev.filter(pl.col("event_type").is_in(STOP_EVENT_TYPES)), items,
                           calendar, as_of=as_of)


def case_facts_from(
    first: pl.DataFrame | pl.LazyFrame,
    stop_events: pl.DataFrame | pl.LazyFrame | None,
    items: pl.DataFrame | pl.LazyFrame,
    calendar: WorkCalendar,
    *,
    as_of: dt.datetime | None = None,
) -> pl.DataFrame:
    """:func:`case_facts` from each case's :func:`first_events` and its distinct clock-stop events
    (``case_id``, ``event_type``, ``event_time``; :data:`STOP_EVENT_TYPES`), e.g. both aggregated and
    filtered in the warehouse in one pass (``warehouse.queries.events.load_first_events_with_stops``).
    Without ``stop_events``, each case's own are the list ``stops`` of ``first`` (structs of ``event_type``
    and ``event_time``), as that query gives them."""
    first = first.lazy().collect(engine=ENGINE)
    if stop_events is None:
        # Each case's row in ``first`` (``_k``) stands in for its id in every join and window below: hashing
        # the text ids was most of the cost of this function.
        ev = (first.lazy().select(_k=pl.int_range(pl.len(), dtype=pl.UInt32), stops="stops")
              .filter(pl.col("stops").list.len() > 0).explode("stops").unnest("stops")
              .collect(engine=ENGINE).lazy())
        first = first.drop("stops")
    cases = item_limits(milestones_of(first.lazy().with_row_index("_k")), items.lazy())
    # A local date costs a time-zone conversion per row (most of Polars' date work here): a completed case's
    # completion is its end (its first terminal event), so its date is the end's, converted once.
    cases = cases.with_columns(
        _slot=calendar.locality_expr("region_code"),
        _end_date=pl.col("terminal_at").dt.date(),
    ).with_columns(
        completion_date=pl.when(pl.col("completed_at").is_not_null()).then(pl.col("_end_date")),
    ).with_columns(
        _idx_a=calendar.index_expr("acceptance_date", pl.col("_slot")),
        _idx_c=calendar.index_expr("completion_date", pl.col("_slot")),
        _idx_end=calendar.index_expr("_end_date", pl.col("_slot")),
    ).collect(engine=ENGINE).lazy()
    if stop_events is not None:  # stop events of cases not in ``first`` have no facts
        ev = stop_events.lazy().select("case_id", "event_type", "event_time").join(
            cases.select("case_id", "_k"), on="case_id").drop("case_id").collect(engine=ENGINE).lazy()

    stops = clock_stops(ev, cases, "_k").join(
        cases.select("_k", "_slot", "_idx_a", "_idx_end", "promised_limit_days"), on="_k"
    ).filter(pl.col("_idx_a").is_not_null())
    # A stop with no end yet runs to the as-of date, or (without an as-of) never ends.
    open_stop_end = (
        pl.lit(_NEVER, dtype=pl.Int64)
        if as_of is None
        else calendar.index_expr(pl.lit(as_of.date()), pl.col("_slot")).cast(pl.Int64)
    )
    stops = stops.with_columns(
        _s=pl.max_horizontal(calendar.index_expr(pl.col("start").dt.date(), pl.col("_slot")), pl.col("_idx_a")).cast(pl.Int64),
        _r=pl.coalesce(
            calendar.index_expr(pl.col("end").dt.date(), pl.col("_slot")).cast(pl.Int64),
            open_stop_end,
        ),
        _open=pl.col("end").is_null(),
    ).with_columns(
        # A stop cannot run past the end of the case.
        _r=pl.when(pl.col("_idx_end").is_not_null()).then(pl.min_horizontal("_r", pl.col("_idx_end").cast(pl.Int64))).otherwise(pl.col("_r")),
        _open=pl.col("_open") & pl.col("_idx_end").is_null(),
    )
    # Whether the clock is stopped right now does not depend on how many working days the stop has run.
    stops = stops.collect(engine=ENGINE).lazy()
    stopped_now = stops.group_by("_k").agg(clock_stopped=pl.col("_open").any())
    stops = stops.filter(pl.col("_r") > pl.col("_s"))

    # Merge overlapping stops per case (index space), then apply the prefix rule.
    stops = stops.sort("_k", "_s").with_columns(
        _prev_end=pl.col("_r").cum_max().shift(1).over("_k")
    ).with_columns(
        _grp=(pl.col("_prev_end").is_null() | (pl.col("_s") > pl.col("_prev_end"))).cast(pl.Int32).cum_sum().over("_k")
    )
    merged = stops.group_by("_k", "_grp").agg(
        _s=pl.col("_s").min(), _r=pl.col("_r").max(), _open=pl.col("_open").any(),
        _idx_a=pl.col("_idx_a").first(), _limit=pl.col("promised_limit_days").first(),
    ).sort("_k", "_s").with_columns(_len=pl.col("_r") - pl.col("_s")).with_columns(
        _before=(pl.col("_len").cum_sum() - pl.col("_len")).over("_k")
    ).with_columns(
        _applies=(pl.col("_s") - pl.col("_before")) < (pl.col("_idx_a") + pl.col("_limit"))
    ).collect(engine=ENGINE).lazy()
    per_case_stops = merged.group_by("_k").agg(
        _shift=pl.col("_len").filter(pl.col("_applies")).sum(),
        _open_applies=(pl.col("_open") & pl.col("_applies")).any(),
    )

    facts = cases.join(per_case_stops, on="_k", how="left").join(stopped_now, on="_k", how="left").with_columns(
        _shift=pl.col("_shift").fill_null(0),
        _open_applies=pl.col("_open_applies").fill_null(False),
        clock_stopped=pl.col("clock_stopped").fill_null(False),
    )
    # Stopped working days inside (A, C] of a completed case: overlap of each merged stop with it.
    overlap = merged.join(
        facts.filter(pl.col("_idx_c").is_not_null()).select("_k", "_idx_c"), on="_k"
    ).with_columns(
        _ov=(pl.min_horizontal("_r", pl.col("_idx_c").cast(pl.Int64)) - pl.col("_s")).clip(lower_bound=0)
    ).group_by("_k").agg(_stopped_in_c=pl.col("_ov").sum())
    facts = facts.join(overlap, on="_k", how="left").with_columns(
        _stopped_in_c=pl.col("_stopped_in_c").fill_null(0)
    )

    limit = pl.col("promised_limit_days")
    deadline_index = pl.col("_idx_a").cast(pl.Int64) + limit + pl.col("_shift")
    deadline = (
        pl.when(pl.col("_idx_a").is_null() | limit.is_null() | (pl.col("_open_applies") & pl.lit(as_of is None)))
        .then(pl.lit(None, dtype=pl.Date))
        .when(limit == 0)
        .then(pl.col("acceptance_date"))
        .otherwise(calendar.day_of_index_expr(deadline_index, pl.col("_slot")))
    )
    facts = facts.with_columns(deadline=deadline).with_columns(
        _idx_d=calendar.index_expr("deadline", pl.col("_slot")),
    )
    facts = facts.with_columns(inconsistent=inconsistent_expr())
    completed = (pl.col("state") == "completed") & ~pl.col("inconsistent")
    facts = facts.with_columns(
        on_time=pl.when(completed & pl.col("deadline").is_not_null()).then(pl.col("completion_date") <= pl.col("deadline")),
        overdue_days=pl.when(completed & pl.col("deadline").is_not_null()).then(
            (pl.col("_idx_c") - pl.col("_idx_d")).clip(lower_bound=0)
        ),
        net_working_days=pl.when(completed & pl.col("_idx_a").is_not_null()).then(
            pl.col("_idx_c") - pl.col("_idx_a") - pl.col("_stopped_in_c")
        ),
        stopped_days=pl.when(pl.col("state") == "completed").then(pl.col("_stopped_in_c")),
        same_day=pl.when(completed & pl.col("acceptance_date").is_not_null()).then(
            pl.col("completion_date") == pl.col("acceptance_date")
        ),
    )
    return facts.select([pl.col(name).cast(dtype) for name, dtype in FACT_SCHEMA.items()]).collect(engine=ENGINE)
