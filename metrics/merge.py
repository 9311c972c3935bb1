"""Partitioned compute: the group results of a province from the counts of its shards.

A cluster shards the raw tables by city (docs/cluster.md); each worker computes the cases and ratings of its
shard's cities (``MetricsJob(..., cities=...)``, ``hcp compute --cities``) and hands back their counts per
month, grouping and group (:func:`metrics.jobs.group_counts`). Every indicator is a ratio of counts (a mean is
a sum over a number), so the province's figures are the ratios of the **summed counts** — never an average of
the shards' rates. A group spans shards whenever its rows do: ``all`` and the province always, a department
or item of a province-level office whose cases are filed in several cities, too.

What is not additive is computed once, on the summed counts, with the very functions the whole-warehouse job
uses: the catalogue counts (the catalogue is reference data, the same on every shard: counting it per shard
and adding would count it once per shard), the indicators, ``rank_status`` (volume rules), peer groups, the
composite score, ranks and the bottom-two marks (which need the previous month's merged marks).

The merge is pure (frames in, frames out) except :func:`merge_into`, which stores the result.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Callable

import polars as pl

from hcp.periods import Period
from warehouse.queries.group_metrics import read_group_metrics, retire_periods, stored_periods, write_month_metrics
from warehouse.queries.reference import load_departments, load_items
from warehouse.queries.state import set_state
from metrics.indicators import (CASE_COUNT_COLUMNS, GROUPINGS, RATING_COUNT_COLUMNS, indicators_from_counts,
                                present_case_groups, present_rating_groups)
from metrics.jobs import PARTIAL_RUN_COLUMNS, MetricsSettings, score_period
from warehouse.client import SHANGHAI, Warehouse

KEYS = ("month", "grouping", "group")
COUNTS = (*CASE_COUNT_COLUMNS, *RATING_COUNT_COLUMNS)

#: The stored result of a (month label, grouping) before the merged months (for the first merged month's
#: bottom-two-months-running mark), or None.
Previous = Callable[[str, str], pl.DataFrame | None]


def merge_counts(*shards: pl.DataFrame) -> pl.DataFrame:
    """The shards' counts added up per month, grouping and group (counts are additive; a group missing from a
    shard counts 0 there)."""
    frames = [s.select(*KEYS, *COUNTS) for s in shards if s.height]
    if not frames:
        return shards[0].select(*KEYS, *COUNTS).clear() if shards else pl.DataFrame()
    return (pl.concat(frames, how="vertical_relaxed").group_by(*KEYS)
            .agg([pl.col(c).sum().cast(pl.Int64) for c in COUNTS]).sort(*KEYS))


def periods_with_data(counts: pl.DataFrame) -> list[Period]:
    """The months that are periods: a consistent completed case or a counted rating anywhere (the ``all``
    group). A month only inconsistent cases fall in is not a period, as in a whole-warehouse run."""
    whole = counts.filter((pl.col("grouping") == "all")
                          & ((pl.col("cases_completed") > 0) | (pl.col("ratings") > 0)))
    return [Period.month(d.year, d.month) for d in whole["month"].unique().sort().to_list()]


def score_merged(counts: pl.DataFrame, items: pl.DataFrame, departments: pl.DataFrame,
                 settings: MetricsSettings, previous: Previous | None = None) -> pl.DataFrame:
    """Every (period, grouping) result from the merged counts: ``period`` (label), ``grouping`` and the rows
    the job stores (counts, indicators, peer group, rank status, contributions, score, rank, bottom-two marks).

    Each month's bottom-two-running mark looks at the month before: merged here when it is one of the merged
    months, else ``previous(label, grouping)`` (what is stored), as the job reads it."""
    results: dict[tuple[str, str], pl.DataFrame] = {}
    for period in periods_with_data(counts):
        month = counts.filter(pl.col("month") == period.start)
        for grouping in GROUPINGS:
            rows = month.filter(pl.col("grouping") == grouping)
            cases = present_case_groups(rows.select("group", *CASE_COUNT_COLUMNS))
            ratings = present_rating_groups(rows.select("group", *RATING_COUNT_COLUMNS))
            values = indicators_from_counts(cases, ratings, items, departments, period, grouping)
            label = period.previous_month().label
            before = results.get((label, grouping))
            if before is None and previous is not None:
                before = previous(label, grouping)
            if before is not None and before.height == 0:
                before = None
            results[(period.label, grouping)] = score_period(values, grouping, settings, before, items,
                                                             departments, period)
    if not results:
        return pl.DataFrame(schema={"period": pl.String, "grouping": pl.String, "group": pl.String})
    return pl.concat([frame.with_columns(period=pl.lit(label), grouping=pl.lit(grouping))
                      for (label, grouping), frame in results.items()], how="diagonal_relaxed")


def handed_over_state(shards: list[pl.DataFrame], settings: MetricsSettings) -> dict[str, str] | None:
    """The job's state the merged result stands for, as a whole-warehouse full run records it, or None when
    the shards' runs do not agree on it (the next ``hcp compute`` then makes a full run, as after a run that
    stopped half-way). They agree when every shard's counts carry their run's stamps, all with the same
    fingerprint of rules and reference data, the merge's own rules included. The watermark is the earliest
    shard's (what arrived before it was visible to every shard), due-ness judged on the earliest day (a month
    whose due-ness moved since is recomputed by the next run)."""
    runs = [s.select(PARTIAL_RUN_COLUMNS).unique() for s in shards
            if s.height and set(PARTIAL_RUN_COLUMNS) <= set(s.columns)]
    if not runs or len(runs) != len(shards):
        return None
    run = pl.concat(runs)
    prints = run["run_fingerprint"].unique().to_list()
    if len(prints) != 1 or not prints[0].startswith(f"{settings.fingerprint()}/"):
        return None
    return {"watermark": run["run_watermark"].min(), "run_started": run["run_started"].min(),
            "due_judged_on": run["run_judged_on"].min(), "fingerprint": prints[0],
            "margin_digest": ""}  # no digest: the next run re-reads the earliest shard's safety margin


# I/O at the edge -----------------------------------------------------------------------------------------

def stored_previous(wh: Warehouse) -> Previous:
    """``previous`` for :func:`score_merged`: the stored current result of a (month, grouping)."""
    return lambda label, grouping: read_group_metrics(wh, label, grouping).rename({"group_code": "group"})


def merge_into(wh: Warehouse, shards: list[pl.DataFrame], settings: MetricsSettings) -> list[str]:
    """Merge the shards' counts, score once and store the result in ``wh`` (the cluster-wide ``group_metrics``,
    replicated whole to every node); the labels of the months stored. A month stored before that no shard has
    data for any more is retired, as a full run retires it. When the shards' runs agree
    (:func:`handed_over_state`), the job's state is recorded as a full run records it and the ``writing`` mark
    of the partial runs is cleared (the stored counts are the facts' again); otherwise the mark stays and the
    next ``hcp compute`` is a full run. The merge must be given the counts of every shard."""
    counts = merge_counts(*shards)
    items, departments = load_items(wh), load_departments(wh)
    results = score_merged(counts, items, departments, settings, stored_previous(wh))
    run_id, watermark = time.time_ns(), dt.datetime.now(SHANGHAI)
    done = []
    for period in periods_with_data(counts):
        of_month = results.filter(pl.col("period") == period.label)
        month = {grouping: of_month.filter(pl.col("grouping") == grouping).drop("period", "grouping")
                 for grouping in GROUPINGS}
        write_month_metrics(wh, period, month, run_id, list(settings.scoring.weights), watermark)
        done.append(period.label)
    stale = sorted(set(stored_periods(wh)) - set(done))
    retire_periods(wh, stale, GROUPINGS, run_id, watermark)
    handed_over = handed_over_state(shards, settings)
    if handed_over is not None:
        for key, value in handed_over.items():
            set_state(wh, key, value)
        set_state(wh, "writing", "")
    return done
