"""The metrics job: case facts → indicators → scores, in full or incrementally from a watermark.

**Full**: recompute the facts of every case and the metrics of every month that has completions or ratings.

**Incremental**: only what new data touched. A case is touched when one of its events, ratings or the
follow-ups of its ratings arrived after the watermark, or its item's catalogue entry changed. Its facts
are recomputed from all its events; then every month it falls in — before or after the change — and
every month of a touched rating is recomputed for every grouping, from the stored facts; so is every
month with a bad rating whose rectification limit passed since the previous run (its ``bad_due`` and
``bad_overdue_unrectified`` are as of the moment of computing, so they change with the date). The month after
a recomputed month is re-scored too (its bottom-two-months-running mark depends on it). A change to the
calendar overrides, the departments or the scoring configuration (detected by content fingerprint) makes
the run a full one.

The watermark is the run's start minus a safety margin, so a row inserted while a run reads is picked up
by the next run; re-processing a case is harmless (results are replaced, never added). The next run reads
from the run's start instead when nothing of that margin became visible since (a digest of its rows):
a run leaves nothing to redo.

Memory is bounded by a bucket of cases (full and incremental alike). Indicators are rolled up for every
grouping from additive counts per month and cell (region, department, item); an incremental run adds the
change of its recomputed cases to a stored month's counts, so its work is in proportion to the change.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import json
import os
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

import polars as pl

from hcp.config import Config, RankingConfig, ScoringConfig, get_config
from hcp.locks import job_lock
from metrics.facts import case_facts_from
from hcp.periods import Period
from metrics.indicators import (CASE_COUNT_COLUMNS, GROUPINGS, RATING_COUNT_COLUMNS, case_cells,
                                compute_indicators, group_expr, indicators_from_counts, items_in_force, negated,
                                present_case_groups, present_rating_groups, rating_cells, roll_up, sum_cells)
from metrics.ratings import rated_cases, rating_facts
from metrics.score import composite_scores, mark_bottom_two, rank_status, rank_within_peers
from warehouse.client import SHANGHAI, Warehouse
from warehouse.queries import events, facts as facts_q, group_metrics, ratings as ratings_q, reference, state
from warehouse.queries.sql import Where, as_where, in_bucket
from warehouse.queries.shards import city_condition

#: Cases are processed in hash buckets of about this many events (memory ≈ 1 GB per million events).
EVENTS_PER_BUCKET = 1_500_000
#: Stored facts (or ratings) are counted into cells this many rows at a time.
FACTS_PER_BUCKET = 2_000_000
#: Reading the next bucket and writing the previous one in threads beside computing this one pays from 2
#: cores on: a full run at 1 M on an otherwise idle 2-core machine took 7.6–7.8 s with the threads against
#: 8.6–9.9 s in line (three runs each, alternating). On one core, or beside other heavy work (load 10 on 2
#: cores: 21.8–29.4 s with them against 17.4–26.2 s in line), they only contend.
OVERLAP_MIN_CORES = 2
#: How many ranges of cases the reader thread reads ahead of the one being computed. Two: at the start of a
#: full run the rating pass takes longer than reading the first range, and with one range ahead the reader
#: waited for it (0.8 s of a 1 M-case run beside other work); the price is one more range in memory (a range
#: is ~1.5 M events, about 0.3 GB of first events).
READ_AHEAD = 2
#: The fact columns the case cells need.
CELL_FACT_COLUMNS = ("case_id", "region_code", "dept_code", "item_code", "state", "completed_at", "inconsistent",
                     "on_time", "net_working_days", "same_day", "trips", "online", "rating_count")

Progress = Callable[[str], None]


#: Bumped whenever a rule changes what is stored (the counts, a rate's base, the score): the next run after an
#: upgrade is then a full one, never stored counts of the old rule plus changes counted by the new one.
#: 2: ``on_time_rate`` over the cases that can be timed (``timed_n``).
RULES_VERSION = 2


@dataclass
class Profile:
    """Where a run's time went: wall seconds per step (read, facts, write, indicators …), summed over the
    buckets and months it ran for (``hcp compute --profile`` prints it)."""

    seconds: dict[str, float] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @contextmanager
    def step(self, name: str):
        """Time a step. The reader and writer threads time theirs beside the main thread's, so the totals
        of a run overlap and may add up to more than its wall time."""
        started = time.perf_counter()
        try:
            yield
        finally:
            with self._lock:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started
                self.calls[name] = self.calls.get(name, 0) + 1

    def rows(self) -> list[tuple[str, int, float]]:
        return [(name, self.calls[name], seconds) for name, seconds in self.seconds.items()]


@dataclass
class RunReport:
    mode: str  # full | incremental | unchanged
    cases: int = 0
    periods: list[str] = field(default_factory=list)
    seconds: float = 0.0
    watermark: dt.datetime | None = None
    profile: Profile = field(default_factory=Profile)
    #: A deferred run: how many events and ratings wait for `hcp compute` (None: a full run is needed).
    pending: int | None = None
    #: A partial run (the cities of a shard): its counts per month, grouping and group (:func:`group_counts`).
    counts: pl.DataFrame | None = None


@dataclass(frozen=True)
class MetricsSettings:
    """What the metrics engine reads of the configuration (:class:`hcp.config.Config`): ``[scoring]``,
    ``[ranking]``, ``[loop] rectify_days`` (the one the supervision loop uses too), ``[timeliness]`` and
    ``[metrics]``."""

    scoring: ScoringConfig
    ranking: RankingConfig
    rectify_days: int
    rectify_days_by_locality: dict[str, int]
    warning_days: int
    watermark_margin: dt.timedelta
    #: What a read command may compute before showing figures ([metrics] read_refresh_budget).
    read_refresh_budget: int

    @classmethod
    def load(cls, config: Config | None = None) -> "MetricsSettings":
        """The view over ``config`` (default: the process's configuration, :func:`hcp.config.get_config`)."""
        config = config or get_config()
        return cls(
            scoring=config.scoring,
            ranking=config.ranking,
            rectify_days=config.loop.rectify_days,
            rectify_days_by_locality=config.loop.by_locality("rectify_days"),
            warning_days=config.timeliness.warning_working_days,
            watermark_margin=dt.timedelta(seconds=config.metrics.watermark_margin_seconds),
            read_refresh_budget=config.metrics.read_refresh_budget,
        )

    def fingerprint(self) -> str:
        """Changes whenever a setting, or a rule (:data:`RULES_VERSION`), that affects stored results changes."""
        text = json.dumps([RULES_VERSION, self.scoring.__dict__, self.ranking.__dict__, self.rectify_days,
                           self.rectify_days_by_locality], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _stamp(moment: dt.datetime) -> str:
    """A Shanghai instant as the DateTime64(3) text the state table keeps."""
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def has_data(facts: pl.DataFrame, rfacts: pl.DataFrame) -> bool:
    """A period has data when a consistent case was completed or a counted rating given in it."""
    return (facts.filter(~pl.col("inconsistent")).height > 0) or (rfacts.filter(pl.col("counted")).height > 0)


def month_of(day: dt.date) -> Period:
    return Period.month(day.year, day.month)


def _padded(code: pl.Expr, width: int) -> pl.Expr:
    return code.str.slice(0, width).str.pad_end(12, "0")


def peer_groups(values: pl.DataFrame, grouping: str, items: pl.DataFrame, departments: pl.DataFrame,
                period: Period, ranking: RankingConfig | None = None) -> pl.DataFrame:
    """Attach each unit's peer group (who it is ranked against, DOMAIN.md) and ``unit_region`` (whose
    office's volume thresholds apply):

    * a department: the departments of its own government (本级部门: the same region code);
    * an item: the items of its department;
    * a city: the cities of its province; a county: the counties of its province, or of its city with
      ``county_peers = "city"``; a city's own level (市本级): the other cities' own levels;
    * the province and the whole warehouse: peers of their own.
    """
    ranking = ranking or get_config().ranking
    group = pl.col("group")
    if grouping == "dept":
        mapping = departments.select(group="dept_code", peer_group="region_code").unique("group")
        return values.join(mapping, on="group", how="left").with_columns(
            peer_group=pl.col("peer_group").fill_null(""), unit_region=pl.col("peer_group").fill_null(""))
    if grouping == "item":
        in_force = items_in_force(items, period.end - dt.timedelta(days=1)).join(
            departments.select("dept_code", unit_region="region_code").unique("dept_code"), on="dept_code", how="left")
        mapping = in_force.select(group="item_code", peer_group="dept_code", unit_region="unit_region")
        return values.join(mapping, on="group", how="left").with_columns(
            peer_group=pl.col("peer_group").fill_null(""), unit_region=pl.col("unit_region").fill_null(""))
    if grouping in ("region:city", "region:own"):
        province = _padded(group, 2)
        peer = pl.when(province == group).then(pl.lit("")).otherwise(province) if grouping == "region:own" else province
    elif grouping == "region:county":
        peer = _padded(group, 2 if ranking.county_peers == "province" else 4)
    elif grouping == "region:province":
        peer = pl.lit("")
    else:
        return values.with_columns(peer_group=pl.lit(grouping), unit_region=pl.lit(""))
    return values.with_columns(peer_group=peer, unit_region=group)


def score_period(values: pl.DataFrame, grouping: str, settings: MetricsSettings, previous: pl.DataFrame | None,
                 items: pl.DataFrame, departments: pl.DataFrame, period: Period) -> pl.DataFrame:
    """Indicators of one (period, grouping) → with peer group, contributions, score, rank, bottom-two marks."""
    with_peers = rank_status(peer_groups(values, grouping, items, departments, period, settings.ranking),
                             settings.ranking)
    ranked = rank_within_peers(composite_scores(with_peers, settings.scoring))
    return mark_bottom_two(ranked, previous, settings.ranking.bottom_min_peers,
                           settings.ranking.bottom_margin_points).drop("unit_region")


def rating_facts_where(wh: Warehouse, selection: Where, settings: MetricsSettings, calendar=None, *,
                       as_of: dt.datetime | None = None) -> pl.DataFrame:
    """:func:`metrics.ratings.rating_facts` of the ratings a selection holds (given in a period, in a reader's
    scope …), read from the warehouse, with the rectification limits in force; due-ness as of ``as_of`` (now
    when None) — what the job counts, for a page or a list that must agree with it."""
    ratings = ratings_q.load_ratings(wh, selection)
    followups = ratings_q.load_followups(wh, selection, select_final=False)
    return rating_facts(ratings, followups, calendar or reference.load_calendar(wh), rectify_days=settings.rectify_days,
                        rectify_days_by_locality=settings.rectify_days_by_locality, as_of=as_of)


def compute_period(facts: pl.DataFrame, rfacts: pl.DataFrame, items: pl.DataFrame, departments: pl.DataFrame,
                   period: Period, grouping: str, settings: MetricsSettings,
                   previous: pl.DataFrame | None = None) -> pl.DataFrame:
    """Everything `hcp metrics` shows for one period and grouping, from facts in memory (pure)."""
    values = compute_indicators(facts, rfacts, items, departments, period, grouping)
    return score_period(values, grouping, settings, previous, items, departments, period)


#: What a partial run stamps on each row of its counts, for the merge to record as the job's state.
PARTIAL_RUN_COLUMNS = ("run_watermark", "run_started", "run_fingerprint", "run_judged_on")


def group_counts(case_cells_: pl.DataFrame, rating_cells_: pl.DataFrame) -> pl.DataFrame:
    """The counts behind every case and rating indicator per month, grouping and group, from case and rating
    cells — the result of a partial run, added up with other shards' by :mod:`metrics.merge`. A group has a
    row when it has a completed case or a counted rating; a count it has none of is 0. Months are kept even
    when this shard's cases there are all inconsistent (with another shard's data the month is a period)."""
    keys = ("month", "grouping", "group")
    empty = pl.DataFrame(schema={"month": pl.Date, "grouping": pl.String, "group": pl.String,
                                 **{c: pl.Int64 for c in (*CASE_COUNT_COLUMNS, *RATING_COUNT_COLUMNS)}})

    def rolled(cells: pl.DataFrame, columns: tuple[str, ...]) -> pl.DataFrame:
        if cells.height == 0:
            return empty.select(*keys, *columns)
        return pl.concat([
            cells.with_columns(grouping=pl.lit(grouping), group=group_expr(grouping))
            .filter(pl.col("group").is_not_null())
            .group_by(*keys).agg([pl.col(c).sum().cast(pl.Int64) for c in columns])
            for grouping in GROUPINGS])

    counts = rolled(case_cells_, CASE_COUNT_COLUMNS).join(rolled(rating_cells_, RATING_COUNT_COLUMNS), on=keys,
                                                          how="full", coalesce=True)
    return counts.with_columns([pl.col(c).fill_null(0) for c in (*CASE_COUNT_COLUMNS, *RATING_COUNT_COLUMNS)]
                               ).select(empty.columns).sort(keys)


def _split_by_case(frame: pl.DataFrame, bounds: list[str]) -> list[pl.DataFrame]:
    """The rows of ``frame`` (with ``case_id``) in the case-id ranges that ``bounds`` delimit, one frame per
    range (the order of ``case_id >= lo AND case_id < hi`` in the warehouse: bytewise)."""
    if not bounds:
        return [frame]
    # The range of a case: how many bounds it is at or above (one comparison per bound, cheaper than a binary
    # search of every id among the bounds).
    part = pl.sum_horizontal([(pl.col("case_id") >= bound).cast(pl.UInt32) for bound in bounds])
    parts = frame.with_columns(_part=part).partition_by("_part", as_dict=True, include_key=False)
    return [parts.get((k,), frame.clear()) for k in range(len(bounds) + 1)]


class MetricsJob:
    """Runs the metrics pipeline against one warehouse."""

    def __init__(self, wh: Warehouse, settings: MetricsSettings | None = None, progress: Progress | None = None,
                 *, margin: dt.timedelta | None = None, clock: Callable[[], dt.datetime] | None = None,
                 cities: list[str] | tuple[str, ...] | None = None):
        self.wh = wh
        #: A partial run's cities (city prefixes ``3701``, ``3700``…: a shard of a cluster, docs/cluster.md):
        #: only their cases and ratings are computed, and their counts returned for merging, not stored.
        self.cities = tuple(cities) if cities is not None else None
        self.settings = settings or MetricsSettings.load()
        self.margin = self.settings.watermark_margin if margin is None else margin
        self.progress = progress or (lambda message: None)
        #: The moment rectification due-ness is judged at (default: now; a replay or a test sets it). The
        #: watermark always follows the real clock, which stamps the arrivals.
        self.clock = clock or (lambda: dt.datetime.now(SHANGHAI))
        self.profile = Profile()
        #: Whether a bucket loop reads ahead and writes behind in threads (:data:`OVERLAP_MIN_CORES`).
        self.overlap = len(os.sched_getaffinity(0)) >= OVERLAP_MIN_CORES
        #: The background writer of a bucket loop and its pending write (:meth:`_write_facts`).
        self._writer: ThreadPoolExecutor | None = None
        self._writing = None

    # Public -------------------------------------------------------------------------------
    def run(self, *, full: bool = False, budget: int | None = None) -> RunReport:
        """Bring the derived tables up to date. Runs on one machine never overlap (a job lock).

        With a ``budget`` (events of touched cases plus touched ratings — all of them for a full run: what a
        read command may spend), a run that would need more is not started: the report's mode is
        ``deferred`` and ``pending`` says how much waits (None: a full run is due).

        A partial run (``cities`` given) is always a full pass over those cities (see :meth:`_partial`)."""
        with job_lock("metrics"):
            return self._partial() if self.cities is not None else self._run(full=full, budget=budget)

    def _run(self, *, full: bool, budget: int | None = None) -> RunReport:
        started = time.monotonic()
        self.profile = Profile()
        now = dt.datetime.now(SHANGHAI)  # arrivals are stamped by the real clock: so is the watermark
        watermark = now - self.margin
        previous = state.get_state(self.wh, "watermark")
        judged = state.get_state(self.wh, "due_judged_on")
        fingerprint = f"{self.settings.fingerprint()}/{self._reference_fingerprint()}"
        # A run that stopped half-way (its facts written, its months not) leaves the stored counts behind the
        # facts: only a full run can be trusted after it.
        unfinished = bool(state.get_state(self.wh, "writing"))
        needs_full = (full or previous is None or unfinished
                      or state.get_state(self.wh, "fingerprint") != fingerprint)
        if needs_full and budget is not None:
            total = events.count_events_and_ratings(self.wh)
            if total > budget:
                return RunReport(mode="deferred", pending=None)
        # What arrived in the safety margin before this run started, as it stands now: the next run re-reads
        # that interval only if something in it became visible after this moment.
        margin_digest = state.arrivals_digest(self.wh, _stamp(watermark), _stamp(now))
        if needs_full:
            report = self._full()
        else:
            report = self._incremental(self._since(previous), dt.date.fromisoformat(judged) if judged else None,
                                       budget)
            if report.mode == "deferred":
                return report
        state.set_state(self.wh, "watermark", _stamp(watermark))
        state.set_state(self.wh, "margin_digest", f"{_stamp(now)}|{margin_digest}")
        state.set_state(self.wh, "run_started", now.isoformat())
        state.set_state(self.wh, "due_judged_on", self.clock().astimezone(SHANGHAI).date().isoformat())
        state.set_state(self.wh, "fingerprint", fingerprint)
        state.set_state(self.wh, "writing", "")
        report.seconds = time.monotonic() - started
        report.watermark = watermark
        report.profile = self.profile
        return report

    def _since(self, watermark: str) -> str:
        """Where this incremental run starts reading arrivals: the previous run's watermark (its start minus
        the safety margin) — or its start, when nothing that arrived in the margin before it became
        visible since (the previous run then saw all of it: a full run leaves nothing to redo)."""
        recorded = state.get_state(self.wh, "margin_digest")
        if not recorded or "|" not in recorded:
            return watermark
        upto, digest = recorded.split("|", 1)
        return upto if state.arrivals_digest(self.wh, watermark, upto) == digest else watermark

    def compute_range(self, period: Period, grouping: str) -> pl.DataFrame:
        """Metrics of any period (e.g. a date range) from the stored facts, without storing them."""
        facts = facts_q.load_case_facts(self.wh, *facts_q.completed_in(period))
        rfacts = self._rating_facts_in(period)
        items, departments = reference.load_items(self.wh), reference.load_departments(self.wh)
        return compute_period(facts, rfacts, items, departments, period, grouping, self.settings)

    # Internals ----------------------------------------------------------------------------
    def _reference_fingerprint(self) -> str:
        """Content hash of the calendar overrides and the departments: when it changes, everything may move."""
        return reference.reference_fingerprint(self.wh)

    def _rating_facts(self, ratings: pl.DataFrame, followups: pl.DataFrame, calendar) -> pl.DataFrame:
        return rating_facts(ratings, followups, calendar, rectify_days=self.settings.rectify_days,
                            rectify_days_by_locality=self.settings.rectify_days_by_locality, as_of=self.clock())

    def rating_facts_where(self, where: Where | str, parameters: dict | None = None, calendar=None) -> pl.DataFrame:
        """Rating facts of the ratings a condition selects (e.g. given in a period, in a scope)."""
        return rating_facts_where(self.wh, as_where(where, parameters), self.settings, calendar, as_of=self.clock())

    def _rating_facts_in(self, period: Period, calendar=None) -> pl.DataFrame:
        return self.rating_facts_where(*ratings_q.rated_in(period), calendar=calendar)

    def _full(self) -> RunReport:
        """Every case's facts, a bucket of cases at a time (facts are per case, so memory stays bounded by
        the bucket, not the warehouse); each bucket's facts and ratings are counted per month and cell as
        they are made, and every month's indicators of every grouping are rolled up from those counts."""
        run_id = time.time_ns()
        step = self.profile.step
        with step("reference (calendar, items, departments)"):
            calendar = reference.load_calendar(self.wh)
            items, departments = reference.load_items(self.wh), reference.load_departments(self.wh)
        state.set_state(self.wh, "writing", str(run_id))
        with self._writes_behind():  # the months are stored while the last range's facts are written
            cases, case_counts, rating_counts = self._every_case(None, items, calendar, run_id)
            months = self._months(case_counts.filter(pl.col("cases_completed") > 0)["month"], rating_counts["month"])
            stale = sorted(set(group_metrics.stored_periods(self.wh)) - {p.label for p in months})
            done = self._store_periods(months, (case_counts, rating_counts), items, departments, run_id, calendar)
        with step("superseded case facts deleted"):
            facts_q.drop_superseded_facts(self.wh, run_id)
        group_metrics.retire_periods(self.wh, stale, GROUPINGS, run_id, dt.datetime.now(SHANGHAI))
        return RunReport(mode="full", cases=cases, periods=done)

    def _partial(self) -> RunReport:
        """The facts of every case of the cities (written, a bucket at a time, as a full run writes them), and
        the counts of their cases and ratings per month, grouping and group (the report's ``counts``). Nothing
        else is stored: group results, the watermark and ranks come from the merge of every shard's counts
        (:mod:`metrics.merge`), computed once. The ``writing`` mark stays set until that merge stores them
        (the stored counts are behind the facts meanwhile). Each row of the counts carries what the merge
        records as the job's state once every shard agrees (:data:`PARTIAL_RUN_COLUMNS`): this run's
        watermark and start, the fingerprint of its rules and reference data, the day it judged due-ness on."""
        run_id = time.time_ns()
        step = self.profile.step
        started = time.monotonic()
        now = dt.datetime.now(SHANGHAI)  # arrivals are stamped by the real clock: so is the watermark
        run = {"run_watermark": _stamp(now - self.margin), "run_started": now.isoformat(),
               "run_fingerprint": f"{self.settings.fingerprint()}/{self._reference_fingerprint()}",
               "run_judged_on": self.clock().astimezone(SHANGHAI).date().isoformat()}
        with step("reference (calendar, items)"):
            calendar, items = reference.load_calendar(self.wh), reference.load_items(self.wh)
        cities = city_condition(self.cities)
        state.set_state(self.wh, "writing", str(run_id))
        cases, case_counts, rating_counts = self._every_case(cities, items, calendar, run_id)
        with step("superseded case facts deleted"):
            facts_q.drop_superseded_facts(self.wh, run_id, cities)
        counts = group_counts(case_counts, rating_counts).with_columns(
            [pl.lit(value, dtype=pl.String).alias(name) for name, value in run.items()])
        months = sorted({m.strftime("%Y-%m") for m in counts["month"].unique().to_list()})
        return RunReport(mode="partial", cases=cases, periods=months, seconds=time.monotonic() - started,
                         profile=self.profile, counts=counts)

    def _every_case(self, within: Where | None, items: pl.DataFrame, calendar,
                    run_id: int) -> tuple[int, pl.DataFrame, pl.DataFrame]:
        """The facts of every case of ``within`` (all without it), written as ``run_id`` a range of cases at a
        time, and the counts per month and cell of those cases and of their ratings: (cases, case cells,
        rating cells). The ratings first, a bucket of ratings at a time: their cells, and how many ratings
        each case has (which the ranges of cases then take) — counted while the first range of cases is read."""
        counted: dict[str, pl.DataFrame] = {}

        def rating_pass() -> pl.DataFrame:
            counted["cells"], rated = self._rating_pass(within, calendar)
            return rated

        cases, case_counts = 0, None
        n_events = events.count_events(self.wh, within)
        for _, reads, label, rated_ in self._case_buckets(n_events, within, meanwhile=rating_pass):
            facts = self._bucket_facts(reads, items, calendar, label, run_id, rated_)
            with self.profile.step("bucket: cells"):
                case_counts = sum_cells(*([case_counts] if case_counts is not None else []), case_cells(facts))
            cases += facts.height
            del facts, reads
        return cases, case_counts, counted["cells"]

    def _case_buckets(self, n_events: int, within: Where | None, *,
                      meanwhile: Callable[[], pl.DataFrame] | None = None
                      ) -> Iterator[tuple[Where, dict, str, pl.DataFrame | None]]:
        """The cases of ``within`` (all without it) in ranges of case ids of about :data:`EVENTS_PER_BUCKET`
        events: per range, its selection, its reads (:meth:`_read_bucket`), a label, and the part of
        ``rated`` whose cases it holds. ``meanwhile`` (the rating pass) is run while the first range is read
        and returns ``rated``, the ratings per case; without it each range reads its cases' ratings itself.
        The next ranges (:data:`READ_AHEAD`) are read while the caller computes this one, and its facts are
        written while the caller computes the next (threads: the warehouse calls release the GIL), when :attr:`overlap`; every write is
        done when the loop ends, or inside an outer :meth:`_writes_behind` when that block ends."""
        bounds = events.case_bounds(self.wh, max(1, math.ceil(n_events / EVENTS_PER_BUCKET)), within)
        parts = [events.case_range(lo, hi, within) for lo, hi in zip([None, *bounds], [*bounds, None])]
        with_ratings = meanwhile is None

        def rated_parts(rated: pl.DataFrame | None) -> list[pl.DataFrame | None]:
            return _split_by_case(rated, bounds) if rated is not None else [None] * len(parts)

        if not self.overlap:
            per_range = rated_parts(meanwhile() if meanwhile else None)
            for k, cases in enumerate(parts):
                yield cases, self._read_bucket(cases, with_ratings), f"part {k + 1} of {len(parts)}", per_range[k]
            return
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="metrics-read") as pool, self._writes_behind():
            pending = deque(pool.submit(self._read_bucket, cases, with_ratings) for cases in parts[:READ_AHEAD])
            per_range = rated_parts(meanwhile() if meanwhile else None)
            for k, cases in enumerate(parts):
                with self.profile.step("bucket: wait for its read"):
                    reads = pending.popleft().result()
                if k + READ_AHEAD < len(parts):
                    pending.append(pool.submit(self._read_bucket, parts[k + READ_AHEAD], with_ratings))
                yield cases, reads, f"part {k + 1} of {len(parts)}", per_range[k]
            # The reader thread ends with the pool: its warehouse client goes with it.
            pool.submit(self.wh.release_thread_client).result()

    @contextmanager
    def _writes_behind(self) -> Iterator[None]:
        """Inside the block, bucket facts are written in a background thread (:meth:`_write_facts`) when
        :attr:`overlap`; every write is done when the block ends. Nested, the outer block decides: a full run
        lets the last range's write run while the months are computed (none of them reads the facts)."""
        if not self.overlap or self._writer is not None:
            yield
            return
        try:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="metrics-write") as self._writer:
                yield
                self._wait_for_write()
                # The thread ends with the pool: its warehouse client goes with it.
                self._writer.submit(self.wh.release_thread_client).result()
        finally:
            self._writer, self._writing = None, None

    def _write_facts(self, facts: pl.DataFrame, run_id: int) -> None:
        """Store a bucket's facts: in the background inside :meth:`_case_buckets` (one write at a time, so at
        most one bucket's facts wait), else now."""
        def write() -> None:
            with self.profile.step("bucket: write facts"):
                facts_q.write_case_facts(self.wh, facts, run_id)
        if self._writer is None:
            write()
            return
        self._wait_for_write()
        self._writing = self._writer.submit(write)

    def _wait_for_write(self) -> None:
        """Wait for the background write of the previous bucket's facts (its error is raised here)."""
        if self._writing is not None:
            with self.profile.step("bucket: wait for its write"):
                writing, self._writing = self._writing, None
                writing.result()

    def _read_bucket(self, cases: Where, with_ratings: bool) -> dict[str, pl.DataFrame]:
        """What the facts of the selected cases are made from: their first events (aggregated in the
        warehouse) with their clock-stop events, and (``with_ratings``: an incremental run) how many ratings
        each has (``rated``) and the stored facts they replace (``old``: the columns of their cells; read here,
        before this run writes theirs)."""
        step = self.profile.step
        with step("bucket: read events"):
            # A shard's selection tests the cities' region codes: only the others test nothing but the case id.
            reads = {"first": events.load_first_events_with_stops(self.wh, cases, on_case_id_only=self.cities is None)}
        if with_ratings:
            with step("bucket: read ratings"):
                reads["rated"] = ratings_q.ratings_per_case(self.wh, cases)
            with step("bucket: read old facts"):
                reads["old"] = facts_q.load_case_facts(self.wh, cases, columns=CELL_FACT_COLUMNS,
                                                       on_case_id_only=self.cities is None)
        return reads

    def _bucket_facts(self, reads: dict[str, pl.DataFrame], items: pl.DataFrame, calendar, label: str, run_id: int,
                      rated: pl.DataFrame | None = None) -> pl.DataFrame:
        """Facts of a bucket's cases with their ratings' counts (``rated``, or the counts read with them),
        written as ``run_id``."""
        self.progress(f"计算办件事实 / case facts, {label} ({reads['first'].height:,} cases)")
        with self.profile.step("bucket: case facts"):
            facts = self._with_rating_counts(case_facts_from(reads.pop("first"), None, items, calendar),
                                             rated if rated is not None else reads.pop("rated"))
        self._write_facts(facts, run_id)
        return facts

    def _rating_pass(self, within: Where | None, calendar, steps: str = "ratings") -> tuple[pl.DataFrame, pl.DataFrame]:
        """The rating cells of the ratings ``within`` selects (all without it), and how many ratings each
        case has (:func:`metrics.ratings.rated_cases`), a bucket of :data:`FACTS_PER_BUCKET` ratings at a time
        (by rating id: every stored copy of a rating falls in one bucket)."""
        n_ratings = ratings_q.count_ratings(self.wh, as_where(within))
        cells, rated, buckets = [], [], max(1, math.ceil(n_ratings / FACTS_PER_BUCKET))
        for bucket in range(buckets):
            # One bucket of every rating: no condition at all (a condition would make the follow-ups' read
            # select them through the set of every rating id).
            selection = as_where(within) if buckets == 1 else as_where(within).add(in_bucket("rating_id", buckets, bucket))
            with self.profile.step(f"{steps}: read ratings"):
                ratings = ratings_q.load_ratings(self.wh, selection)
                followups = ratings_q.load_followups(self.wh, selection, select_final=False)
            with self.profile.step(f"{steps}: rating facts and cells"):
                rfacts = self._rating_facts(ratings, followups, calendar)
                cells.append(rating_cells(rfacts))
                rated.append(rated_cases(rfacts))
            del ratings, followups, rfacts
        per_case = pl.concat(rated).group_by("case_id").agg(pl.col("rating_count").sum().cast(pl.UInt32))
        return sum_cells(*cells), per_case

    def _due_changed_months(self, last_day: dt.date | None, calendar) -> list[dt.date]:
        """First days of the months with a bad rating whose rectification limit passed between the day the
        previous run judged due-ness on and today (``last_day`` ≤ due date < today; the other way round when the clock was set
        back, as a replay does): their due-ness figures have moved."""
        today = self.clock().date()
        if last_day is None or last_day == today:
            return []
        last_day, today = min(last_day, today), max(last_day, today)
        longest = max([self.settings.rectify_days, *self.settings.rectify_days_by_locality.values()])
        earliest = dt.datetime.combine(last_day - dt.timedelta(days=3 * longest + 60), dt.time())
        bad = ratings_q.bad_ratings_since(self.wh, earliest)
        if bad.height == 0:
            return []
        facts = self._rating_facts(bad, ratings_q.no_followups(self.wh), calendar)  # the due date needs none
        changed = facts.filter((pl.col("due_date") >= last_day) & (pl.col("due_date") < today))
        return changed["rated_at"].dt.date().dt.truncate("1mo").unique().to_list()

    def _incremental(self, since: str, last_day: dt.date | None = None, budget: int | None = None) -> RunReport:
        touched = events.touched_cases(since)
        step = self.profile.step
        with step("incremental: find touched"):
            n_events, n_ratings = events.touched_sizes(self.wh, since)
            if budget is not None and n_events + n_ratings > budget:
                return RunReport(mode="deferred", pending=int(n_events + n_ratings))
            rating_months = ratings_q.touched_rating_months(self.wh, since) if n_ratings else []
            calendar = reference.load_calendar(self.wh)
            rating_months += self._due_changed_months(last_day, calendar)
        if n_events == 0 and not rating_months:
            return RunReport(mode="unchanged")
        run_id = time.time_ns()
        items, departments = reference.load_items(self.wh), reference.load_departments(self.wh)
        # Bucketed like a full run, whatever the size of the change.
        self.progress(f"增量计算办件事实 / case facts of the touched cases ({n_events:,} events)")
        cases, completed, delta = 0, [], []
        state.set_state(self.wh, "writing", str(run_id))
        for _, reads, label, _ in self._case_buckets(n_events, touched):
            with step("bucket: cells"):
                old = case_cells(reads.pop("old"))
            facts = self._bucket_facts(reads, items, calendar, label, run_id)
            with step("bucket: cells"):
                new = case_cells(facts)
                # Every month a touched case was completed in, before this run or now, is recomputed (one
                # only inconsistent cases fall in is not stored unless it already was: see _store_periods).
                completed.append(pl.concat([new["month"], old["month"]]).unique())
                delta.append(sum_cells(new, negated(old)))
            cases += facts.height
            del facts, old, new, reads
        case_delta = sum_cells(*delta)
        months = self._months(*completed, pl.Series(rating_months, dtype=pl.Date))
        # The month after a recomputed one is re-scored for its bottom-two-running mark.
        stored = set(group_metrics.stored_periods(self.wh))
        following = {month_of(p.end) for p in months} - set(months)
        months = sorted(set(months) | {p for p in following if p.label in stored}, key=lambda p: p.start)
        done = self._store_periods(months, None, items, departments, run_id, calendar,
                                   changes=(case_delta, {m for m in rating_months}))
        return RunReport(mode="incremental", cases=cases, periods=done)

    @staticmethod
    def _with_rating_counts(facts: pl.DataFrame, rated: pl.DataFrame) -> pl.DataFrame:
        return facts.join(rated, on="case_id", how="left").with_columns(
            rating_count=pl.col("rating_count").fill_null(0).cast(pl.UInt32)
        )

    @staticmethod
    def _months(*dates: pl.Series) -> list[Period]:
        days = pl.concat([d.cast(pl.Date) for d in dates]).drop_nulls()
        firsts = days.dt.truncate("1mo").unique().sort().to_list()
        return [Period.month(d.year, d.month) for d in firsts]

    def _stored_case_cells(self, months: list[Period]) -> pl.DataFrame:
        """Case cells of the given months from the stored facts, read a bucket at a time (memory bounded by
        the bucket, whatever the size of the months)."""
        if not months:
            return pl.DataFrame()
        completed = facts_q.completed_in_months([p.start for p in months])
        n_facts = facts_q.count_case_facts(self.wh, completed)
        parts, buckets = [], max(1, math.ceil(n_facts / FACTS_PER_BUCKET))
        for bucket in range(buckets):
            with self.profile.step("month: read facts"):
                facts = facts_q.load_case_facts(self.wh, as_where(completed).add(in_bucket("case_id", buckets, bucket)),
                                                columns=CELL_FACT_COLUMNS)
            with self.profile.step("month: case cells"):
                parts.append(case_cells(facts))
            del facts
        return sum_cells(*parts)

    def _stored_rating_cells(self, months: list[Period], calendar) -> pl.DataFrame:
        """Rating cells of the given months from the ratings and their follow-ups, a bucket at a time."""
        if not months:
            return pl.DataFrame()
        return self._rating_pass(ratings_q.rated_in_months([p.start for p in months]), calendar, "month")[0]

    def _store_periods(self, months: list[Period], cells: tuple[pl.DataFrame, pl.DataFrame] | None,
                       items: pl.DataFrame, departments: pl.DataFrame, run_id: int, calendar,
                       changes: tuple[pl.DataFrame, set] | None = None) -> list[str]:
        """Recompute and store each month; the labels of the months stored.

        A full run gives every month's case and rating cells. An incremental run gives ``changes``: the
        change of the case cells (the recomputed cases' new facts minus their old ones) and the months whose
        ratings changed (or whose due-ness moved). A stored month then takes its stored counts plus the
        change of its cases (counts are additive and the stored ones are the sum of the stored facts), and
        its stored rating counts unless its ratings changed; a month not stored yet is counted afresh."""
        if not months:
            return []
        stored, done, last = set(group_metrics.stored_periods(self.wh)), [], None
        if cells is None:
            case_delta, rating_months = changes
            fresh = [p for p in months if p.label not in stored]
            case_cells_ = self._stored_case_cells(fresh)
            rating_cells_ = self._stored_rating_cells([p for p in months if p.label not in stored
                                                       or p.start in rating_months], calendar)
        else:
            case_cells_, rating_cells_ = cells
        for period in months:
            self.progress(f"计算指标 / indicators {period.label}")
            of_month = lambda frame: frame.filter(pl.col("month") == period.start) if frame.height else frame  # noqa: E731
            if cells is not None or period.label not in stored:
                month_cases, month_ratings = of_month(case_cells_), of_month(rating_cells_)
                has_data = (month_cases.height and month_cases["cases_completed"].sum() > 0) or month_ratings.height > 0
                if period.label not in stored and not has_data:
                    continue  # a month of inconsistent cases only never becomes a period of its own
                counts = lambda grouping, c=month_cases, r=month_ratings: (roll_up(c, grouping), roll_up(r, grouping))  # noqa: E731
            else:
                counts = self._changed_counts(period, of_month(case_delta),
                                              of_month(rating_cells_) if period.start in rating_months else None)
            previous = last[1] if last is not None and last[0] == period.previous_month().label else None
            last = (period.label, self._store_period(period, counts, items, departments, run_id, previous))
            done.append(period.label)
        return done

    def _changed_counts(self, period: Period, case_delta: pl.DataFrame, rating_cells_: pl.DataFrame | None):
        """Per grouping: the stored case counts of a month plus the change of its cases, and its stored
        rating counts (or those of ``rating_cells_`` when its ratings were counted afresh)."""
        with self.profile.step("month: read stored counts"):
            stored_month = group_metrics.read_month_metrics(self.wh, period.label)

        def counts(grouping: str) -> tuple[pl.DataFrame, pl.DataFrame]:
            stored = stored_month.get(grouping, pl.DataFrame()).rename({"group_code": "group"}, strict=False)
            if stored.height == 0:  # nothing stored for this grouping (no group of its kind has data)
                stored = pl.DataFrame(schema={"group": pl.String, **{c: pl.Int64 for c in
                                                                     (*CASE_COUNT_COLUMNS, *RATING_COUNT_COLUMNS)}})
            cases = stored.select(pl.col("group").cast(pl.String), *[pl.col(c).cast(pl.Int64) for c in CASE_COUNT_COLUMNS])
            if case_delta.height:
                cases = pl.concat([cases, roll_up(case_delta, grouping)], how="vertical_relaxed").group_by("group").agg(
                    [pl.col(c).sum() for c in CASE_COUNT_COLUMNS])
            ratings = (roll_up(rating_cells_, grouping) if rating_cells_ is not None else
                       present_rating_groups(stored.select(pl.col("group").cast(pl.String), *[pl.col(c).cast(pl.Int64)
                                                                      for c in RATING_COUNT_COLUMNS])))
            return present_case_groups(cases), ratings
        return counts

    def _store_period(self, period: Period, counts, items: pl.DataFrame, departments: pl.DataFrame,
                      run_id: int, previous: dict[str, pl.DataFrame] | None = None) -> dict[str, pl.DataFrame]:
        """Score and store every grouping of a month from ``counts(grouping)`` (its case and rating counts);
        the scored rows per grouping. ``previous``: the previous month's scored rows when this run has just
        stored them (else they are read), for the bottom-two-months-running mark."""
        watermark = dt.datetime.now(SHANGHAI)
        step = self.profile.step
        if previous is None:
            with step("month: read previous month"):
                previous = {grouping: rows.rename({"group_code": "group"}) for grouping, rows in
                            group_metrics.read_month_metrics(self.wh, period.previous_month().label).items()}
        results = {}
        for grouping in GROUPINGS:
            with step("month × grouping: indicators"):
                cases, ratings = counts(grouping)
                values = indicators_from_counts(cases, ratings, items, departments, period, grouping)
            with step("month × grouping: score and rank"):
                before = previous.get(grouping)
                results[grouping] = score_period(values, grouping, self.settings,
                                                 before if before is not None and before.height else None,
                                                 items, departments, period)
        with step("month: write"):
            group_metrics.write_month_metrics(self.wh, period, results, run_id, list(self.settings.scoring.weights),
                                              watermark)
        return results
