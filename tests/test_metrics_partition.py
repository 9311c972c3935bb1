"""Partitioned compute, proven (issue 15.6): a demo province split by the cluster's shard key into three
warehouses, each computed for its cities, and the shards' counts merged give exactly the figures of the
whole province computed in one warehouse — every count, indicator, score, rank status, rank and bottom-two
mark of every group of every grouping and month.

The split is the cluster's (docs/cluster.md): case events and ratings go to the shard of their city
(``cityHash64(substring(region_code, 1, 4)) % 3``, the schema's own shard key), each shard holds every
reference table whole (regions, departments, items, calendar), and a worker reads the follow-ups of its
ratings wherever they live. chDB opens one data directory per process: the warehouses are opened one after
the other."""

from __future__ import annotations

import dataclasses
import datetime as dt

import polars as pl
from polars.testing import assert_frame_equal

from hcp.demo.generator import DemoParams, generate
from hcp.pii import ensure_key
from ingest.loader import Loader
from ingest.run import ingest_path
from metrics.indicators import COUNT_COLUMNS, GROUPINGS, INDICATOR_KEYS
from metrics.jobs import MetricsJob, MetricsSettings
from metrics.merge import merge_counts, merge_into, score_merged
from warehouse import open_warehouse
from warehouse.client import SHANGHAI
from warehouse.migrations import ensure_schema
from warehouse.queries import group_metrics, reference
from tests import scenario_oct2025 as scenario
from tests.conftest import home_with, run_hcp
from warehouse.queries.shards import (cities_of_shard, followups_of_shard, rows_off_their_city, shard_rows,
                                      whole_table)

MONTH, CASES, SEED, SHARDS = "2025-10", 3_000, 15, 3
REFERENCE = ("regions", "departments", "items", "calendar_overrides")
#: Due-ness of bad ratings is judged at one fixed moment in every warehouse.
CLOCK = dt.datetime(2025, 11, 20, 10, 0, tzinfo=SHANGHAI)
FIGURES = ("group", "peer_group", *COUNT_COLUMNS, *[k for k in INDICATOR_KEYS if k not in COUNT_COLUMNS],
           "composite_score", "rank_status", "rank", "peers", "bottom_two", "bottom_two_consecutive")


def settings() -> MetricsSettings:
    """The default rules with lower volume thresholds, so that most units of a small demo are ranked (and
    ranks, peer groups and bottom-two marks are put to the test, not only the small-sample status)."""
    base = MetricsSettings.load()
    return dataclasses.replace(base, ranking=dataclasses.replace(base.ranking, min_cases=5, min_ratings=5))


def stored(wh) -> dict[tuple[str, str], pl.DataFrame]:
    """Every stored (period, grouping) result, as the stored rows (without the run that wrote them)."""
    return {(label, grouping): group_metrics.read_group_metrics(wh, label, grouping).drop("run_id")
            for label in group_metrics.stored_periods(wh) for grouping in GROUPINGS}


def figures(frame: pl.DataFrame) -> pl.DataFrame:
    """The figures compared, in one set of types, one row per group in code order."""
    frame = frame.rename({"group_code": "group"}) if "group_code" in frame.columns else frame
    floats = [k for k in (*INDICATOR_KEYS, "composite_score") if k not in COUNT_COLUMNS]
    return frame.select(FIGURES).with_columns(
        [pl.col(c).cast(pl.Int64) for c in (*COUNT_COLUMNS, "rank", "peers")]
        + [pl.col(c).cast(pl.Float64) for c in floats]
        + [pl.col(c).cast(pl.String) for c in ("group", "peer_group", "rank_status")]).sort("group")


