"""The metrics job is bounded and leaves nothing to redo (issue 15): an incremental run is bucketed like a
full one and gives the same figures; a run re-reads its safety margin only when something in it became
visible after it started; a read command computes only within its budget and otherwise says the figures
are as of the last computation."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl

from warehouse.queries.events import load_events, load_first_events_with_stops
from warehouse.queries.reference import load_calendar, load_items
from warehouse.queries.state import get_state
from metrics.jobs import MetricsJob
from tests import scenario_oct2025 as scenario
from tests.builders import event, events_frame
from tests.conftest import home_with, run_hcp
from tests.test_metrics_incremental import FACT_SNAPSHOT, add_late_data, metrics_snapshot


def test_an_incremental_run_is_bucketed_like_a_full_one_and_equals_it(warehouse, monkeypatch):
    scenario.load(warehouse)
    job = MetricsJob(warehouse, margin=dt.timedelta(0))
    assert job.run().mode == "full"
    add_late_data(warehouse)
    monkeypatch.setattr("metrics.jobs.EVENTS_PER_BUCKET", 5)
    monkeypatch.setattr("metrics.jobs.FACTS_PER_BUCKET", 1)
    report = job.run()
    assert report.mode == "incremental"
    assert report.cases == 6  # X, K, A, N, F1, F2 (see test_metrics_incremental)
    # The touched cases' events came in several buckets, and so did the months' facts and ratings.
    assert report.profile.calls["bucket: read events"] > 1
    assert report.profile.calls["month: read facts"] > 1
    assert report.profile.calls["month: read ratings"] > 1
    facts, figures = warehouse.query_df(FACT_SNAPSHOT), metrics_snapshot(warehouse)

    monkeypatch.setattr("metrics.jobs.EVENTS_PER_BUCKET", 1_500_000)
    assert job.run(full=True).mode == "full"
    assert warehouse.query_df(FACT_SNAPSHOT).equals(facts)
    assert metrics_snapshot(warehouse).equals(figures)


def test_a_run_leaves_nothing_to_redo_unless_a_row_of_its_margin_showed_up_later(warehouse):
    scenario.load(warehouse)
    job = MetricsJob(warehouse, margin=dt.timedelta(seconds=120))
    assert job.run().mode == "full"
    # Everything received in the 120 s before the full run was there when it read: nothing to redo.
    assert job.run().mode == "unchanged"

    # A row stamped before the last run started but visible only now (an insert that was in flight):
    # the margin is read again and the row's case recomputed.
    started = dt.datetime.fromisoformat(get_state(warehouse, "run_started"))
    late = events_frame([event("Z", "submitted", "2025-10-20 09:00", channel="online",
                               dept="D1", region=scenario.QD)]).with_columns(
        received_at=pl.lit(started - dt.timedelta(seconds=30)).dt.cast_time_unit("ms"))
    warehouse.insert_df("case_events", late)
    report = job.run()
    assert report.mode == "incremental"
    assert warehouse.query_value("SELECT count() FROM case_facts FINAL WHERE case_id = 'Z'") == 1
    assert job.run().mode == "unchanged"


def test_a_read_command_computes_only_within_its_budget(hcp_home, tmp_path):
    def load(wh):
        scenario.load(wh)
        MetricsJob(wh, margin=dt.timedelta(0)).run()

    with home_with(hcp_home, load):
        pass
    before = {row["group"]: row for row in json.loads(run_hcp(
        "metrics", "--period", "2025-10", "--by", "all", "--format", "json", "--no-refresh", check=True).stdout)}
    from warehouse import open_warehouse

    with open_warehouse() as wh:
        add_late_data(wh)
    config = tmp_path / "config.toml"
    config.write_text("[metrics]\nwatermark_margin_seconds = 0\nread_refresh_budget = 3\n")
    env = {"HCP_CONFIG": str(config)}
    over = run_hcp("metrics", "--period", "2025-10", "--by", "all", "--format", "json", env=env, check=True)
    assert "figures as of the last computation" in run_hcp(
        "--lang", "en", "metrics", "--period", "2025-10", "--by", "all", env=env, check=True).stderr
    assert "指标截至上次计算" in over.stderr and "hcp compute" in over.stderr
    assert {row["group"]: row for row in json.loads(over.stdout)} == before  # nothing was computed

    config.write_text("[metrics]\nwatermark_margin_seconds = 0\nread_refresh_budget = 1000\n")
    within = run_hcp("metrics", "--period", "2025-10", "--by", "all", "--format", "json", env=env, check=True)
    assert "指标截至上次计算" not in within.stderr
    after = json.loads(within.stdout)[0]
    assert after["counts"]["on_time_n"] == before["all"]["counts"]["on_time_n"] + 1  # F2 now on time


def test_the_first_events_aggregated_in_the_warehouse_agree_with_the_rule(warehouse):
    """The full and incremental runs aggregate each case's first events in ClickHouse: the same figures as
    :func:`metrics.facts.first_events` over the distinct events, and so the same facts."""
    from metrics.facts import FIRST_EVENT_COLUMNS, case_facts, case_facts_from, first_events

    scenario.load(warehouse)
    add_late_data(warehouse)  # with a re-send of events already stored
    events = load_events(warehouse)
    distinct = events.filter(pl.col("event_id").is_first_distinct()).sort("event_time", "event_id")
    expected = first_events(distinct.lazy()).collect().select(FIRST_EVENT_COLUMNS).sort("case_id")
    first = load_first_events_with_stops(warehouse, "1")
    in_warehouse = first.select(FIRST_EVENT_COLUMNS).sort("case_id")
    assert in_warehouse.equals(expected)
    # The facts as the job makes them: each case's stops from the list beside it (``stops`` None), joined on
    # the case's row — the same as the rule over every event.
    items, calendar = load_items(warehouse), load_calendar(warehouse)
    facts = case_facts_from(first, None, items, calendar).sort("case_id")
    assert facts.equals(case_facts(events, items, calendar).sort("case_id"))
    assert facts.filter(pl.col("clock_stopped") | (pl.col("stopped_days") > 0)).height > 0  # stops were there


def test_the_first_events_break_ties_by_event_id_and_keep_any_code_whole(warehouse):
    """Events of a case at the same instant: the earliest is the one with the smaller event id (bytewise), its
    codes taken whole whatever they hold (non-ASCII text, digits, separators), in the warehouse as in Polars;
    an instant before 1970 orders before one after it."""
    from metrics.facts import FIRST_EVENT_COLUMNS, first_events

    rows = [
        event("T1", "submitted", "2025-10-09 09:00", event_id="e-b", item="事项|乙", dept="部门00012", channel="online"),
        event("T1", "submitted", "2025-10-09 09:00", event_id="e-a", item="I2", dept="局", channel="hall"),
        event("T1", "accepted", "2025-10-09 09:00", event_id="e-0", item="x", dept="00005市局12"),
        event("T1", "completed", "2025-10-09 09:00", event_id="e-c", result="denied"),
        event("T1", "completed", "2025-10-09 09:00", event_id="e-d", result="approved"),
        event("T2", "submitted", "2025-10-09 09:00", event_id="z", item="later"),
        event("T2", "submitted", "1969-12-31 23:59", event_id="zz", item="earlier", dept=""),
    ]
    warehouse.insert_df("case_events", events_frame(rows))
    events = load_events(warehouse).sort("event_time", "event_id")
    expected = first_events(events.lazy()).collect().select(FIRST_EVENT_COLUMNS).sort("case_id")
    in_warehouse = load_first_events_with_stops(warehouse, "1").select(FIRST_EVENT_COLUMNS).sort("case_id")
    assert in_warehouse.equals(expected)
    assert in_warehouse.select("item_code", "dept_code", "channel", "result").rows() == [
        ("x", "00005市局12", "hall", "denied"), ("earlier", "", "hall", None)]


def test_the_jobs_reader_and_writer_threads_leave_no_client_open(warehouse):
    """The read-ahead and write-behind threads each open a warehouse client; a run closes them as its threads
    end, so a long-lived process (the scheduler, ``hcp serve``) does not gain two clients per run."""
    scenario.load(warehouse)
    opened = len(warehouse._clients)
    job = MetricsJob(warehouse, margin=dt.timedelta(0))
    job.overlap = True  # as on a machine with cores to spare
    assert job.run(full=True).mode == "full"
    assert job.run(full=True).profile.calls["bucket: wait for its read"] >= 1  # the threads did run
    assert len(warehouse._clients) == opened
    assert warehouse.query_value("SELECT count() FROM case_facts") > 0  # the warehouse still answers
