"""Incremental recompute touches only what new data touched, and gives exactly what a full recompute gives."""

from __future__ import annotations

import datetime as dt

import polars as pl

from warehouse.queries.group_metrics import read_group_metrics, stored_periods
from metrics.jobs import MetricsJob
from tests import scenario_oct2025 as scenario
from tests.builders import event, events_frame, followup, followups_frame, items_frame, rating, ratings_frame

FACT_SNAPSHOT = "SELECT * EXCEPT (version, computed_at) FROM case_facts FINAL ORDER BY case_id"


def metrics_snapshot(wh) -> pl.DataFrame:
    frames = [read_group_metrics(wh, p, g).drop("run_id")
              for p in stored_periods(wh)
              for g in ("all", "dept", "item", "region:city", "region:county", "region:province")]
    return pl.concat([f for f in frames if f.height]).sort("period", "grouping", "group_code")


def add_late_data(wh) -> None:
    qd = {"dept": "D1", "region": scenario.QD}
    jn = {"dept": "D2", "region": scenario.JN}
    wh.insert_df("case_events", events_frame([
        event("X", "completed", "2025-11-03 10:00", item="ITEM2", onsite=True, **jn),  # X done in November
        event("K", "resumed", "2025-10-20 09:00", item="ITEM2", **jn),                 # K's stop ends, late
        event("A", "delivered", "2025-10-13 10:00", onsite=True, **qd),                # A gets a second trip
        event("N", "submitted", "2025-11-03 09:00", channel="online", **qd),          # a new November case
        event("N", "accepted", "2025-11-03 09:10", **qd),
        event("N", "completed", "2025-11-04 09:10", **qd),
    ]))
    wh.insert_df("case_events", scenario.events().head(3))  # a re-send of A's first events
    wh.insert_df("ratings", ratings_frame([rating("r10", "X", 1, "2025-11-04 10:00", item="ITEM2", real_name=True, **jn)]))
    wh.insert_df("followups", followups_frame([followup("r8", "rectified", "2025-10-30 10:00")]))  # r8 now rectified
    wh.insert_df("items", items_frame({"ITEM0": (1, 0, 3, 0, "D2", "2025-10-01")}))  # ITEM0 becomes a 1-day item


def test_incremental_equals_full(warehouse, monkeypatch):
    scenario.load(warehouse)
    job = MetricsJob(warehouse, margin=dt.timedelta(0))
    assert job.run().mode == "full"
    before = warehouse.query_df(FACT_SNAPSHOT)

    add_late_data(warehouse)
    report = job.run()
    assert report.mode == "incremental"
    # Touched: X, K, A, N (events), F1/F2 (ITEM0 changed), A again (r8); X via r10. Not B, C, M, Y, W.
    touched = {"X", "K", "A", "N", "F1", "F2"}
    assert report.cases == len(touched)
    # October and November changed; September (only Y) is untouched.
    assert set(report.periods) == {"2025-10", "2025-11"}
    incremental_facts = warehouse.query_df(FACT_SNAPSHOT)
    incremental_metrics = metrics_snapshot(warehouse)

    untouched = before.filter(~pl.col("case_id").is_in(list(touched)))
    assert untouched.equals(incremental_facts.filter(~pl.col("case_id").is_in(list(touched))))
    x = incremental_facts.filter(pl.col("case_id") == "X").row(0, named=True)
    assert x["state"] == "completed" and x["overdue_days"] == 2  # D Oct 30; Oct 31, Nov 3
    f2 = incremental_facts.filter(pl.col("case_id") == "F2").row(0, named=True)
    assert f2["promised_limit_days"] == 1 and f2["on_time"] is True  # completed the next working day

    assert job.run(full=True).mode == "full"
    assert warehouse.query_df(FACT_SNAPSHOT).equals(incremental_facts)
    assert metrics_snapshot(warehouse).equals(incremental_metrics)
    # A full run over many small buckets of cases gives the same again.
    monkeypatch.setattr("metrics.jobs.EVENTS_PER_BUCKET", 7)
    assert job.run(full=True).cases == incremental_facts.height
    assert warehouse.query_df(FACT_SNAPSHOT).equals(incremental_facts)
    assert metrics_snapshot(warehouse).equals(incremental_metrics)

    october = read_group_metrics(warehouse, "2025-10", "all").row(0, named=True)
    assert october["bad_rectified_n"] == 3  # r1, r3 and now r8
    assert october["on_time_n"] == 4  # B, C, F1 and now F2


