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
by the next run; re-processing a case is harmless (results are replaced, never added).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import json
import time
from dataclasses import dataclass, field
from typing import Callable

import polars as pl

from hcp.config import load_config
from hcp.locks import job_lock
from metrics import store
from metrics.facts import case_facts
from metrics.indicators import GROUPINGS, Period, compute_indicators, items_in_force
from metrics.ratings import rated_cases, rating_facts
from metrics.score import (RankingConfig, ScoringConfig, composite_scores, mark_bottom_two, rank_status,
                           rank_within_peers)
from warehouse.client import SHANGHAI, Warehouse

WATERMARK_MARGIN = dt.timedelta(seconds=120)
#: Cases are processed in hash buckets of about this many events (memory ≈ 1 GB per million events).
EVENTS_PER_BUCKET = 1_500_000

Progress = Callable[[str], None]


@dataclass
class RunReport:
    mode: str  # full | incremental | unchanged
    cases: int = 0
    periods: list[str] = field(default_factory=list)
    seconds: float = 0.0
    watermark: dt.datetime | None = None


@dataclass(frozen=True)
class MetricsSettings:
    scoring: ScoringConfig
    ranking: RankingConfig
    rectify_days: int
    rectify_days_by_locality: dict[str, int]
    warning_days: int
    watermark_margin: dt.timedelta = WATERMARK_MARGIN

    @classmethod
    def load(cls, config: dict | None = None) -> "MetricsSettings":
        config = config or load_config()
        loop = config.get("loop", {})
        by_locality = {code: int(values["rectify_days"]) for code, values in loop.get("locality", {}).items()
                       if "rectify_days" in values}
        return cls(
            scoring=ScoringConfig.from_config(config),
            ranking=RankingConfig.from_config(config),
            rectify_days=int(loop.get("rectify_days", 15)),
            rectify_days_by_locality=by_locality,
            warning_days=int(config.get("timeliness", {}).get("warning_working_days", 2)),
            watermark_margin=dt.timedelta(seconds=float(config.get("metrics", {}).get(
                "watermark_margin_seconds", WATERMARK_MARGIN.total_seconds()))),
        )

    def fingerprint(self) -> str:
        """Changes whenever a setting that affects stored results changes."""
        text = json.dumps([self.scoring.__dict__, self.ranking.__dict__, self.rectify_days,
                           self.rectify_days_by_locality], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


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
    ranking = ranking or RankingConfig()
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


def compute_period(facts: pl.DataFrame, rfacts: pl.DataFrame, items: pl.DataFrame, departments: pl.DataFrame,
                   period: Period, grouping: str, settings: MetricsSettings,
                   previous: pl.DataFrame | None = None) -> pl.DataFrame:
    """Everything `hcp metrics` shows for one period and grouping, from facts in memory (pure)."""
    values = compute_indicators(facts, rfacts, items, departments, period, grouping)
    return score_period(values, grouping, settings, previous, items, departments, period)


class MetricsJob:
    """Runs the metrics pipeline against one warehouse."""

    def __init__(self, wh: Warehouse, settings: MetricsSettings | None = None, progress: Progress | None = None,
                 *, margin: dt.timedelta | None = None, clock: Callable[[], dt.datetime] | None = None):
        self.wh = wh
        self.settings = settings or MetricsSettings.load()
        self.margin = self.settings.watermark_margin if margin is None else margin
        self.progress = progress or (lambda message: None)
        #: The moment rectification due-ness is judged at (default: now; a replay or a test sets it). The
        #: watermark always follows the real clock, which stamps the arrivals.
        self.clock = clock or (lambda: dt.datetime.now(SHANGHAI))

    # Public -------------------------------------------------------------------------------
    def run(self, *, full: bool = False) -> RunReport:
        """Bring the derived tables up to date. Runs on one machine never overlap (a job lock)."""
        with job_lock("metrics"):
            return self._run(full=full)

    def _run(self, *, full: bool) -> RunReport:
        started = time.monotonic()
        now = dt.datetime.now(SHANGHAI)  # arrivals are stamped by the real clock: so is the watermark
        watermark = now - self.margin
        previous = store.get_state(self.wh, "watermark")
        judged = store.get_state(self.wh, "due_judged_on")
        fingerprint = f"{self.settings.fingerprint()}/{self._reference_fingerprint()}"
        if full or previous is None or store.get_state(self.wh, "fingerprint") != fingerprint:
            report = self._full()
        else:
            report = self._incremental(previous, dt.date.fromisoformat(judged) if judged else None)
        store.set_state(self.wh, "watermark", watermark.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3])
        store.set_state(self.wh, "run_started", now.isoformat())
        store.set_state(self.wh, "due_judged_on", self.clock().astimezone(SHANGHAI).date().isoformat())
        store.set_state(self.wh, "fingerprint", fingerprint)
        report.seconds = time.monotonic() - started
        report.watermark = watermark
        return report

    def compute_range(self, period: Period, grouping: str) -> pl.DataFrame:
        """Metrics of any period (e.g. a date range) from the stored facts, without storing them."""
        where, params = store.completed_in(period)
        facts = store.load_case_facts(self.wh, where, params)
        rfacts = self._rating_facts_in(period)
        items, departments = store.load_items(self.wh), store.load_departments(self.wh)
        return compute_period(facts, rfacts, items, departments, period, grouping, self.settings)

    # Internals ----------------------------------------------------------------------------
    def _reference_fingerprint(self) -> str:
        """Content hash of the calendar overrides and the departments: when it changes, everything may move."""
        row = self.wh.query_rows(
            "SELECT (SELECT groupBitXor(cityHash64(locality_code, day, is_working)) FROM calendar_overrides FINAL),"
            "       (SELECT groupBitXor(cityHash64(dept_code, dept_name, region_code)) FROM departments FINAL)"
        )[0]
        return f"{row[0]}:{row[1]}"

    def _rating_facts(self, ratings: pl.DataFrame, followups: pl.DataFrame, calendar) -> pl.DataFrame:
        return rating_facts(ratings, followups, calendar, rectify_days=self.settings.rectify_days,
                            rectify_days_by_locality=self.settings.rectify_days_by_locality, as_of=self.clock())

    def rating_facts_where(self, where: str, parameters: dict, calendar=None) -> pl.DataFrame:
        """Rating facts of the ratings an SQL condition selects (e.g. given in a period, in a scope)."""
        ratings = store.load_ratings(self.wh, where, parameters)
        followups = store.load_followups(self.wh, f"SELECT rating_id FROM ratings WHERE {where}", parameters)
        return self._rating_facts(ratings, followups, calendar or store.load_calendar(self.wh))

    def _rating_facts_in(self, period: Period, calendar=None) -> pl.DataFrame:
        return self.rating_facts_where(*store.rated_in(period), calendar)

    def _full(self) -> RunReport:
        """Every case's facts, a bucket of cases at a time (facts are per case, so memory stays bounded by
        the bucket, not the warehouse), then every month from the stored facts."""
        run_id = time.time_ns()
        calendar = store.load_calendar(self.wh)
        items, departments = store.load_items(self.wh), store.load_departments(self.wh)
        rfacts = self._rating_facts(store.load_ratings(self.wh), store.load_followups(self.wh), calendar)
        total = int(self.wh.query_value("SELECT count() FROM case_events") or 0)
        buckets = max(1, math.ceil(total / EVENTS_PER_BUCKET))
        cases, completion_days = 0, []
        for bucket in range(buckets):
            events = store.load_events(self.wh, where="cityHash64(case_id) % {n:UInt32} = {k:UInt32}",
                                       parameters={"n": buckets, "k": bucket})
            self.progress(f"计算办件事实 / case facts, part {bucket + 1} of {buckets} ({events.height:,} events)")
            facts = self._with_rating_counts(case_facts(events, items, calendar), rfacts)
            del events
            store.write_case_facts(self.wh, facts, run_id)
            cases += facts.height
            completion_days.append(facts.filter(~pl.col("inconsistent"))["completion_date"])
        months = self._months(*completion_days, rfacts.filter(pl.col("counted"))["rated_at"].dt.date())
        stale = sorted(set(store.stored_periods(self.wh)) - {p.label for p in months})
        done = self._store_periods(months, rfacts, items, departments, run_id)
        store.retire_periods(self.wh, stale, GROUPINGS, run_id, dt.datetime.now(SHANGHAI))
        return RunReport(mode="full", cases=cases, periods=done)

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
        bad = store.load_ratings(self.wh, "level <= 2 AND NOT default_rating AND rated_at >= "
                                 "{e:DateTime64(3, 'Asia/Shanghai')}", {"e": earliest})
        if bad.height == 0:
            return []
        no_followups = store.load_followups(self.wh, "SELECT ''")  # the due date needs none
        facts = self._rating_facts(bad, no_followups, calendar)
        changed = facts.filter((pl.col("due_date") >= last_day) & (pl.col("due_date") < today))
        return changed["rated_at"].dt.date().dt.truncate("1mo").unique().to_list()

    def _incremental(self, since: str, last_day: dt.date | None = None) -> RunReport:
        params = {"w": since}
        w = "{w:DateTime64(3, 'Asia/Shanghai')}"
        touched_ratings = (f"SELECT rating_id FROM ratings WHERE received_at > {w} "
                           f"UNION DISTINCT SELECT rating_id FROM followups WHERE received_at > {w}")
        touched_cases = (
            f"SELECT case_id FROM case_events WHERE received_at > {w} "
            f"UNION DISTINCT SELECT case_id FROM ratings WHERE case_id != '' AND rating_id IN ({touched_ratings}) "
            f"UNION DISTINCT SELECT case_id FROM case_facts WHERE item_code IN "
            f"(SELECT item_code FROM items WHERE received_at > {w})"
        )
        rating_months = [r[0] for r in self.wh.query_rows(
            f"SELECT DISTINCT toStartOfMonth(rated_at) FROM ratings FINAL WHERE rating_id IN ({touched_ratings})", params)]
        calendar = store.load_calendar(self.wh)
        rating_months += self._due_changed_months(last_day, calendar)
        events = store.load_events(self.wh, touched_cases, params)
        if events.height == 0 and not rating_months:
            return RunReport(mode="unchanged")
        run_id = time.time_ns()
        items, departments = store.load_items(self.wh), store.load_departments(self.wh)
        self.progress(f"增量计算办件事实 / case facts for {events['case_id'].n_unique():,} touched cases")
        facts = case_facts(events, items, calendar)
        old = store.load_case_facts(self.wh, f"case_id IN ({touched_cases})", params)
        ratings = store.load_ratings(self.wh, f"case_id IN ({touched_cases})", params)
        followups = store.load_followups(self.wh, f"SELECT rating_id FROM ratings WHERE case_id IN ({touched_cases})", params)
        facts = self._with_rating_counts(facts, self._rating_facts(ratings, followups, calendar))
        store.write_case_facts(self.wh, facts, run_id)
        months = self._months(
            pl.concat([facts.filter(~pl.col("inconsistent"))["completion_date"], old["completion_date"]]),
            pl.Series(rating_months, dtype=pl.Date),
        )
        # The month after a recomputed one is re-scored for its bottom-two-running mark.
        stored = set(store.stored_periods(self.wh))
        following = {month_of(p.end) for p in months} - set(months)
        months = sorted(set(months) | {p for p in following if p.label in stored}, key=lambda p: p.start)
        done = self._store_periods(months, None, items, departments, run_id, calendar)
        return RunReport(mode="incremental", cases=facts.height, periods=done)

    @staticmethod
    def _with_rating_counts(facts: pl.DataFrame, rfacts: pl.DataFrame) -> pl.DataFrame:
        return facts.join(rated_cases(rfacts), on="case_id", how="left").with_columns(
            rating_count=pl.col("rating_count").fill_null(0).cast(pl.UInt32)
        )

    @staticmethod
    def _months(*dates: pl.Series) -> list[Period]:
        days = pl.concat([d.cast(pl.Date) for d in dates]).drop_nulls()
        firsts = days.dt.truncate("1mo").unique().sort().to_list()
        return [Period.month(d.year, d.month) for d in firsts]

    def _store_periods(self, months: list[Period], rfacts: pl.DataFrame | None, items: pl.DataFrame,
                       departments: pl.DataFrame, run_id: int, calendar=None) -> list[str]:
        """Recompute and store each month from the stored facts (and the given or the month's ratings);
        the labels of the months stored."""
        stored, done = set(store.stored_periods(self.wh)), []
        for period in months:
            self.progress(f"计算指标 / indicators {period.label}")
            where, params = store.completed_in(period)
            month_facts = store.load_case_facts(self.wh, where, params)
            month_ratings = (rfacts.filter(period.contains("rated_at")) if rfacts is not None
                             else self._rating_facts_in(period, calendar))
            if period.label not in stored and not has_data(month_facts, month_ratings):
                continue  # a month of inconsistent cases only never becomes a period of its own
            self._store_period(period, month_facts, month_ratings, items, departments, run_id)
            done.append(period.label)
        return done

    def _store_period(self, period: Period, facts: pl.DataFrame, rfacts: pl.DataFrame, items: pl.DataFrame,
                      departments: pl.DataFrame, run_id: int) -> None:
        watermark = dt.datetime.now(SHANGHAI)
        for grouping in GROUPINGS:
            previous = store.read_group_metrics(self.wh, period.previous_month().label, grouping)
            scored = compute_period(facts, rfacts, items, departments, period, grouping, self.settings,
                                    previous.rename({"group_code": "group"}) if previous.height else None)
            store.write_group_metrics(self.wh, period, grouping, scored, run_id,
                                      list(self.settings.scoring.weights), watermark)
