"""The dashboard's cache is keyed on what each query reads (issue 15: records streaming in must not make every
page a first look).

A query's entries are keyed on the state of the tables it was seen to read (``warehouse.reads``,
``DataStamp.of``): a rating arriving leaves the stored ranking as it was computed, shows at once among the bad
ratings, and a metrics run brings the new ranking. A query that reads more on another path (other data) is
keyed on everything it read, so no entry outlives a change of a table its value depends on.

The province: one department D1 (市南区) with three cases of October (accepted Mon Oct 13, promised 5 working
days, completed Oct 16) and one rating (level 5); the metrics computed on Thu Nov 6.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from hcp.scope import Scope
from tests.builders import events_frame, items_frame, lifecycle, rating, ratings_frame
from tests.dashboard_support import home_env
from warehouse.client import SHANGHAI

SHINAN = "370202000000"
COMPUTED = dt.datetime(2025, 11, 6, 12, 0, tzinfo=SHANGHAI)
PROVINCE = Scope("province", "37")


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    from dashboard import ui
    from metrics.jobs import MetricsJob
    from warehouse.migrations import ensure_schema

    path = tmp_path_factory.mktemp("dash-cache")
    with home_env(path):
        wh = ui.warehouse()
        ensure_schema(wh)
        wh.insert_df("regions", pl.DataFrame({"region_code": ["370000000000", "370200000000", SHINAN],
                                              "region_name": ["山东省", "青岛市", "市南区"],
                                              "parent_code": ["", "370000000000", "370200000000"]}))
        wh.insert_df("departments", pl.DataFrame({"dept_code": ["D1"], "dept_name": ["市南区市场监督管理局"],
                                                  "region_code": [SHINAN]}))
        wh.insert_df("items", items_frame({"ITEM5": (5, 10, 4, 0, "D1", "2024-01-01")}))
        rows = []
        for i in range(3):
            rows += lifecycle(f"C{i}", "2025-10-13", completed="2025-10-16 10:00", dept="D1", region=SHINAN)
        wh.insert_df("case_events", events_frame(rows))
        wh.insert_df("ratings", ratings_frame([rating("r1", "C0", 5, "2025-10-17 10:00", dept="D1", region=SHINAN)]))
        MetricsJob(wh, clock=lambda: COMPUTED).run(full=True)
        yield path
        ui.close_warehouse()


@pytest.fixture
def fresh_cache(home):
    """The cache and what it learned, empty; every call of a ``dashboard.data`` function counted by name."""
    from dashboard import ui

    with home_env(home):
        ui._cached.clear()
        ui._reads.clear()
        ui.refresh_version()
        yield ui
        ui._cached.clear()
        ui._reads.clear()


def counting(monkeypatch, name: str) -> list:
    """Count the runs of ``dashboard.data.<name>`` (the real function runs; the list grows by one per run)."""
    from dashboard import data

    runs: list = []
    real = getattr(data, name)

    def counted(*args, **kwargs):
        runs.append(name)
        return real(*args, **kwargs)

    monkeypatch.setattr(data, name, counted)
    return runs


def test_a_table_counts_as_read_when_a_statement_names_it_as_a_whole_word():
    from warehouse.reads import tables_named

    sql = "SELECT * FROM items FINAL JOIN case_facts USING (case_id) WHERE catalogue_items = 1 AND r.ratings > 0"
    assert tables_named(sql) == {"items", "case_facts", "ratings"}  # not "items" inside catalogue_items
    assert tables_named("SELECT name FROM system.tables") == set()


def test_the_stamp_of_some_tables_moves_only_when_one_of_them_changes(home):
    from dashboard import ui
    from metrics.jobs import MetricsJob
    from warehouse.queries.state import data_stamp

    with home_env(home):
        wh = ui.warehouse()
        before = data_stamp(wh)
        wh.insert_df("ratings", ratings_frame([rating("r-stamp", "C1", 4, "2025-10-20 10:00", dept="D1", region=SHINAN)]))
        after = data_stamp(wh)
        assert after.of({"group_metrics", "case_facts"}) == before.of({"group_metrics", "case_facts"})
        assert after.of({"ratings"}) != before.of({"ratings"})
        assert after.of({"group_metrics", "ratings"}) != before.of({"group_metrics", "ratings"})
        assert after.of({"no_such_table"}) == tuple(after)  # unknown: the whole stamp
        MetricsJob(wh, clock=lambda: COMPUTED).run(full=True)
        computed = data_stamp(wh)
        assert computed.of({"group_metrics"}) != after.of({"group_metrics"})
        assert computed.of({"case_facts"}) != after.of({"case_facts"})
        assert computed.of({"ratings", "items"}) == after.of({"ratings", "items"})


def test_while_ratings_arrive_the_stored_ranking_stays_and_the_bad_ratings_show_each_new_one(fresh_cache, monkeypatch):
    from dashboard import data
    from metrics.jobs import MetricsJob

    ui = fresh_cache
    october = data.Filters("2025-10")
    runs = counting(monkeypatch, "groups")
    ranking = ui.q("groups", PROVINCE, october, "dept")
    assert ui.q("groups", PROVINCE, october, "dept").equals(ranking) and runs == ["groups"]
    assert {"group_metrics"} <= ui._reads[("groups", (PROVINCE, october, "dept"), ())]
    assert "ratings" not in ui._reads[("groups", (PROVINCE, october, "dept"), ())]
    ratings_before = ranking.filter(pl.col("group_code") == "D1")["ratings"].item()
    bad_before = set(ui.q("bad_rectification", PROVINCE, october)["rating_id"].to_list())

    ui.warehouse().insert_df("ratings", ratings_frame([rating("r-bad", "C2", 1, "2025-10-21 10:00", dept="D1",
                                                                region=SHINAN)]))
    ui.refresh_version()  # as at the next minute
    assert ui.q("groups", PROVINCE, october, "dept").equals(ranking) and runs == ["groups"]  # not run again
    assert set(ui.q("bad_rectification", PROVINCE, october)["rating_id"].to_list()) == bad_before | {"r-bad"}

    MetricsJob(ui.warehouse(), clock=lambda: COMPUTED).run(full=True)
    ui.refresh_version()
    recomputed = ui.q("groups", PROVINCE, october, "dept")
    assert runs == ["groups", "groups"]
    assert recomputed.filter(pl.col("group_code") == "D1")["ratings"].item() == ratings_before + 1  # r-bad


def test_a_query_that_reads_more_on_another_path_is_keyed_on_all_it_read(fresh_cache, monkeypatch):
    """``probe`` reads the calendar overrides only once a region 99 exists: learned from its first run it reads
    the regions alone; after the run that read both, a new override must show."""
    from dashboard import data

    def probe(wh):
        regions = wh.query_value("SELECT count() FROM regions WHERE region_code = '990000000000'")
        if not regions:
            return (0, None)
        return (regions, wh.query_value("SELECT count() FROM calendar_overrides WHERE locality_code = '99'"))

    monkeypatch.setattr(data, "probe", probe, raising=False)
    runs = counting(monkeypatch, "probe")
    ui = fresh_cache
    wh = ui.warehouse()

    def override(day: str) -> None:
        wh.insert_df("calendar_overrides", pl.DataFrame({"locality_code": ["99"], "day": [dt.date.fromisoformat(day)],
                                                         "is_working": [False], "note": ["probe"]}))
        ui.refresh_version()

    assert ui.q("probe") == (0, None) and ui._reads[("probe", (), ())] == {"regions"}
    override("2030-01-01")
    assert ui.q("probe") == (0, None) and len(runs) == 1  # what it read did not change
    wh.insert_df("regions", pl.DataFrame({"region_code": ["990000000000"], "region_name": ["探针"], "parent_code": [""]}))
    ui.refresh_version()
    assert ui.q("probe") == (1, 1)
    override("2030-01-02")
    assert ui.q("probe") == (1, 2)  # learned from the first run alone, the entry would still say (1, 1)
    assert ui._reads[("probe", (), ())] == {"regions", "calendar_overrides"}


def test_records_arriving_within_a_minute_show_from_the_next_and_a_metrics_run_at_once(fresh_cache):
    """The pages' version: what the engine computed as of two seconds ago, what arrived as of the minute's first
    look. A rating arriving within the minute does not make the bad ratings be computed again until the next
    minute (or an action recorded in the dashboard, which leaves the hour's arrivals alone); a metrics run
    changes the version within two seconds (and whatever it makes be computed again reads the warehouse as it
    is)."""
    from dashboard import data
    from metrics.jobs import MetricsJob

    ui = fresh_cache
    october = data.Filters("2025-10")
    for attempt in range(3):  # the minute must not turn between the looks
        minute = dt.datetime.now(SHANGHAI).strftime("%H:%M")
        ui.refresh_version()
        first, hourly = ui.version(), ui.version(every="hour")
        shown = set(ui.q("bad_rectification", PROVINCE, october)["rating_id"].to_list())
        new_id = f"r-min-{attempt}"
        ui.warehouse().insert_df("ratings", ratings_frame([rating(new_id, "C1", 2, "2025-10-22 10:00",
                                                                  dept="D1", region=SHINAN)]))
        ui._version.clear()  # two seconds later
        arrived = ui.version()
        again = set(ui.q("bad_rectification", PROVINCE, october)["rating_id"].to_list())
        MetricsJob(ui.warehouse(), clock=lambda: COMPUTED).run(full=True)
        ui._version.clear()
        computed = ui.version()
        ui.refresh_version()  # as an action recorded in the dashboard does
        after_action = ui.version(every="hour")
        if dt.datetime.now(SHANGHAI).strftime("%H:%M") == minute:
            break
    else:
        pytest.fail("the minute turned during each attempt")
    assert arrived == first and again == shown  # arrived within the minute: shown from the next one
    assert computed.of({"group_metrics"}) != first.of({"group_metrics"})  # computed: at once
    assert computed.of({"ratings"}) == first.of({"ratings"})
    # After an action the minute's arrivals are read again; the hour's stay (the anomalies are not re-scored).
    assert ui.version().of({"ratings"}) != first.of({"ratings"})
    assert after_action.of({"ratings"}) == hourly.of({"ratings"})
    assert set(ui.q("bad_rectification", PROVINCE, october)["rating_id"].to_list()) == shown | {new_id}
