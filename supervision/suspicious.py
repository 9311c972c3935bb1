"""Suspicious rating patterns (异常评价), by rules. Every finding is listed with its evidence; nothing is dropped
or excluded from any figure here — deciding is the supervisory office's job.

The rules, over the ratings given in a period (thresholds in ``[supervision.suspicious]``):

* ``top_burst_staff`` / ``top_burst_device`` — **a burst of top ratings**: ``burst_min_count`` (default 5) or
  more ratings of level ≥ ``top_level`` (default 5, 非常满意) for one staff member (``staff_id``), or from one
  evaluation device (``device_id`` in the rating's ``extra`` JSON), within ``burst_minutes`` (default 10)
  minutes: some window [t, t + burst_minutes) holds that many. Overlapping windows form one finding, which
  lists every rating in them. System-written default ratings are not the rater's act and are not counted.
* ``case_not_found`` — ratings that name a case (``case_id``) of which no lifecycle event is known.
* ``case_never_completed`` — ratings of a case that has events but has not ended (no ``completed``,
  ``rejected`` or ``withdrawn``): a rating of a result that does not exist yet. A case that ended without
  completion (不予受理, 撤回) is a decision the applicant may rate, so its ratings are listed only with
  ``include_ended_cases = true``. Ratings given at the ``accepted`` stage (一事多评) are legitimate before
  completion and are not listed.
* ``rated_before_completion`` — ratings (not at the ``accepted`` stage) given before the case's first
  ``completed`` event.

A hall or window rating without a case is none of the last three. Events arrive late: a case not found or not
completed today may be explained by tomorrow's data, which is why these are leads, not verdicts.
"""

from __future__ import annotations

import json

import polars as pl

from hcp.config import SuspiciousConfig
from hcp.periods import Period
from supervision.export import records
from supervision.settings import SupervisionSettings
from warehouse.client import Warehouse
from warehouse.queries.events import case_milestones
from warehouse.queries.ratings import pattern_inputs, rated_cases, rated_in
from warehouse.queries.sql import Where

PATTERNS = {
    "top_burst_staff": ("同一窗口人员短时间内大量好评", "burst of top ratings for one staff member"),
    "top_burst_device": ("同一评价器短时间内大量好评", "burst of top ratings from one device"),
    "case_not_found": ("评价的办件不存在", "rated case does not exist"),
    "case_never_completed": ("评价的办件未办结", "rated case never completed"),
    "rated_before_completion": ("办结前评价", "rated before completion"),
}
FINDING_SCHEMA = {
    "pattern": pl.String, "subject": pl.String, "dept_codes": pl.List(pl.String), "count": pl.UInt32,
    "first_at": pl.Datetime("ms", "Asia/Shanghai"), "last_at": pl.Datetime("ms", "Asia/Shanghai"),
    "rating_ids": pl.List(pl.String), "rated_at": pl.List(pl.Datetime("ms", "Asia/Shanghai")),
    "evidence": pl.String,
}
LABELS = {
    "pattern": ("类型", "pattern"), "subject": ("对象", "subject"), "dept_codes": ("部门", "depts"),
    "count": ("评价数", "ratings"), "first_at": ("首次", "first"), "last_at": ("末次", "last"),
    "rating_ids": ("评价编号", "rating ids"), "rated_at": ("评价时间", "rated at"), "evidence": ("证据", "evidence"),
}
RATING_INPUT = ("rating_id", "case_id", "dept_code", "staff_id", "device_id", "level", "stage", "rated_at",
                "default_rating")


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema=FINDING_SCHEMA)


def top_rating_bursts(ratings: pl.DataFrame, key: str, pattern: str, settings: SuspiciousConfig) -> pl.DataFrame:
    """Bursts of top ratings per value of ``key`` (``staff_id`` or ``device_id``); see the module doc."""
    window = pl.duration(minutes=settings.burst_minutes)
    t = pl.col("rated_at")
    top = (
        ratings.filter((pl.col("level") >= settings.top_level) & ~pl.col("default_rating")
                       & pl.col(key).is_not_null() & (pl.col(key) != ""))
        .sort(key, "rated_at", "rating_id")
        # ratings in the window [t, t + W) that starts at each rating
        .with_columns(_n=(t.search_sorted(t + window, side="left") - t.search_sorted(t, side="left")).over(key))
        .with_columns(_anchor=pl.when(pl.col("_n") >= settings.burst_min_count).then(t))
    )
    if top.height == 0:
        return _empty()
    marked = top.with_columns(_last_anchor=pl.col("_anchor").forward_fill().over(key)).with_columns(
        _covered=(pl.col("_last_anchor").is_not_null() & (t < pl.col("_last_anchor") + window)).fill_null(False)
    ).with_columns(
        _start=pl.col("_covered") & (
            ~pl.col("_covered").shift(1).over(key).fill_null(False)
            | ((t - t.shift(1).over(key)) >= window).fill_null(True)
        )
    ).with_columns(_cluster=pl.col("_start").cast(pl.UInt32).cum_sum().over(key))
    bursts = marked.filter(pl.col("_covered")).group_by(key, "_cluster").agg(
        dept_codes=pl.col("dept_code").unique(maintain_order=True),
        count=pl.len().cast(pl.UInt32),
        first_at=t.min(), last_at=t.max(),
        rating_ids=pl.col("rating_id"), rated_at=t,
        _peak=pl.col("_n").max(), _levels=pl.col("level").unique().sort(),
    )
    evidence = pl.struct(
        window_minutes=pl.lit(settings.burst_minutes), min_count=pl.lit(settings.burst_min_count),
        top_level=pl.lit(settings.top_level), peak_in_window=pl.col("_peak"), levels=pl.col("_levels"),
    ).struct.json_encode()
    return bursts.select(
        pattern=pl.lit(pattern), subject=pl.col(key), dept_codes="dept_codes", count="count", first_at="first_at",
        last_at="last_at", rating_ids="rating_ids", rated_at="rated_at", evidence=evidence,
    ).cast(FINDING_SCHEMA)


