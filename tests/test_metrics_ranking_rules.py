"""The rules DOMAIN.md sharpened for credible rankings, on values worked out by hand:
grouping by level (本级), who is ranked (minimum volume, no score without data, peer groups, a
meaningful bottom-two mark), rectification due-ness around holidays (bad_due, bad_overdue_unrectified,
整改中), inconsistent cases and rating coverage with an upheld appeal.

Calendar facts used (State Council notices, via chinesecalendar): 2025 National Day Oct 1–8 off, Sat Oct 11
working; 2026 Spring Festival Feb 15–23 off, Sat Feb 14 and Sat Feb 28 working.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import polars as pl
import pytest

from hcp.config import Config, ScoringConfig
from hcp.workdays import WorkCalendar
from metrics.facts import case_facts
from hcp.periods import Period
from metrics.indicators import compute_indicators
from metrics.jobs import MetricsJob, MetricsSettings, compute_period
from metrics.ratings import rated_cases, rating_facts
from tests.builders import (SH, event, events_frame, followup, followups_frame, items_frame, lifecycle, rating,
                            ratings_frame)

CAL = WorkCalendar()
OCT = Period.parse("2025-10")
PROVINCE, JINAN, LIXIA, LIXIA_TOWN = "370000000000", "370100000000", "370102000000", "370102001000"
ITEMS = items_frame({"ITEM5": 5, "ITEM3": 3})
DEPTS = pl.DataFrame({"dept_code": ["P1", "J1", "L1"], "dept_name": ["省局", "市局", "区局"],
                      "region_code": [PROVINCE, JINAN, LIXIA]})
NO_RATINGS = rating_facts(ratings_frame([]), followups_frame([]), CAL, rectify_days=15, as_of=dt.date(2025, 12, 1))


def facts_with_coverage(rows, rfacts=NO_RATINGS) -> pl.DataFrame:
    facts = case_facts(events_frame(rows), ITEMS, CAL)
    return facts.join(rated_cases(rfacts), on="case_id", how="left").with_columns(
        rating_count=pl.col("rating_count").fill_null(0))


def by_group(frame: pl.DataFrame) -> dict[str, dict]:
    return {row["group"]: row for row in frame.to_dicts()}


# Grouping by level -----------------------------------------------------------------------------------

def level_scenario() -> pl.DataFrame:
    """One completed October case each: province level (P), Jinan city level (J), Lixia county (L) and a
    township under Lixia (T)."""
    rows = (lifecycle("P", "2025-10-09", completed="2025-10-10 10:00", dept="P1", region=PROVINCE)
            + lifecycle("J", "2025-10-09", completed="2025-10-10 10:00", dept="J1", region=JINAN)
            + lifecycle("L", "2025-10-09", completed="2025-10-10 10:00", dept="L1", region=LIXIA)
            + lifecycle("T", "2025-10-09", completed="2025-10-10 10:00", dept="L1", region=LIXIA_TOWN))
    return facts_with_coverage(rows)


def test_a_grouping_at_a_level_holds_only_regions_of_that_level():
    facts = level_scenario()

    def counts(by):
        frame = compute_indicators(facts, NO_RATINGS, ITEMS.head(0), DEPTS, OCT, by)
        return {g: r["cases_completed"] for g, r in by_group(frame).items() if r["cases_completed"]}

    # The province holds all four; Jinan city holds its own level and the county below (not P);
    # Lixia county holds L and its township T (not J, the city's own work, nor P).
    assert counts("region:province") == {PROVINCE: 4}
    assert counts("region:city") == {JINAN: 3}
    assert counts("region:county") == {LIXIA: 2}
    # 本级: each government's own work, exactly its region.
    assert counts("region:own") == {PROVINCE: 1, JINAN: 1}
    assert counts("all") == {"all": 4}


def test_own_levels_are_ranked_with_their_peers_and_cities_with_the_cities_of_their_province():
    facts = level_scenario()
    settings = settings_of({**_config(min_cases=1)})
    own = by_group(compute_period(facts, NO_RATINGS, ITEMS.head(0), DEPTS, OCT, "region:own", settings))
    # 省本级 has no peer of its own kind (peer group ''), 市本级 is ranked among the province's cities' own levels.
    assert own[PROVINCE]["peer_group"] == "" and own[JINAN]["peer_group"] == PROVINCE
    cities = by_group(compute_period(facts, NO_RATINGS, ITEMS.head(0), DEPTS, OCT, "region:city", settings))
    assert set(cities) == {JINAN} and cities[JINAN]["peer_group"] == PROVINCE


# Who is ranked -----------------------------------------------------------------------------------------

def settings_of(config: dict) -> MetricsSettings:
    """The metrics settings of the defaults with ``config`` laid over them — its ``[scoring]`` taken as given
    (only the indicators the test weighs), not merged with the default weights."""
    scoring = config.get("scoring")
    base = Config.from_dict({k: v for k, v in config.items() if k != "scoring"})
    if scoring is not None:
        base = dataclasses.replace(base, scoring=ScoringConfig(scoring["weights"], scoring["targets"],
                                                               scoring.get("direction", {})))
    return MetricsSettings.load(base)


def _config(min_cases=20, min_ratings=20, bottom_min_peers=10, **extra) -> dict:
    return {"scoring": {"weights": {"on_time_rate": 1}, "targets": {"on_time_rate": 1.0}},
            "ranking": {"min_cases": min_cases, "min_ratings": min_ratings, "bottom_min_peers": bottom_min_peers,
                        **extra}}


def department_month(volumes: dict[str, tuple[int, int]], region: str = LIXIA) -> pl.DataFrame:
    """Departments of one government: dept → (on-time completed, overdue completed) in October (limit 5)."""
    rows = []
    for dept, (on_time, late) in volumes.items():
        for i in range(on_time):
            rows += lifecycle(f"{dept}-ok{i}", "2025-10-09", completed="2025-10-10 10:00", dept=dept, region=region)
        for i in range(late):
            rows += lifecycle(f"{dept}-late{i}", "2025-10-09", completed="2025-10-31 10:00", dept=dept, region=region)
    return facts_with_coverage(rows)


def test_small_units_are_listed_not_ranked_and_units_without_data_have_no_score():
    depts = pl.DataFrame({"dept_code": ["A", "B", "C", "S", "E"], "dept_name": list("ABCSE"),
                          "region_code": [LIXIA] * 5})
    facts = department_month({"A": (3, 0), "B": (2, 1), "C": (1, 2), "S": (1, 0)})
    settings = settings_of(_config(min_cases=3, bottom_min_peers=3))
    items = pl.concat([ITEMS, items_frame({"IE": (5, 10, 4, 0, "E", "2020-01-01")})])  # E: a catalogue, no data
    rows = by_group(compute_period(facts, NO_RATINGS, items, depts, OCT, "dept", settings))
    # A 3/3, B 2/3, C 1/3 on time: scores 100, 66.67, 33.33, ranked 1, 2, 3 among 3 ranked peers. B and C
    # hold the last two places, but B *is* the median (66.67): only C is 2 points or more behind it.
    assert [rows[d]["rank_status"] for d in "ABC"] == ["ranked"] * 3
    assert [rows[d]["rank"] for d in "ABC"] == [1, 2, 3] and rows["A"]["peers"] == 3
    assert [rows[d]["bottom_two"] for d in "ABC"] == [False, False, True]
    # S: one case (on time) — 样本不足: its figures are kept, it is neither scored (DOMAIN: "scored and
    # ranked only when its figures mean something") nor ranked, and does not push A down.
    assert rows["S"]["rank_status"] == "small_sample" and rows["S"]["rank"] is None
    assert rows["S"]["composite_score"] is None and rows["S"]["on_time_rate"] == 1.0
    assert not rows["S"]["bottom_two"]
    # E: nothing completed, nothing rated, but an item of its own in the catalogue (depth 4): its catalogue
    # figure is there, yet no score and no rank.
    assert rows["E"]["depth3plus_item_rate"] == 1.0 and rows["E"]["rank_status"] == "no_data"
    assert rows["E"]["composite_score"] is None and rows["E"]["rank"] is None


def test_no_data_means_no_score_even_when_the_catalogue_has_figures():
    facts = department_month({})
    settings = settings_of({"scoring": {"weights": {"depth3plus_item_rate": 1},
                                                 "targets": {"depth3plus_item_rate": 0.9}}})
    depts = pl.DataFrame({"dept_code": ["D1"], "dept_name": ["D1"], "region_code": [LIXIA]})
    rows = by_group(compute_period(facts, NO_RATINGS, ITEMS, depts, OCT, "dept", settings))
    assert rows["D1"]["depth3plus_item_rate"] == 1.0  # both items depth 4
    assert (rows["D1"]["rank_status"], rows["D1"]["composite_score"], rows["D1"]["rank"]) == ("no_data", None, None)


def test_the_volume_threshold_can_be_set_per_office_and_ratings_alone_suffice():
    facts = department_month({"A": (2, 0), "B": (2, 0)})
    depts = pl.DataFrame({"dept_code": ["A", "B"], "dept_name": ["A", "B"], "region_code": [LIXIA, "370202000000"]})
    qingdao = department_month({"B": (2, 0)}, region="370202000000")
    facts = pl.concat([facts.filter(pl.col("dept_code") == "A"), qingdao])
    config = _config(min_cases=3, min_ratings=2, locality={"370200000000": {"min_cases": 2}})
    settings = settings_of(config)
    rows = by_group(compute_period(facts, NO_RATINGS, ITEMS, depts, OCT, "dept", settings))
    # A (Jinan, default 3) with 2 cases is too small; B (Qingdao's office asks for 2) is ranked.
    assert rows["A"]["rank_status"] == "small_sample" and rows["B"]["rank_status"] == "ranked"
    # Two counted ratings make A rankable even with 2 cases (min_ratings = 2).
    ratings = ratings_frame([rating(f"r{i}", f"A-ok{i}", 5, "2025-10-20 10:00", dept="A", region=LIXIA)
                             for i in range(2)])
    rf = rating_facts(ratings, followups_frame([]), CAL, rectify_days=15, as_of=dt.date(2025, 12, 1))
    rows = by_group(compute_period(facts, rf, ITEMS, depts, OCT, "dept", settings))
    assert rows["A"]["rank_status"] == "ranked"


def test_bottom_two_only_in_peer_groups_of_the_minimum_size():
    volumes = {f"D{i:02d}": (20 - i, i) for i in range(12)}  # D00 20/20 on time … D11 9/20
    depts = pl.DataFrame({"dept_code": list(volumes), "dept_name": list(volumes), "region_code": [LIXIA] * 12})
    facts = department_month(volumes)
    marked = lambda min_peers: sorted(  # noqa: E731
        r["group"] for r in compute_period(facts, NO_RATINGS, ITEMS, depts, OCT, "dept",
                                           settings_of(_config(bottom_min_peers=min_peers))).to_dicts()
        if r["bottom_two"])
    assert marked(12) == ["D10", "D11"]  # 12 ranked peers: the last two
    assert marked(13) == []             # a group smaller than the minimum carries no mark


def test_the_bottom_two_mark_needs_a_real_gap_below_the_median():
    """Five departments whose scores are on-time rates (weight 1, target 100%): 40 cases each with
    40, 37, 35, 34 and 33 on time → 100, 92.5, 87.5, 85, 82.5. The median is 87.5; the last two are 85
    (2.5 behind: marked) and 82.5 (marked). With 40, 37, 36, 36, 33 → 100, 92.5, 90, 90, 82.5 the two
    at 90 share rank 3 and so the last two places, but they are the median: only 82.5 is marked. A margin
    of 0 marks the last places whatever the gap."""
    def marked(on_time: list[int], margin: float) -> list[str]:
        volumes = {f"D{i}": (n, 40 - n) for i, n in enumerate(on_time)}
        depts = pl.DataFrame({"dept_code": list(volumes), "dept_name": list(volumes), "region_code": [LIXIA] * 5})
        settings = settings_of(_config(bottom_min_peers=5, bottom_margin_points=margin))
        frame = compute_period(department_month(volumes), NO_RATINGS, ITEMS, depts, OCT, "dept", settings)
        return sorted(r["group"] for r in frame.to_dicts() if r["bottom_two"])

    assert marked([40, 37, 35, 34, 33], 2.0) == ["D3", "D4"]
    assert marked([40, 37, 36, 36, 33], 2.0) == ["D4"]
    assert marked([40, 37, 36, 36, 33], 0.0) == ["D2", "D3", "D4"]
    assert marked([40, 40, 39, 39, 39], 2.0) == []  # 100, 100, 97.5 × 3: the last places are the median


def test_counties_are_ranked_province_wide_or_within_their_city():
    rows = (lifecycle("L", "2025-10-09", completed="2025-10-10 10:00", dept="L1", region=LIXIA)
            + lifecycle("Q", "2025-10-09", completed="2025-10-10 10:00", dept="Q1", region="370202000000"))
    facts = facts_with_coverage(rows)
    depts = pl.DataFrame({"dept_code": ["L1", "Q1"], "dept_name": ["L1", "Q1"], "region_code": [LIXIA, "370202000000"]})
    province_wide = by_group(compute_period(facts, NO_RATINGS, ITEMS.head(0), depts, OCT, "region:county",
                                            settings_of(_config(min_cases=1))))
    assert {r["peer_group"] for r in province_wide.values()} == {PROVINCE}
    assert province_wide[LIXIA]["peers"] == 2
    per_city = by_group(compute_period(facts, NO_RATINGS, ITEMS.head(0), depts, OCT, "region:county",
                                       settings_of(_config(min_cases=1, county_peers="city"))))
    assert per_city[LIXIA]["peer_group"] == JINAN and per_city[LIXIA]["peers"] == 1


def test_ranking_settings_are_checked():
    with pytest.raises(ValueError, match="county_peers"):
        Config.from_dict({"ranking": {"county_peers": "town"}})
    with pytest.raises(ValueError, match="min_cases"):
        Config.from_dict({"ranking": {"min_cases": 0}})
    with pytest.raises(ValueError, match="bottom_margin_points"):
        Config.from_dict({"ranking": {"bottom_margin_points": -1}})


# Rectification due-ness --------------------------------------------------------------------------------

def due_facts(as_of: dt.date, rectify_days: int, rows, fus=()) -> dict[str, dict]:
    frame = rating_facts(ratings_frame(rows), followups_frame(list(fus)), CAL, rectify_days=rectify_days,
                         as_of=as_of)
    return {r["rating_id"]: r for r in frame.to_dicts()}


def test_the_rectification_limit_across_national_day_2025():
    # Rated Mon Sep 29, 5 working days: Sep 30 (1), Oct 1–8 off, Oct 9 (2), Oct 10 (3), Sat Oct 11 (4,
    # make-up), Mon Oct 13 (5) → the limit ends on Oct 13. Due from Oct 14 on.
    rows = [rating("b", "X", 1, "2025-09-29 15:00")]
    assert due_facts(dt.date(2025, 10, 13), 5, rows)["b"]["due_date"] == dt.date(2025, 10, 13)
    assert due_facts(dt.date(2025, 10, 13), 5, rows)["b"]["due"] is False
    assert due_facts(dt.date(2025, 10, 14), 5, rows)["b"]["due"] is True
    # 15 working days: … Oct 13 (5), 14–17 (6–9), 20–24 (10–14), Mon Oct 27 (15).
    assert due_facts(dt.date(2025, 10, 27), 15, rows)["b"]["due_date"] == dt.date(2025, 10, 27)


def test_the_rectification_limit_across_spring_festival_2026():
    # Rated Fri Feb 13, 5 working days: Sat Feb 14 (1, make-up), Feb 15–23 off, Feb 24–27 (2–5) → Feb 27.
    rows = [rating("b", "X", 2, "2026-02-13 11:00")]
    assert due_facts(dt.date(2026, 2, 27), 5, rows)["b"]["due_date"] == dt.date(2026, 2, 27)
    assert due_facts(dt.date(2026, 2, 28), 5, rows)["b"]["due"] is True


def test_bad_due_overdue_unrectified_and_in_progress_in_a_bulletin_published_on_the_first():
    """Figures of November 2025 as a bulletin published on Mon Dec 1 2025 sees them (limit 5 days)."""
    rows = [
        rating("early", "A", 1, "2025-11-03 10:00"),    # limit ends Nov 10: due, never rectified → 逾期未整改
        rating("late", "B", 2, "2025-11-04 10:00"),     # limit ends Nov 11: due, rectified Nov 20 (late)
        rating("fixed", "C", 1, "2025-11-05 10:00"),    # limit ends Nov 12: due, rectified on time Nov 7
        rating("edge", "D", 1, "2025-11-24 10:00"),     # limit ends Mon Dec 1: not due on Dec 1 → 整改中
        rating("fresh", "E", 2, "2025-11-30 10:00"),    # a Sunday: limit ends Fri Dec 5 → 整改中
        rating("good", "F", 5, "2025-11-30 11:00"),
    ]
    fus = [followup("late", "rectified", "2025-11-20 10:00"), followup("fixed", "rectified", "2025-11-07 10:00")]
    rf = rating_facts(ratings_frame(rows), followups_frame(fus), CAL, rectify_days=5, as_of=dt.date(2025, 12, 1))
    assert dict(rf.select("rating_id", "due_date").rows())["fresh"] == dt.date(2025, 12, 5)
    assert dict(rf.select("rating_id", "due_date").rows())["edge"] == dt.date(2025, 12, 1)
    nov = Period.parse("2025-11")
    row = compute_indicators(facts_with_coverage([], rf), rf, ITEMS.head(0), DEPTS, nov, "all").to_dicts()[0]
    assert row["bad_count"] == 5
    assert row["bad_due"] == 3                     # early, late, fixed
    assert row["bad_overdue_unrectified"] == 1     # early
    assert row["bad_in_progress"] == 2             # edge, fresh: never a failure
    # DOMAIN rates over every bad rating: 2 rectified of 5, 1 on time.
    assert row["bad_rectified_rate"] == pytest.approx(2 / 5)
    assert row["bad_rectified_on_time_rate"] == pytest.approx(1 / 5)
    # What the score weighs: only the ratings that can be judged (rectified, or due): late, fixed, early.
    assert row["bad_rectified_due_rate"] == pytest.approx(2 / 3)
    assert row["bad_rectified_on_time_due_rate"] == pytest.approx(1 / 3)
    # A week later (Mon Dec 8) both are due: 'fresh' and 'edge' join the overdue unrectified.
    rf8 = rating_facts(ratings_frame(rows), followups_frame(fus), CAL, rectify_days=5, as_of=dt.date(2025, 12, 8))
    row8 = compute_indicators(facts_with_coverage([], rf8), rf8, ITEMS.head(0), DEPTS, nov, "all").to_dicts()[0]
    assert (row8["bad_due"], row8["bad_overdue_unrectified"], row8["bad_in_progress"]) == (5, 3, 0)
    assert row8["bad_rectified_due_rate"] == pytest.approx(2 / 5)


def test_a_rating_still_within_its_limit_never_lowers_the_score():
    rows = [rating("old", "A", 1, "2025-11-03 10:00"), rating("new", "B", 1, "2025-11-28 10:00")]
    fus = [followup("old", "rectified", "2025-11-05 10:00")]
    rf = rating_facts(ratings_frame(rows), followups_frame(fus), CAL, rectify_days=15, as_of=dt.date(2025, 12, 1))
    settings = settings_of({"scoring": {"weights": {"bad_rectified_due_rate": 1},
                                                 "targets": {"bad_rectified_due_rate": 1.0}},
                                     "ranking": {"min_ratings": 1}})
    row = compute_period(facts_with_coverage([], rf), rf, ITEMS.head(0), DEPTS, Period.parse("2025-11"), "all",
                         settings).to_dicts()[0]
    assert row["bad_in_progress"] == 1 and row["composite_score"] == pytest.approx(100)


# Inconsistent cases ----------------------------------------------------------------------------------

def test_inconsistent_cases_are_left_out_of_every_case_indicator_and_counted():
    rows = (lifecycle("ok", "2025-10-09", completed="2025-10-10 10:00")
            # completed a year before it was submitted (a typing error): cannot be timed
            + [event("yr", "submitted", "2025-10-09 09:00"), event("yr", "accepted", "2025-10-09 09:30"),
               event("yr", "completed", "2025-10-20 10:00")]
            # accepted before it was submitted
            + [event("acc", "submitted", "2025-10-15 09:00"), event("acc", "accepted", "2025-10-14 09:30"),
               event("acc", "completed", "2025-10-16 10:00")]
            # completed before it was accepted
            + [event("cba", "submitted", "2025-10-13 09:00"), event("cba", "accepted", "2025-10-15 09:30"),
               event("cba", "completed", "2025-10-14 10:00")])
    rows[3]["event_time"] = rows[3]["event_time"].replace(year=2026)  # 'yr' submitted 2026-10-09
    rows[4]["event_time"] = rows[4]["event_time"].replace(year=2026)
    facts = case_facts(events_frame(rows), ITEMS, CAL)
    by_case = {r["case_id"]: r for r in facts.to_dicts()}
    assert [by_case[c]["inconsistent"] for c in ("ok", "yr", "acc", "cba")] == [False, True, True, True]
    # Such a case cannot be timed: no on-time verdict, no net working days (never −282).
    assert by_case["yr"]["on_time"] is None and by_case["yr"]["net_working_days"] is None
    with_cov = facts.with_columns(rating_count=pl.lit(0, dtype=pl.UInt32))
    row = compute_indicators(with_cov, NO_RATINGS, ITEMS.head(0), DEPTS, OCT, "dept").to_dicts()[0]
    assert (row["group"], row["cases_completed"], row["on_time_rate"], row["inconsistent_cases"]) == ("D1", 1, 1.0, 3)


# Rating coverage with an upheld appeal ---------------------------------------------------------------

def test_coverage_counts_a_case_whose_only_rating_was_excluded_by_an_upheld_appeal():
    rows = (lifecycle("A", "2025-10-09", completed="2025-10-10 10:00")
            + lifecycle("B", "2025-10-09", completed="2025-10-10 10:00")
            + lifecycle("C", "2025-10-09", completed="2025-10-10 10:00"))
    ratings = ratings_frame([
        rating("ra", "A", 1, "2025-10-11 10:00"),                # appeal upheld: not counted, but A was rated
        rating("rb", "B", 5, "2025-10-11 10:00", default=True),  # a default rating is not the applicant's voice
    ])
    fus = [followup("ra", "appealed", "2025-10-12 10:00"), followup("ra", "appeal_upheld", "2025-10-14 10:00")]
    rf = rating_facts(ratings, followups_frame(fus), CAL, rectify_days=15, as_of=dt.date(2025, 12, 1))
    row = compute_indicators(facts_with_coverage(rows, rf), rf, ITEMS.head(0), DEPTS, OCT, "all").to_dicts()[0]
    assert row["ratings"] == 0                           # neither rating counts among the ratings
    assert row["rating_coverage"] == pytest.approx(1 / 3)  # A rated; B (default) and C did not


# Through the warehouse: no phantom month, due-ness moves with the date ----------------------------------

def test_an_inconsistent_case_creates_no_period_and_due_ness_is_refreshed_as_days_pass(warehouse):
    rows = lifecycle("ok", "2025-10-09", completed="2025-10-10 10:00") + [
        event("yr", "submitted", "2026-10-09 09:00"), event("yr", "accepted", "2026-10-09 09:30"),
        event("yr", "completed", "2025-09-20 10:00")]  # completed a year before its submission: September 2025
    warehouse.insert_df("items", ITEMS)
    warehouse.insert_df("departments", pl.DataFrame({"dept_code": ["D1"], "dept_name": ["D1"],
                                                     "region_code": ["370202000000"]}))
    warehouse.insert_df("case_events", events_frame(rows))
    warehouse.insert_df("ratings", ratings_frame([rating("b", "ok", 1, "2025-10-24 10:00")]))
    clock = {"now": dt.datetime(2025, 11, 10, 12, 0, tzinfo=SH)}
    job = MetricsJob(warehouse, settings_of(_config(min_cases=1)), clock=lambda: clock["now"])
    report = job.run(full=True)
    from warehouse.queries.group_metrics import read_group_metrics, stored_periods
    from warehouse.queries.state import set_state

    assert report.periods == ["2025-10"] and stored_periods(warehouse) == ["2025-10"]
    october = read_group_metrics(warehouse, "2025-10", "all").to_dicts()[0]
    # Rated Fri Oct 24, 15 working days → the limit ends Fri Nov 14: on Nov 10 in progress.
    assert (october["bad_due"], october["bad_in_progress"], october["inconsistent_cases"]) == (0, 1, 0)
    # Nothing new arrives (the watermark is past every record); only the date moves on to Mon Nov 17.
    set_state(warehouse, "watermark", "2099-01-01 00:00:00.000")
    clock["now"] = dt.datetime(2025, 11, 13, 8, 0, tzinfo=SH)
    assert job.run().mode == "unchanged"  # Nov 13: the limit (Nov 14) has not passed, nothing to redo
    set_state(warehouse, "watermark", "2099-01-01 00:00:00.000")
    clock["now"] = dt.datetime(2025, 11, 17, 8, 0, tzinfo=SH)
    report = job.run()
    assert report.mode == "incremental" and report.periods == ["2025-10"]
    october = read_group_metrics(warehouse, "2025-10", "all").to_dicts()[0]
    assert (october["bad_due"], october["bad_overdue_unrectified"], october["bad_in_progress"]) == (1, 1, 0)
    assert stored_periods(warehouse) == ["2025-10"]
    # A replay with the clock set back to Nov 12 sees the rating in progress again.
    set_state(warehouse, "watermark", "2099-01-01 00:00:00.000")
    clock["now"] = dt.datetime(2025, 11, 12, 8, 0, tzinfo=SH)
    assert job.run().periods == ["2025-10"]
    october = read_group_metrics(warehouse, "2025-10", "all").to_dicts()[0]
    assert (october["bad_due"], october["bad_in_progress"]) == (0, 1)


def test_hcp_quality_lists_inconsistent_cases_for_the_months_of_their_milestones(tmp_path):
    from tests.conftest import home_with, run_hcp

    def load(wh):
        wh.insert_df("items", ITEMS)
        wh.insert_df("departments", pl.DataFrame({"dept_code": ["D1"], "dept_name": ["市南区市场监管局"],
                                                  "region_code": ["370202000000"]}))
        wh.insert_df("case_events", events_frame(lifecycle("ok", "2025-10-09", completed="2025-10-10 10:00") + [
            event("yr", "submitted", "2026-10-09 09:00"), event("yr", "accepted", "2026-10-09 09:30"),
            event("yr", "completed", "2025-09-20 10:00")]
            + lifecycle("nocat", "2025-10-09", completed="2025-10-13 10:00", item="NOPE")))

    with home_with(tmp_path, load) as home:
        env = {"HCP_HOME": str(home)}

        def listed(period):
            out = run_hcp("quality", "--period", period, "--format", "json", env=env, check=True).stdout
            return [(r["case_id"], r["problem"], r["dept_code"]) for r in json.loads(out)]

        assert listed("2026-10") == [("yr", "completed_before_submitted", "D1")]  # submitted then
        assert listed("2025-09") == [("yr", "completed_before_submitted", "D1")]  # 'completed' then
        assert listed("2025-10") == []
        table = run_hcp("--lang", "en", "quality", "--period", "2026-10", env=env, check=True).stdout
        assert "1 inconsistent cases" in table and "completed before it was submitted" in table
        assert "市南区市场监管局" in table and "0 untimed cases" in table
        # The case of an item the catalogue does not hold: listed by its completion month, not as a contradiction.
        october = run_hcp("quality", "--period", "2025-10", env=env, check=True).stdout
        assert "数据矛盾办件 0 件" in october and "无法计时办件 1 件" in october
        assert "nocat" in october and "NOPE" in october and "2025-10-13 10:00" in october
        figures = json.loads(run_hcp("metrics", "--period", "2025-10", "--format", "json", env=env, check=True).stdout)
        assert (figures[0]["cases_completed"], figures[0]["on_time_rate"]) == (2, 1.0)  # ok on time; nocat untimed
        unknown = run_hcp("quality", "--dept", "NOPE", env=env)
        assert unknown.returncode == 2 and "NOPE" in unknown.stderr


# A case that cannot be timed -------------------------------------------------------------------------

def test_a_case_whose_item_is_not_in_the_catalogue_neither_lowers_the_on_time_rate_nor_disappears():
    """L1 completes three October cases: one on time, one late and one of an item the catalogue does not
    hold (no deadline: neither on time nor overdue); J1 one on time and one without a deadline. ITEM5 has a
    limit of 5 working days: accepted Thu Oct 9, the counted days are Oct 10, Sat Oct 11 (make-up), 13, 14
    and 15, so the deadline is Wed Oct 15."""
    rows = (lifecycle("ON", "2025-10-09", completed="2025-10-15 16:00", dept="L1", region=LIXIA)
            + lifecycle("LATE", "2025-10-09", completed="2025-10-16 09:00", dept="L1", region=LIXIA)
            + lifecycle("NOCAT", "2025-10-09", completed="2025-10-20 09:00", dept="L1", region=LIXIA, item="NOPE")
            + lifecycle("J-ON", "2025-10-09", completed="2025-10-10 10:00", dept="J1", region=JINAN)
            + lifecycle("J-NOCAT", "2025-10-09", completed="2025-10-10 10:00", dept="J1", region=JINAN, item="NOPE"))
    facts = facts_with_coverage(rows)
    assert facts.filter(pl.col("case_id") == "LATE")["on_time"].item() is False  # Oct 16 > Oct 15
    depts = by_group(compute_indicators(facts, NO_RATINGS, ITEMS, DEPTS, OCT, "dept"))
    # L1: 3 completed, 2 of them timed (1 on time, 1 overdue): 1/2, not 1/3.
    assert (depts["L1"]["cases_completed"], depts["L1"]["timed_n"], depts["L1"]["on_time_n"],
            depts["L1"]["overdue_completed"]) == (3, 2, 1, 1)
    assert depts["L1"]["on_time_rate"] == pytest.approx(1 / 2)
    # J1: no overdue case, so 100% on time (the case without a deadline is not held against it).
    assert (depts["J1"]["cases_completed"], depts["J1"]["timed_n"], depts["J1"]["on_time_rate"]) == (2, 1, 1.0)
    # They stay in every other case figure: both of J1's cases count in its same-day base (neither was done
    # on its acceptance day).
    assert depts["J1"]["same_day_rate"] == 0.0 and depts["J1"]["cases_completed"] == 2