def _rows_and_cases(wh) -> tuple[int, int]:
    return tuple(wh.query_rows("SELECT count(), uniqExact(case_id) FROM case_facts")[0])


def test_a_full_run_deletes_the_case_facts_it_superseded(warehouse):
    """Every case's older rows are gone after a full run (it wrote a newer one of each); the figures read
    are those of the full run. A partial run deletes only its own cities' older rows."""
    scenario.load(warehouse)
    job = MetricsJob(warehouse, margin=dt.timedelta(0))
    job.run()
    add_late_data(warehouse)
    assert job.run().mode == "incremental"
    rows, cases = _rows_and_cases(warehouse)
    assert rows > cases  # the incremental run's touched cases have two rows each, until a merge
    facts = warehouse.query_df(FACT_SNAPSHOT)

    MetricsJob(warehouse, margin=dt.timedelta(0), cities=["3702"]).run()  # Qingdao alone
    per_city = {city: (n, distinct) for city, n, distinct in warehouse.query_rows(
        "SELECT substring(region_code, 1, 4) AS city, count(), uniqExact(case_id) FROM case_facts GROUP BY city")}
    assert per_city["3702"][0] == per_city["3702"][1]
    jinan = per_city["3701"]
    assert jinan[0] > jinan[1]  # X and K, touched by the incremental run: both rows kept
    assert warehouse.query_df(FACT_SNAPSHOT).equals(facts)

    job.run(full=True)
    assert _rows_and_cases(warehouse) == (cases, cases)
    assert warehouse.query_df(FACT_SNAPSHOT).equals(facts)


def test_cards_of_past_instants_recompute_only_the_cases_with_later_events(warehouse):
    """At an instant before some events (a past day, or the minute of a live page), the cases with an event
    after it are recomputed as of the instant and the others carded from the stored facts: the very cards of
    recomputing every candidate, at every instant of October, for the province and for each department."""
    from metrics.flags import flags_as_of, stored_facts_state
    from tests.builders import at

    scenario.load(warehouse)
    MetricsJob(warehouse, margin=dt.timedelta(0)).run()
    instants = [at(f"2025-10-{day:02d} 10:00") for day in (10, 13, 20, 22, 24, 27, 28, 29)]
    scopes = [("", None), ("dept_code = {d:String}", {"d": "D1"}), ("dept_code = {d:String}", {"d": "D2"})]
    # Every instant before X's acceptance (the last event, Oct 28 morning) has later events.
    assert [stored_facts_state(warehouse, t)[0] for t in instants] == ["behind"] * 6 + ["current"] * 2
    picked = {(t, w): flags_as_of(warehouse, t, 2, where=w, parameters=p) for t in instants for w, p in scopes}
    warehouse.command("ALTER TABLE metrics_state DELETE WHERE key = 'run_started' SETTINGS mutations_sync = 1")
    for (t, w), cards in picked.items():
        p = dict(scopes)[w]
        assert cards.equals(flags_as_of(warehouse, t, 2, where=w, parameters=p)), (t, w)
    assert sum(cards.height for cards in picked.values()) > 10  # cards there were, red and yellow
    assert {"red", "yellow"} <= set(pl.concat(list(picked.values()))["flag"])


def test_few_cases_picked_by_id_are_the_cases_their_newest_facts_select(warehouse):
    """``load_few_case_facts`` picks the ids first, then reads the rows by id: an older row that matches the
    condition does not bring its case in. X was open (D Oct 30) and is completed by the incremental run's
    newer row; both rows are stored until a merge."""
    from warehouse.queries.facts import load_case_facts, load_few_case_facts, open_at
    from tests.builders import at

    scenario.load(warehouse)
    job = MetricsJob(warehouse, margin=dt.timedelta(0))
    job.run()
    add_late_data(warehouse)
    job.run()
    assert warehouse.query_value("SELECT count() FROM case_facts WHERE case_id = 'X'") == 2
    t = at("2025-11-04 10:00")
    for scope in ("", "dept_code = {d:String}"):
        selection = open_at(t, scope, {"d": "D2"} if scope else None)
        few = load_few_case_facts(warehouse, selection).sort("case_id")
        assert few.equals(load_case_facts(warehouse, selection).sort("case_id"))
        assert "X" not in few["case_id"].to_list() and "K" in few["case_id"].to_list()