def case_findings(ratings: pl.DataFrame, cases: pl.DataFrame, *, include_ended_cases: bool = False) -> pl.DataFrame:
    """``case_not_found``, ``case_never_completed`` and ``rated_before_completion``, one finding per case.

    ``cases``: one row per case that has events — ``case_id``, ``completed_at`` (first ``completed`` event,
    null if none), ``end_type`` (first terminal event type, '' if open), ``last_event``.
    """
    rated = ratings.filter(pl.col("case_id").is_not_null() & (pl.col("case_id") != "")).join(
        cases.with_columns(_known=pl.lit(True)), on="case_id", how="left")
    not_at_acceptance = pl.col("stage").fill_null("") != "accepted"
    tagged = rated.with_columns(
        pattern=pl.when(pl.col("_known").is_null()).then(pl.lit("case_not_found"))
        .when(not_at_acceptance & pl.col("completed_at").is_null()
              & ((pl.col("end_type").fill_null("") == "") | pl.lit(include_ended_cases)))
        .then(pl.lit("case_never_completed"))
        .when(not_at_acceptance & (pl.col("rated_at") < pl.col("completed_at"))).then(pl.lit("rated_before_completion"))
    ).filter(pl.col("pattern").is_not_null())
    if tagged.height == 0:
        return _empty()
    t = pl.col("rated_at")
    grouped = tagged.sort("rated_at", "rating_id").group_by("pattern", "case_id").agg(
        dept_codes=pl.col("dept_code").unique(maintain_order=True), count=pl.len().cast(pl.UInt32),
        first_at=t.min(), last_at=t.max(), rating_ids=pl.col("rating_id"), rated_at=t,
        completed_at=pl.col("completed_at").first(), end_type=pl.col("end_type").first(),
        last_event=pl.col("last_event").first(), stages=pl.col("stage").unique().sort(),
    )
    evidence = pl.struct(
        case_id="case_id",
        completed_at=pl.col("completed_at").dt.to_string("%Y-%m-%dT%H:%M:%S%:z"),
        case_end=pl.col("end_type").fill_null(""), last_event=pl.col("last_event").fill_null(""),
        stages=pl.col("stages"),
    ).struct.json_encode()
    return grouped.select(
        pattern="pattern", subject="case_id", dept_codes="dept_codes", count="count", first_at="first_at",
        last_at="last_at", rating_ids="rating_ids", rated_at="rated_at", evidence=evidence,
    ).cast(FINDING_SCHEMA)


def suspicious_patterns(ratings: pl.DataFrame, cases: pl.DataFrame, settings: SuspiciousConfig) -> pl.DataFrame:
    """Every finding of every rule over ``ratings`` (columns :data:`RATING_INPUT`), in the order of
    :data:`PATTERNS`, then by first rating time."""
    findings = pl.concat([
        top_rating_bursts(ratings, "staff_id", "top_burst_staff", settings),
        top_rating_bursts(ratings, "device_id", "top_burst_device", settings),
        case_findings(ratings, cases, include_ended_cases=settings.include_ended_cases),
    ])
    order = {p: i for i, p in enumerate(PATTERNS)}
    return findings.sort(pl.col("pattern").replace_strict(order, return_dtype=pl.Int32), "first_at", "subject")


def suspicious_ratings(wh: Warehouse, period: str | Period, settings: SupervisionSettings | None = None) -> pl.DataFrame:
    """The findings over the ratings given in ``period`` (``YYYY-MM`` or ``YYYY-MM-DD..YYYY-MM-DD``)."""
    settings = settings or SupervisionSettings.load()
    period = Period.parse(period) if isinstance(period, str) else period
    given = Where(*rated_in(period))
    ratings = pattern_inputs(wh, given)
    cases = case_milestones(wh, rated_cases(given), given.params)
    return suspicious_patterns(ratings, cases, settings.suspicious)


def evidence_objects(frame: pl.DataFrame) -> list[dict]:
    """Findings as JSON-ready dicts with ``evidence`` decoded into an object."""
    rows = records(frame)
    for row in rows:
        row["evidence"] = json.loads(row["evidence"]) if row.get("evidence") else {}
    return rows