def test_three_city_shards_merged_give_exactly_the_single_warehouse_figures(hcp_home, tmp_path):
    ensure_key()
    rules = settings()
    manifest = generate(DemoParams(month=MONTH, out=tmp_path / "demo", cases=CASES, seed=SEED, malformed_share=0.0))

    # The whole province in one warehouse.
    with open_warehouse(f"chdb://{tmp_path / 'single'}") as single:
        ensure_schema(single)
        loader = Loader(single)
        for f in manifest["files"]:
            ingest_path(loader, str(tmp_path / "demo" / f["name"]))
        assert rows_off_their_city(single) == (0, 0)  # the city shard key keeps a case and its ratings together
        assert MetricsJob(single, rules, clock=lambda: CLOCK).run().mode == "full"
        expected = stored(single)
        events, ratings = whole_table(single, "case_events").height, whole_table(single, "ratings").height
        cities = [cities_of_shard(single, SHARDS, shard) for shard in range(1, SHARDS + 1)]
        split = [{"case_events": shard_rows(single, "case_events", SHARDS, shard),
                  "ratings": shard_rows(single, "ratings", SHARDS, shard),
                  "followups": followups_of_shard(single, SHARDS, shard),
                  **{table: whole_table(single, table) for table in REFERENCE}}
                 for shard in range(1, SHARDS + 1)]
        # The workers of a cluster read the cluster-wide tables with their cities' filter: the same job
        # on the whole warehouse, one shard's cities at a time.
        partial_runs = [MetricsJob(single, rules, clock=lambda: CLOCK, cities=c).run() for c in cities]
        items, departments = reference.load_items(single), reference.load_departments(single)

    # Every city and every row is in exactly one shard; the province's own rows (3700…) too.
    assert sorted(c for shard in cities for c in shard) == sorted({c for shard in cities for c in shard})
    assert "3700" in {c for shard in cities for c in shard}
    assert all(len(shard) > 0 and part["case_events"].height > 0 for shard, part in zip(cities, split))
    assert sum(part["case_events"].height for part in split) == events
    assert sum(part["ratings"].height for part in split) == ratings

    # Three warehouses, one shard each with every reference table whole; each computes its cities.
    shard_counts = []
    for shard, part in enumerate(split, start=1):
        with open_warehouse(f"chdb://{tmp_path / f'shard{shard}'}") as wh:
            ensure_schema(wh)
            for table, rows in part.items():
                wh.insert_df(table, rows)
            report = MetricsJob(wh, rules, clock=lambda: CLOCK, cities=cities[shard - 1],
                                margin=dt.timedelta(0)).run()
            assert report.mode == "partial" and report.cases > 0
            shard_counts.append(report.counts)
            assert group_metrics.stored_periods(wh) == []  # a worker stores no group result of its own
            if shard == SHARDS:  # the merge runs once and stores the result (replicated whole on a cluster)
                merge_into(wh, shard_counts, rules)
                merged_stored = stored(wh)
                # The merge recorded the job's state as a full run does: nothing is left to redo.
                assert MetricsJob(wh, rules, clock=lambda: CLOCK, margin=dt.timedelta(0)).run().mode == "unchanged"

    assert sorted(merged_stored) == sorted(expected) and len(expected) >= len(GROUPINGS)
    for key, frame in expected.items():
        # Stored by the merge exactly as by the single warehouse, contributions and peers included.
        assert_frame_equal(merged_stored[key].drop("computed_at", strict=False).sort("group_code"),
                           frame.drop("computed_at", strict=False).sort("group_code"), check_exact=True)

    # The merge is pure: from the three shards' counts and from the partial runs on the whole warehouse alike.
    for counts in (merge_counts(*shard_counts), merge_counts(*[r.counts for r in partial_runs])):
        results = score_merged(counts, items, departments, rules)
        for (label, grouping), frame in expected.items():
            mine = results.filter((pl.col("period") == label) & (pl.col("grouping") == grouping))
            assert_frame_equal(figures(mine), figures(frame), check_exact=True)

    # The figures put the merge to the test: groups spanning shards, ranked units, bottom-two marks.
    everything = pl.concat([figures(f).with_columns(grouping=pl.lit(g)) for (_, g), f in expected.items()])
    assert everything.filter(pl.col("rank").is_not_null()).height > 50
    assert everything.filter(pl.col("bottom_two")).height > 0
    assert everything.filter(pl.col("rank_status") == "small_sample").height > 0
    spanning = [counts.filter(pl.col("grouping") == "all")["cases_completed"].sum() for counts in shard_counts]
    assert all(n > 0 for n in spanning)


def test_hcp_compute_by_shard_then_merge_stores_the_figures_of_a_whole_run(hcp_home, tmp_path):
    """The CLI of the cluster's workers: ``hcp compute --shard i/3 --counts-out …`` three times, then
    ``hcp compute --merge …`` once: the stored figures are those ``hcp compute --full`` stored."""
    with home_with(hcp_home, scenario.load):
        pass
    run_hcp("compute", "--full", check=True)
    with open_warehouse() as wh:
        whole = stored(wh)
    files = [tmp_path / f"shard{shard}.parquet" for shard in range(1, SHARDS + 1)]
    for shard, path in enumerate(files, start=1):
        done = run_hcp("--lang", "en", "compute", "--shard", f"{shard}/{SHARDS}", "--counts-out", str(path), check=True)
        assert "partial run done" in done.stdout and path.exists()
    merged = run_hcp("--lang", "en", "compute", *[arg for path in files for arg in ("--merge", str(path))], check=True)
    assert f"merged the counts of {SHARDS} shard(s): periods {', '.join(sorted({p for p, _ in whole}))}" in merged.stdout
    with open_warehouse() as wh:
        again = stored(wh)
    assert sorted(again) == sorted(whole)
    for key, frame in whole.items():
        assert_frame_equal(again[key], frame, check_exact=True)

    assert run_hcp("compute", "--cities", "37", "--counts-out", str(tmp_path / "x.parquet")).returncode == 2