def test_nothing_new_means_nothing_recomputed(warehouse):
    scenario.load(warehouse)
    job = MetricsJob(warehouse)
    job.run()
    # Rows received within the safety margin are looked at again; once past it, a run finds nothing.
    warehouse.command("ALTER TABLE metrics_state UPDATE value = '2099-01-01 00:00:00.000' WHERE key = 'watermark'"
                      " SETTINGS mutations_sync = 1")
    assert job.run().mode == "unchanged"


def test_metrics_runs_never_overlap(hcp_home):
    """A second run waits for the first: the job lock is held across processes."""
    import subprocess
    import sys

    from hcp.locks import LockTimeout, job_lock
    from tests.conftest import REPO

    holder = subprocess.Popen(
        [sys.executable, "-c", "import time; from hcp.locks import job_lock\n"
         "with job_lock('metrics'):\n    print('held', flush=True); time.sleep(30)"],
        cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        import pytest

        with pytest.raises(LockTimeout):
            with job_lock("metrics", timeout=0.5):
                pass
    finally:
        holder.kill()
        holder.wait()
    with job_lock("metrics", timeout=5):  # released when its holder died
        pass


def test_flags_of_a_past_instant_see_cases_whose_deadline_moved_later(warehouse):
    """A case yellow at T that was suspended after T has a later stored deadline; it is still yellow at T.
    At "now" the stored facts are used directly and give the same cards as recomputing from events."""
    from metrics.flags import flags_as_of, stored_facts_current
    from tests.builders import at

    scenario.load(warehouse)
    qd = {"dept": "D1", "region": scenario.QD}
    warehouse.insert_df("case_events", events_frame([
        # ITEM3 accepted Thu Oct 16 → D Tue Oct 21; suspended Mon Oct 20 afternoon, resumed Oct 31.
        *[event("S", t, w, item="ITEM3", **qd) for t, w in (("submitted", "2025-10-16 09:00"), ("accepted", "2025-10-16 09:30"),
                                                            ("suspended", "2025-10-20 15:00"), ("resumed", "2025-10-31 09:00"))],
    ]))
    MetricsJob(warehouse, margin=dt.timedelta(0)).run()
    stored = warehouse.query_value("SELECT deadline FROM case_facts FINAL WHERE case_id = 'S'")
    assert stored == dt.date(2025, 11, 3)  # Oct 17 (1), Oct 20 (2), stop Oct 21–31, Nov 3 (3)
    monday = flags_as_of(warehouse, at("2025-10-20 10:00"), 2)
    s = monday.filter(pl.col("case_id") == "S").row(0, named=True)
    assert (s["flag"], s["deadline"], s["working_days_left"]) == ("yellow", dt.date(2025, 10, 21), 1)
    scoped = flags_as_of(warehouse, at("2025-10-20 10:00"), 2, where="dept_code = {d:String}", parameters={"d": "D2"})
    assert "S" not in scoped["case_id"].to_list() and set(scoped["dept_code"]) <= {"D2"}

    now = at("2026-01-05 10:00")
    assert stored_facts_current(warehouse, now)
    shortcut = flags_as_of(warehouse, now, 2)
    warehouse.command("ALTER TABLE metrics_state DELETE WHERE key = 'run_started' SETTINGS mutations_sync = 1")
    assert not stored_facts_current(warehouse, now)
    assert flags_as_of(warehouse, now, 2).equals(shortcut)
    assert set(shortcut["case_id"]) == {"M", "S", "X"}  # all red by then; K's stop never ended: neither


def test_cards_while_events_stream_in_recompute_only_the_cases_they_touch(warehouse):
    """Between two metrics runs, records keep arriving: the cases with an event stored since the run are
    recomputed from their events, the others carded from the stored facts — the very cards of recomputing
    every candidate. Oct 29: X was yellow (D Oct 30) and is now completed; K's stop ended Oct 28, so its clock
    runs again; M's acceptance is re-sent unchanged; a new case P is not carded by either way (not stored yet).
    A catalogue entry arriving since the run makes the stored facts stale: every candidate is recomputed."""
    from metrics.flags import flags_as_of, stored_facts_state
    from tests.builders import at

    scenario.load(warehouse)
    MetricsJob(warehouse, margin=dt.timedelta(0)).run()
    t = at("2025-10-29 10:00")
    before = flags_as_of(warehouse, t, 2)
    assert stored_facts_state(warehouse, t) == ("current", None)
    assert {r["case_id"]: r["flag"] for r in before.to_dicts()} == {"M": "red", "X": "yellow"}

    jn, qd = {"dept": "D2", "region": scenario.JN}, {"dept": "D1", "region": scenario.QD}
    warehouse.insert_df("case_events", events_frame([
        event("X", "completed", "2025-10-29 09:00", item="ITEM2", **jn),
        event("K", "resumed", "2025-10-28 10:00", item="ITEM2", **jn),
        event("P", "submitted", "2025-10-20 09:00", **qd), event("P", "accepted", "2025-10-20 09:30", **qd),
    ]))
    warehouse.command("INSERT INTO case_events SELECT * REPLACE (now64(3) AS received_at) FROM case_events "
                      "WHERE case_id = 'M' AND event_type = 'accepted'")
    state, since = stored_facts_state(warehouse, t)
    assert state == "behind" and since is not None
    streaming = flags_as_of(warehouse, t, 2)
    scoped = flags_as_of(warehouse, t, 2, where="dept_code = {d:String}", parameters={"d": "D2"})

    run = warehouse.query_value("SELECT value FROM metrics_state FINAL WHERE key = 'run_started'")
    warehouse.command("ALTER TABLE metrics_state DELETE WHERE key = 'run_started' SETTINGS mutations_sync = 1")
    assert stored_facts_state(warehouse, t) == ("stale", None)  # every candidate recomputed from its events
    assert streaming.equals(flags_as_of(warehouse, t, 2))
    assert scoped.equals(flags_as_of(warehouse, t, 2, where="dept_code = {d:String}", parameters={"d": "D2"}))
    cards = {r["case_id"]: r["flag"] for r in streaming.to_dicts()}
    assert "X" not in cards and cards["M"] == "red" and "P" not in cards
    # K (ITEM2, 2 working days) accepted Thu Oct 9: day 1 Oct 10; stopped Oct 10 → Oct 28 (Oct 11–28 not
    # counted); day 2 Wed Oct 29 = D. On Oct 29 it is not past D, 0 working days left: yellow.
    k = streaming.filter(pl.col("case_id") == "K").row(0, named=True)
    assert (k["flag"], k["deadline"], k["working_days_left"]) == ("yellow", dt.date(2025, 10, 29), 0)
    assert set(scoped["case_id"]) == {"K"}

    warehouse.insert_df("metrics_state", pl.DataFrame({"key": ["run_started"], "value": [run]}))
    assert stored_facts_state(warehouse, t)[0] == "behind"
    warehouse.insert_df("items", items_frame({"ITEM9": (1, 2, 3, 0, "D1", "2024-01-01")}))
    assert stored_facts_state(warehouse, t) == ("stale", None)


def test_the_sql_and_polars_forms_of_the_upheld_appeal_rule_agree(warehouse):
    """r5's appeal was upheld; r8's was rejected. A later reversal of a decision is what counts."""
    from warehouse.queries.ratings import UPHELD_RATINGS_SQL

    scenario.load(warehouse)
    warehouse.insert_df("followups", followups_frame([
        followup("r1", "appealed", "2025-10-15 10:00"), followup("r1", "appeal_upheld", "2025-10-16 10:00"),
        followup("r1", "appeal_rejected", "2025-10-17 10:00"),  # reversed: r1 counts again
    ]))
    in_sql = {r[0] for r in warehouse.query_rows(UPHELD_RATINGS_SQL)}
    rfacts = MetricsJob(warehouse).rating_facts_where("1", {})
    in_polars = set(rfacts.filter(pl.col("appeal_upheld"))["rating_id"])
    assert in_sql == in_polars == {"r5"}
