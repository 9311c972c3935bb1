"""Point-in-time features and labels of the overdue-risk model (超期风险).

**A snapshot** of the open cases at an instant T is what an office sees at T: every case accepted by T
and not ended by T, as it stood at T. Every feature of a case at T is computed from events and
completions up to T only — nothing after T can change it (``tests/test_models_risk.py`` adds later
events and checks that the features are identical).

How a case is reconstructed at T, by the rules of :mod:`metrics.facts` (DOMAIN.md rules 1–3):

* a case with **no clock stop after its acceptance** has the deadline D = the working day reached L
  counted working days after its acceptance date A (D = A for L = 0), L being the promised limit of the
  catalogue version in force on A — all known from the moment it is accepted;
* a case with a clock stop (a suspension, or a supplement requested after acceptance) by T has its stops
  up to T applied by rules 2–3 — a stop still open at T runs to date(T) — exactly as
  :func:`metrics.facts.case_facts` does with ``as_of=T`` (the tests check that the two agree on every
  open case of a demo month), so its deadline at T is the one ``hcp flags`` judges red and yellow by.

The features (raw values; :mod:`models.risk` turns them into the model's design):

* the item's **promised** and **legal limits** (working days) of the catalogue version in force on A;
* **working days left** to the deadline as it stands at T (real calendar, local overrides) and the
  **share of the limit used** (1 − left ÷ limit; 1 for an immediate item still open);
* **hours since acceptance**;
* **clock stops so far**: suspensions, supplement requests after acceptance, working days stopped,
  whether the clock is stopped at T, and whether a supplement was needed before acceptance;
* the **channel** of submission;
* the **department's** and the **item's overdue history before T**: the share of their cases completed
  in the :data:`HISTORY_DAYS` days up to T that were completed overdue, shrunk towards the province's
  share over the same days (:data:`SHRINK_CASES` pseudo-cases), so that a department with 3 cases does
  not read 0% or 33%; and how many completed cases that history rests on;
* the **department's open workload at T**: its open cases and, among them, those already past their
  deadline (red);
* **holidays ahead**: official holiday weekdays (Monday–Friday days off) between date(T) and the deadline.

**The label** of a case, as known at a later instant H (the data watermark): the case *goes overdue*
(超期) iff it ended (completed, rejected or withdrawn) after its deadline, or is still open at H with
date(H) past its deadline. It is *decided* at H only when its deadline as known at H is before date(H);
undecided cases are left out of training and testing (keeping those that ended early would keep only
the negatives among cases with a far deadline).

Everything is vectorised over (case, instant) pairs: no loop over cases, none over instants.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from hcp.domain import CASE_CHANNELS
from hcp.workdays import WorkCalendar
from warehouse.queries.events import clock_stop_marks
from warehouse.queries.facts import (accepted_cases, case_ids_sql, load_case_facts, open_at,
                                     timed_completion_counts_between)
from warehouse.queries.reference import load_calendar, load_items

#: Completions of the last this many days before T make a department's and an item's history.
HISTORY_DAYS = 180
#: Pseudo-cases at the province's overdue share added to every history (empirical-Bayes shrinkage).
SHRINK_CASES = 20.0
CHANNELS = tuple(CASE_CHANNELS)
TS = pl.Datetime("ms", "Asia/Shanghai")
#: Stands for "not ended yet" when locating a case's end among the instants.
_NEVER = dt.datetime(2100, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai"))

#: Raw features: key → (Chinese, English) label. The order is the order of the model's inputs.
FEATURES: dict[str, tuple[str, str]] = {
    "limit_days": ("承诺时限", "promised limit"),
    "legal_limit_days": ("法定时限", "legal limit"),
    "share_used": ("时限已用比例", "share of the limit used"),
    "working_days_left": ("剩余工作日", "working days left"),
    "hours_since_acceptance": ("受理后小时数", "hours since acceptance"),
    "stopped_days": ("已停止计时工作日", "working days stopped"),
    "clock_stopped": ("正在停止计时", "clock stopped now"),
    "suspensions": ("特别程序次数", "suspensions so far"),
    "supplements": ("受理后补正次数", "supplements after acceptance"),
    "supplement_before": ("受理前补正", "supplement before acceptance"),
    **{f"channel_{c}": (f"渠道：{label}", f"channel: {c}") for c, label in CASE_CHANNELS.items()},
    "dept_overdue_rate": ("部门历史超期率", "department's overdue history"),
    "dept_history_cases": ("部门历史办结量", "department's completed cases"),
    "item_overdue_rate": ("事项历史超期率", "item's overdue history"),
    "item_history_cases": ("事项历史办结量", "item's completed cases"),
    "dept_open_cases": ("部门在办件数", "department's open cases"),
    "dept_red_cases": ("部门超期在办件数", "department's open overdue cases"),
    "holiday_days_ahead": ("期限前节假日", "holidays before the deadline"),
}

#: Identifying columns of a snapshot row, beside the features.
ID_COLUMNS = {"case_id": pl.String, "as_of": TS, "dept_code": pl.String, "item_code": pl.String,
              "region_code": pl.String, "accepted_at": TS, "deadline": pl.Date, "days_left": pl.Int32,
              "red": pl.Boolean}

#: Columns of the current case facts this module reads.
CASE_COLUMNS = ("case_id", "item_code", "dept_code", "region_code", "channel", "submitted_at", "accepted_at",
                "terminal_at", "completed_at", "state", "promised_limit_days", "acceptance_date", "deadline",
                "on_time")


@dataclass
class RiskInputs:
    """What the features are computed from.

    * ``cases``: current case facts (:data:`CASE_COLUMNS`) of the candidate cases;
    * ``marks``: ``case_id, event_type, event_time`` of their clock-stop events (``suspended``,
      ``resumed``, ``supplement_requested``, ``supplement_received``);
    * ``completed``: completed, timed cases (``dept_code, item_code, completed_at, on_time``) — the
      history (only those completed by an instant count at that instant); with a ``cases`` column, a row
      stands for that many cases (the counts of one instant's history, read aggregated).
    """

    cases: pl.DataFrame
    marks: pl.DataFrame
    completed: pl.DataFrame
    items: pl.DataFrame
    calendar: WorkCalendar


def completed_history(cases: pl.DataFrame) -> pl.DataFrame:
    """The completed, timed cases of a case-facts frame, as the history needs them."""
    return cases.filter((pl.col("state") == "completed") & pl.col("on_time").is_not_null()).select(
        "dept_code", "item_code", "completed_at", "on_time")


# Calendar helpers -------------------------------------------------------------------------------
def _holiday_series(calendar: WorkCalendar) -> tuple[pl.Series, int]:
    """Per (slot, day) position: official holiday weekdays from the calendar start up to that day."""
    days = calendar.days.sort("slot", "day").with_columns(
        _hol=((pl.col("day").dt.weekday() <= 5) & ~pl.col("is_working")).cast(pl.Int32).cum_sum().over("slot"))
    ndays = (calendar.end - calendar.start).days + 1
    return days["_hol"], ndays


def _holidays_upto(calendar: WorkCalendar, day: pl.Expr, slot: pl.Expr, series: pl.Series, ndays: int) -> pl.Expr:
    offset = (day - pl.lit(calendar.start)).dt.total_days()
    offset = pl.when((offset >= 0) & (offset < ndays)).then(offset + slot.cast(pl.Int64) * ndays)
    return pl.lit(series).gather(offset)


def plain_deadline(calendar: WorkCalendar) -> pl.Expr:
    """The deadline of a case with no clock stop: L counted working days after A (A itself for L = 0)."""
    slot = pl.col("_slot")
    limit = pl.col("promised_limit_days")
    reached = calendar.day_of_index_expr(calendar.index_expr("acceptance_date", slot).cast(pl.Int64) + limit, slot)
    return pl.when(limit.is_null() | pl.col("acceptance_date").is_null()).then(pl.lit(None, dtype=pl.Date)) \
        .when(limit == 0).then(pl.col("acceptance_date")).otherwise(reached)


def legal_limits(frame: pl.DataFrame, items: pl.DataFrame) -> pl.DataFrame:
    """The legal limit of the catalogue version in force on the acceptance date (the earliest version if
    the case predates them all), as :func:`metrics.facts.item_limits` does for the promised limit."""
    versions = items.select("item_code", "valid_from", "legal_limit_days").sort("valid_from")
    in_force = frame.sort("acceptance_date").join_asof(
        versions, left_on="acceptance_date", right_on="valid_from", by="item_code", strategy="backward",
        check_sortedness=False,
    ).drop("valid_from")
    earliest = versions.group_by("item_code").agg(_first=pl.col("legal_limit_days").first())
    return in_force.join(earliest, on="item_code", how="left").with_columns(
        legal_limit_days=pl.coalesce("legal_limit_days", "_first").cast(pl.Float64)
    ).drop("_first")


# Pairs (case, instant) ----------------------------------------------------------------------------
def _instants_series(instants: list[dt.datetime]) -> pl.Series:
    return pl.Series("as_of", instants, dtype=TS)


def open_pairs(cases: pl.DataFrame, instants: list[dt.datetime]) -> pl.DataFrame:
    """(case, k) for every case open at instant k: accepted by it, not ended by it."""
    times = _instants_series(instants)
    accepted = cases.filter(pl.col("accepted_at").is_not_null())
    first = times.search_sorted(accepted["accepted_at"], side="left")
    end = times.search_sorted(accepted["terminal_at"].fill_null(_NEVER), side="left")
    return accepted.with_columns(_k0=first.cast(pl.Int64), _k1=end.cast(pl.Int64)).filter(
        pl.col("_k1") > pl.col("_k0")
    ).with_columns(k=pl.int_ranges("_k0", "_k1")).explode("k").drop("_k0", "_k1").with_columns(
        as_of=pl.lit(times).gather(pl.col("k"))
    )


def rolling_history(completed: pl.DataFrame, instants: list[dt.datetime], key: str | None) -> pl.DataFrame:
    """Per ``key`` value (or overall, ``key=None``) and instant k: completed cases ``n`` and overdue ones
    ``od`` among those completed in (T_k − HISTORY_DAYS, T_k]; one row per (key, k), 0 where none."""
    times = _instants_series(instants)
    c_in = times.search_sorted(completed["completed_at"], side="left")  # counts from the first T_k ≥ completion
    c_out = times.dt.offset_by(f"-{HISTORY_DAYS}d").search_sorted(completed["completed_at"], side="left")
    keys = [key] if key else []
    weight = pl.col("cases").cast(pl.Int64) if "cases" in completed.columns else pl.lit(1, dtype=pl.Int64)
    base = completed.select(*keys, _n=weight, _od=(~pl.col("on_time")).cast(pl.Int64) * weight)
    deltas = pl.concat([
        base.with_columns(k=c_in.cast(pl.Int64), dn=pl.col("_n"), dod=pl.col("_od")),
        base.with_columns(k=c_out.cast(pl.Int64), dn=-pl.col("_n"), dod=-pl.col("_od")),
    ]).filter(pl.col("k") < len(instants)).group_by([*keys, "k"]).agg(pl.col("dn").sum(), pl.col("dod").sum())
    grid = pl.DataFrame({"k": pl.int_range(0, len(instants), eager=True, dtype=pl.Int64)})
    if key:
        grid = deltas.select(key).unique().join(grid, how="cross")
    dense = grid.join(deltas, on=[*keys, "k"], how="left").sort([*keys, "k"]).with_columns(
        pl.col("dn", "dod").fill_null(0))
    cumulative = (lambda c: pl.col(c).cum_sum().over(key)) if key else (lambda c: pl.col(c).cum_sum())
    return dense.select(*keys, "k", n=cumulative("dn").cast(pl.Float64), od=cumulative("dod").cast(pl.Float64))


def _stop_state(marks: pl.DataFrame, pairs: pl.DataFrame) -> pl.DataFrame:
    """Per (case, k) pair with marks up to T_k: suspensions and supplement requests after acceptance so
    far, a supplement requested before acceptance, whether the clock is stopped at T_k, and whether any
    stop has started by T_k.

    The clock is stopped at T when a stop has no end by T (:func:`metrics.facts.clock_stops` pairs each
    start with the next end of its kind): the latest suspension up to T is later than the latest
    ``resumed`` up to T, or the latest supplement request after acceptance is later than the latest
    ``supplement_received``."""
    seen = marks.join(pairs.select("case_id", "k", "as_of", "accepted_at"), on="case_id").filter(
        pl.col("event_time") <= pl.col("as_of"))
    kind, when = pl.col("event_type"), pl.col("event_time")
    after_acceptance = when > pl.col("accepted_at")
    state = seen.group_by("case_id", "k").agg(
        suspensions=(kind == "suspended").sum().cast(pl.Float64),
        supplements=((kind == "supplement_requested") & after_acceptance).sum().cast(pl.Float64),
        supplement_before=((kind == "supplement_requested") & ~after_acceptance).any().cast(pl.Float64),
        _last_susp=when.filter(kind == "suspended").max(),
        _last_resume=when.filter(kind == "resumed").max(),
        _last_supp=when.filter((kind == "supplement_requested") & after_acceptance).max(),
        _last_received=when.filter(kind == "supplement_received").max(),
    )
    open_suspension = pl.col("_last_susp").is_not_null() & (
        pl.col("_last_resume").is_null() | (pl.col("_last_susp") > pl.col("_last_resume")))
    open_supplement = pl.col("_last_supp").is_not_null() & (
        pl.col("_last_received").is_null() | (pl.col("_last_supp") > pl.col("_last_received")))
    return state.with_columns(
        _stopped_now=open_suspension | open_supplement,
        _any_stop=pl.col("_last_susp").is_not_null() | pl.col("_last_supp").is_not_null(),
    ).drop("_last_susp", "_last_resume", "_last_supp", "_last_received")


def clock_stop_intervals(marks: pl.DataFrame, cases: pl.DataFrame) -> pl.DataFrame:
    """Every clock stop of the cases, as :func:`metrics.facts.clock_stops` pairs them: each ``suspended``
    with the next ``resumed``, each ``supplement_requested`` made after acceptance with the next
    ``supplement_received`` (``end`` null while none has come)."""
    def paired(start_type: str, end_type: str) -> pl.DataFrame:
        starts = marks.filter(pl.col("event_type") == start_type).select("case_id", start="event_time").sort("start")
        ends = marks.filter(pl.col("event_type") == end_type).select("case_id", end="event_time").sort("end")
        return starts.join_asof(ends, left_on="start", right_on="end", by="case_id", strategy="forward",
                                check_sortedness=False)

    supplements = paired("supplement_requested", "supplement_received").join(
        cases.select("case_id", "accepted_at"), on="case_id").filter(pl.col("start") > pl.col("accepted_at"))
    return pl.concat([paired("suspended", "resumed"), supplements.drop("accepted_at")])


def _stop_deadlines(cases: pl.DataFrame, marks: pl.DataFrame, pairs: pl.DataFrame, calendar: WorkCalendar) -> pl.DataFrame:
    """The deadline as of T_k of every (case, k) pair whose clock has been stopped by T_k — DOMAIN.md rules
    2–3 exactly as :func:`metrics.facts.case_facts` applies them with ``as_of=T_k`` (the tests check that
    the two agree on every open case of the demo): the stops started by T_k, one still open at T_k running
    to date(T_k); working days d with s < d ≤ r not counted; overlapping stops merged; a stop moves the
    deadline iff it starts before the deadline as moved by the stops before it."""
    schema = {"case_id": pl.String, "k": pl.Int64, "_deadline_t": pl.Date}
    if pairs.is_empty():
        return pl.DataFrame(schema=schema)
    slot = pl.col("_slot")
    stops = clock_stop_intervals(marks, cases).join(
        pairs.select("case_id", "k", "as_of", "_slot", "_idx_a", "promised_limit_days"), on="case_id"
    ).filter(pl.col("start") <= pl.col("as_of")).with_columns(
        _s=pl.max_horizontal(calendar.index_expr(pl.col("start").dt.date(), slot).cast(pl.Int64), pl.col("_idx_a")),
        _r=pl.when(pl.col("end").is_not_null() & (pl.col("end") <= pl.col("as_of")))
        .then(calendar.index_expr(pl.col("end").dt.date(), slot))
        .otherwise(calendar.index_expr(pl.col("as_of").dt.date(), slot)).cast(pl.Int64),
    ).filter(pl.col("_r") > pl.col("_s"))
    merged = stops.sort("case_id", "k", "_s").with_columns(
        _prev_end=pl.col("_r").cum_max().shift(1).over("case_id", "k")
    ).with_columns(
        _grp=(pl.col("_prev_end").is_null() | (pl.col("_s") > pl.col("_prev_end"))).cast(pl.Int32).cum_sum()
        .over("case_id", "k")
    ).group_by("case_id", "k", "_grp").agg(
        _s=pl.col("_s").min(), _r=pl.col("_r").max(), _idx_a=pl.col("_idx_a").first(),
        _limit=pl.col("promised_limit_days").first(),
    ).sort("case_id", "k", "_s").with_columns(_len=pl.col("_r") - pl.col("_s")).with_columns(
        _before=(pl.col("_len").cum_sum() - pl.col("_len")).over("case_id", "k")
    ).with_columns(_applies=(pl.col("_s") - pl.col("_before")) < (pl.col("_idx_a") + pl.col("_limit")))
    shift = merged.group_by("case_id", "k").agg(_shift=pl.col("_len").filter(pl.col("_applies")).sum())
    limit = pl.col("promised_limit_days")
    return pairs.join(shift, on=["case_id", "k"], how="left").with_columns(
        _deadline_t=pl.when(limit.is_null()).then(pl.lit(None, dtype=pl.Date))
        .when(limit == 0).then(pl.col("acceptance_date"))
        .otherwise(calendar.day_of_index_expr(pl.col("_idx_a") + limit + pl.col("_shift").fill_null(0), slot))
    ).select(list(schema))


def snapshots(inputs: RiskInputs, instants: list[dt.datetime]) -> pl.DataFrame:
    """One row per (case open at T_k, k) with a deadline: :data:`ID_COLUMNS`, ``k`` and every raw feature
    of :data:`FEATURES`, sorted by (k, case_id). Red cases (past their deadline at T_k) are kept with
    ``red`` true: they are overdue by rule, not by prediction."""
    instants = sorted(instants)
    if not instants:
        return empty_snapshots()
    calendar = inputs.calendar
    slot = pl.col("_slot")
    # What is fixed from the acceptance on: the plain deadline, the legal limit.
    cases = inputs.cases.filter(pl.col("accepted_at").is_not_null()).with_columns(
        _slot=calendar.locality_expr("region_code")).with_columns(
        _plain_deadline=plain_deadline(calendar),
        _idx_a=calendar.index_expr("acceptance_date", slot).cast(pl.Int64),
    )
    cases = legal_limits(cases, inputs.items)
    pairs = open_pairs(cases, instants)
    if pairs.is_empty():
        return empty_snapshots()

    state = _stop_state(inputs.marks, pairs)
    rows = pairs.join(state, on=["case_id", "k"], how="left").with_columns(
        pl.col("suspensions", "supplements", "supplement_before").fill_null(0.0),
        _stopped_now=pl.col("_stopped_now").fill_null(False),
        _any_stop=pl.col("_any_stop").fill_null(False),
    )
    stopped = _stop_deadlines(inputs.cases, inputs.marks, rows.filter(pl.col("_any_stop")), calendar)
    rows = rows.join(stopped, on=["case_id", "k"], how="left").with_columns(
        deadline=pl.when(pl.col("_any_stop")).then(pl.col("_deadline_t")).otherwise(pl.col("_plain_deadline")),
        _today=pl.col("as_of").dt.date(),
    ).with_columns(red=pl.col("_today") > pl.col("deadline"))

    # The department's open workload at T_k: every open case, with or without a deadline.
    workload = rows.group_by("dept_code", "k").agg(
        dept_open_cases=pl.len().cast(pl.Float64),
        dept_red_cases=pl.col("red").fill_null(False).sum().cast(pl.Float64),
    )
    rows = rows.filter(pl.col("deadline").is_not_null()
                       & ~(pl.col("accepted_at") < pl.col("submitted_at")).fill_null(False))
    rows = rows.join(workload, on=["dept_code", "k"], how="left")

    hol, ndays = _holiday_series(calendar)
    rows = rows.with_columns(
        _idx_t=calendar.index_expr("_today", slot).cast(pl.Int64),
        _idx_d=calendar.index_expr("deadline", slot).cast(pl.Int64),
        limit_days=pl.col("promised_limit_days").cast(pl.Float64),
        holiday_days_ahead=(_holidays_upto(calendar, pl.col("deadline"), slot, hol, ndays)
                            - _holidays_upto(calendar, pl.col("_today"), slot, hol, ndays)).clip(lower_bound=0)
        .cast(pl.Float64),
        hours_since_acceptance=(pl.col("as_of") - pl.col("accepted_at")).dt.total_seconds() / 3600.0,
        clock_stopped=pl.col("_stopped_now").cast(pl.Float64),
        **{f"channel_{c}": (pl.col("channel") == c).cast(pl.Float64) for c in CHANNELS},
    ).with_columns(
        days_left=(pl.col("_idx_d") - pl.col("_idx_t")).cast(pl.Int32),
        stopped_days=(pl.col("_idx_d") - pl.col("_idx_a") - pl.col("promised_limit_days")).clip(lower_bound=0)
        .cast(pl.Float64),
    ).with_columns(
        working_days_left=pl.col("days_left").cast(pl.Float64),
        share_used=(1.0 - pl.col("days_left").cast(pl.Float64)
                    / pl.max_horizontal(pl.col("limit_days"), pl.lit(1.0))).clip(lower_bound=0.0),
    )

    # Overdue history before T_k, shrunk towards the province's share.
    for key, prefix in ((None, "all"), ("dept_code", "dept"), ("item_code", "item")):
        hist = rolling_history(inputs.completed, instants, key).rename({"n": f"_{prefix}_n", "od": f"_{prefix}_od"})
        rows = rows.join(hist, on=[key, "k"] if key else ["k"], how="left").with_columns(
            pl.col(f"_{prefix}_n", f"_{prefix}_od").fill_null(0.0))
    prior = pl.col("_all_od") / pl.col("_all_n").clip(lower_bound=1.0)
    rows = rows.with_columns(
        dept_overdue_rate=(pl.col("_dept_od") + SHRINK_CASES * prior) / (pl.col("_dept_n") + SHRINK_CASES),
        item_overdue_rate=(pl.col("_item_od") + SHRINK_CASES * prior) / (pl.col("_item_n") + SHRINK_CASES),
        dept_history_cases=pl.col("_dept_n"),
        item_history_cases=pl.col("_item_n"),
        legal_limit_days=pl.col("legal_limit_days").fill_null(pl.col("limit_days")),
        holiday_days_ahead=pl.col("holiday_days_ahead").fill_null(0.0),
    )
    return rows.select(
        *[pl.col(name).cast(dtype) for name, dtype in ID_COLUMNS.items()], pl.col("k").cast(pl.Int64),
        *[pl.col(name).cast(pl.Float64) for name in FEATURES],
    ).sort("k", "case_id")


def empty_snapshots() -> pl.DataFrame:
    return pl.DataFrame(schema={**ID_COLUMNS, "k": pl.Int64, **{name: pl.Float64 for name in FEATURES}})


# Labels ---------------------------------------------------------------------------------------------
def outcomes(inputs: RiskInputs, horizon: dt.datetime) -> pl.DataFrame:
    """Per case accepted by ``horizon`` with a deadline: ``decided`` and ``overdue`` as known at the horizon
    (module docstring). A case ended by the horizon keeps its current facts (events after its end change
    nothing); one open at it is judged by its deadline as of the horizon (rebuilt from its events if it
    has a clock stop)."""
    open_rows = snapshots(inputs, [horizon]).select("case_id", "deadline", end_date=pl.lit(None, dtype=pl.Date))
    ended = inputs.cases.filter(
        pl.col("terminal_at").is_not_null() & (pl.col("terminal_at") <= horizon)
        & pl.col("accepted_at").is_not_null() & (pl.col("accepted_at") <= horizon)
        & pl.col("deadline").is_not_null()
    ).select("case_id", "deadline", end_date=pl.col("terminal_at").dt.date())
    day = horizon.date()
    return pl.concat([ended, open_rows]).select(
        "case_id",
        decided=pl.col("deadline") < pl.lit(day),
        overdue=pl.coalesce(pl.col("end_date"), pl.lit(day)) > pl.col("deadline"),
    )


def snapshot_instants(first_day: dt.date, last_day: dt.date, seed: int, tz) -> list[dt.datetime]:
    """One instant per calendar day from ``first_day`` to ``last_day``, at a seeded time of day between
    08:30 and 18:00 (an office looks at its cases at any hour; the same seed gives the same instants)."""
    days = (last_day - first_day).days + 1
    if days <= 0:
        return []
    rng = np.random.default_rng(np.random.SeedSequence([seed, 14]))
    minutes = rng.integers(8 * 60 + 30, 18 * 60, size=days)
    return [dt.datetime.combine(first_day + dt.timedelta(days=i), dt.time(int(m // 60), int(m % 60)), tz)
            for i, m in enumerate(minutes)]


# Loading from the warehouse -------------------------------------------------------------------------
def load_inputs(wh, *, as_of: dt.datetime | None = None, where: str = "", parameters: dict | None = None) -> RiskInputs:
    """The inputs for training (``as_of=None``: every accepted case) or for scoring the cases open at
    ``as_of`` (their facts and clock-stop marks up to it; the completions of the history window before it).

    ``where`` (scoring only) narrows the open cases with an SQL condition on ``case_facts`` columns — a
    user's scope: a department (``dept_code = …``) or a region subtree (``startsWith(region_code, …)``), so
    that a department's open workload stays whole; the overdue histories stay province-wide.

    Reads the stored case facts: run the metrics job first so that they reflect every event."""
    if as_of is None:
        cases = accepted_cases(wh, CASE_COLUMNS)
        completed = completed_history(cases)
        marks = clock_stop_marks(wh)
    else:
        open_cases = open_at(as_of, where, parameters)
        cases = load_case_facts(wh, open_cases, columns=CASE_COLUMNS)
        completed = timed_completion_counts_between(wh, as_of - dt.timedelta(days=HISTORY_DAYS), as_of)
        # The open cases' clock-stop events: those between the earliest submission among them and T.
        earliest = cases["submitted_at"].min() or cases["accepted_at"].min() or as_of
        marks = clock_stop_marks(wh, (min(earliest, as_of), as_of), among=case_ids_sql(open_cases),
                                 parameters=open_cases.params)
    cases = cases.with_columns(pl.col("on_time").cast(pl.Boolean))
    return RiskInputs(cases=cases, marks=marks,
                      completed=completed.with_columns(pl.col("on_time").cast(pl.Boolean)),
                      items=load_items(wh), calendar=load_calendar(wh))
