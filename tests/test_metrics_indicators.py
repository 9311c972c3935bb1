"""Every DOMAIN indicator on a hand-worked October 2025 scenario (tests/scenario_oct2025.py), through
the real warehouse and the `hcp metrics` / `hcp flags` JSON contracts.

Completed in October: A (D1, overdue 1, net 6, 1 trip, hall), B (D1, on time, net 3, 0 trips, online),
C (D1, on time, net 4, 1 trip — the on-site pick-up —, mobile), F1 (D2, immediate, same day, net 0,
2 trips, hall), F2 (D2, immediate, overdue 1, net 1, 0 trips, online). Y completed in September.
Counted October ratings: r1 (1★ real-name, rectified on time, revisited), r2 (5★), r3 (2★, explained
late), r6 (4★ real-name), r7 (3★, no case), r8 (2★ real-name, appeal rejected, not rectified).
r4 is a default rating and r5's appeal was upheld: both excluded.
"""

from __future__ import annotations

import json

import pytest

from tests import scenario_oct2025 as scenario
from tests.conftest import home_with, run_hcp

APPROX = pytest.approx

ALL = {
    "cases_completed": 5, "on_time_rate": 3 / 5, "overdue_completed": 2, "overdue_rate": 2 / 5,
    "avg_net_working_days": 14 / 5,
    "same_day_rate": 1 / 5, "zero_trip_rate": 2 / 5, "max_one_trip_rate": 4 / 5, "online_rate": 3 / 5,
    "ratings": 6, "good_rate": 2 / 6, "bad_count": 3, "bad_rate": 3 / 6, "rating_coverage": 4 / 5,
    "bad_rectified_rate": 2 / 3, "bad_rectified_on_time_rate": 1 / 3, "revisit_rate": 1 / 2,
    # Items in force on Oct 31: ITEM5, ITEM3 (depth 2 version), ITEM0, ITEM2.
    "depth3plus_item_rate": 3 / 4, "immediate_item_rate": 1 / 4, "zero_trip_item_rate": 3 / 4,
    "limit_compression": 1 - (5 + 3 + 2) / (10 + 6 + 5),
}
D1 = {
    # overdue_rate: 3 timed cases (A, B, C), 1 late (A) → 1/3.
    "cases_completed": 3, "on_time_rate": 2 / 3, "overdue_completed": 1, "overdue_rate": 1 / 3,
    "avg_net_working_days": 13 / 3,
    "same_day_rate": 0.0, "zero_trip_rate": 1 / 3, "max_one_trip_rate": 1.0, "online_rate": 2 / 3,
    "ratings": 4, "good_rate": 1 / 4, "bad_count": 3, "bad_rate": 3 / 4, "rating_coverage": 1.0,
    "bad_rectified_rate": 2 / 3, "bad_rectified_on_time_rate": 1 / 3, "revisit_rate": 1 / 2,
    "depth3plus_item_rate": 1 / 2, "immediate_item_rate": 0.0, "zero_trip_item_rate": 1 / 2,
    "limit_compression": 1 - 8 / 16,
}
D2 = {
    "cases_completed": 2, "on_time_rate": 1 / 2, "overdue_completed": 1, "overdue_rate": 1 / 2,
    "avg_net_working_days": 1 / 2,
    "same_day_rate": 1 / 2, "zero_trip_rate": 1 / 2, "max_one_trip_rate": 1 / 2, "online_rate": 1 / 2,
    "ratings": 2, "good_rate": 1 / 2, "bad_count": 0, "bad_rate": 0.0, "rating_coverage": 1 / 2,
    # No bad rating in D2 this month: the rates over bad ratings have an empty base → null.
    "bad_rectified_rate": None, "bad_rectified_on_time_rate": None, "revisit_rate": None,
    "depth3plus_item_rate": 1.0, "immediate_item_rate": 1 / 2, "zero_trip_item_rate": 1.0,
    "limit_compression": 1 - 2 / 5,
}
# Composite scores with the default weights and targets (hcp/defaults.toml), worked out term by term.
SCORE_D1 = (20 * (2 / 3) + 10 * ((2 / 3) / 0.9) + 10 * ((1 / 3) / 0.9) + 5 * 0 + 15 * (0.25 / 0.99)
            + 10 * 1 + 15 * (2 / 3) + 5 * (1 / 3) + 5 * 0.5 + 5 * (0.5 / 0.9))
# D2 has no value for the three bad-rating rates (weights 15 + 5 + 5): the other 75 points are rescaled.
SCORE_D2 = (20 * 0.5 + 10 * (0.5 / 0.9) + 10 * (0.5 / 0.9) + 5 * 1 + 15 * (0.5 / 0.99) + 10 * (0.5 / 0.8)
            + 5 * 1) * 100 / 75


#: The scenario is tiny: every unit with data is ranked (the default volume of 20 is tested elsewhere).
SMALL_VOLUME = "[ranking]\nmin_cases = 1\nmin_ratings = 1\nbottom_min_peers = 3\n"


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    path = tmp_path_factory.mktemp("oct2025")
    (path / "config.toml").write_text(SMALL_VOLUME, encoding="utf-8")
    with home_with(path, scenario.load) as path:
        yield path


def metrics_json(home, by: str, period: str = "2025-10") -> dict[str, dict]:
    result = run_hcp("metrics", "--period", period, "--by", by, "--format", "json", env={"HCP_HOME": str(home)}, check=True)
    return {row["group"]: row for row in json.loads(result.stdout)}


def assert_indicators(row: dict, expected: dict) -> None:
    for key, value in expected.items():
        if value is None:
            assert row[key] is None, key
        else:
            assert row[key] == APPROX(value, abs=1e-12), key


def test_every_indicator_for_the_whole_province(home):
    rows = metrics_json(home, "all")
    assert list(rows) == ["all"]
    assert_indicators(rows["all"], ALL)
    assert rows["all"]["rank"] == 1


def test_every_indicator_by_department(home):
    rows = metrics_json(home, "dept")
    assert set(rows) == {"D1", "D2"}
    assert_indicators(rows["D1"], D1)
    assert_indicators(rows["D2"], D2)
    assert rows["D1"]["name"] == "青岛市市南区市场监督管理局"
    assert rows["D1"]["composite_score"] == APPROX(SCORE_D1, abs=1e-9)
    assert rows["D2"]["composite_score"] == APPROX(SCORE_D2, abs=1e-9)
    # Each score is exactly the sum of its contributions; D2's indicators without a value have none.
    for row in rows.values():
        assert sum(v for v in row["contributions"].values() if v is not None) == APPROX(row["composite_score"], abs=1e-9)
    assert rows["D2"]["contributions"]["bad_rectified_due_rate"] is None
    assert rows["D2"]["contributions"]["on_time_rate"] == APPROX(20 * 0.5 * 100 / 75)
    # Departments are ranked within their own government (region): one each here.
    assert rows["D1"]["peer_group"] == scenario.QD and rows["D1"]["rank"] == 1


def test_region_roll_ups_follow_code_prefixes_and_rank_province_wide(home):
    cities = metrics_json(home, "region:city")
    assert set(cities) == {"370100000000", "370200000000"}
    assert_indicators(cities["370200000000"], D1)
    assert_indicators(cities["370100000000"], D2)
    assert cities["370100000000"]["rank"] == 1 and cities["370200000000"]["rank"] == 2
    assert cities["370200000000"]["peers"] == 2 and not cities["370200000000"]["bottom_two"]  # < 3 peers
    counties = metrics_json(home, "region:county")
    assert_indicators(counties[scenario.QD], D1)
    province = metrics_json(home, "region:province")
    assert_indicators(province["370000000000"], ALL)


#: The keys of an `hcp metrics --format json` record (the contract: a key may be added, none removed or renamed).
CONTRACT_KEYS = {
    "group", "name", "cases_completed", "on_time_rate", "overdue_completed", "avg_net_working_days", "same_day_rate",
    "zero_trip_rate", "max_one_trip_rate", "online_rate", "ratings", "good_rate", "bad_count", "bad_rate",
    "rating_coverage", "bad_rectified_rate", "bad_rectified_on_time_rate", "revisit_rate", "bad_due",
    "bad_overdue_unrectified", "bad_in_progress", "bad_rectified_due_rate", "bad_rectified_on_time_due_rate",
    "revisit_due_rate", "inconsistent_cases", "depth3plus_item_rate", "immediate_item_rate", "zero_trip_item_rate",
    "limit_compression", "composite_score", "rank_status", "rank", "peer_group", "peers", "bottom_two",
    "bottom_two_consecutive", "contributions", "counts",
}
CONTRACT_COUNTS = {
    "bad_assessed_n", "bad_count", "bad_due", "bad_in_progress", "bad_overdue_unrectified", "bad_rectified_n",
    "bad_rectified_on_time_n", "cases_completed", "depth3plus_items", "good_n", "immediate_items",
    "inconsistent_cases", "items", "legal_sum", "max_one_trip_n", "net_days_n", "net_days_sum", "on_time_n",
    "online_n", "overdue_completed", "promised_sum", "rated_n", "ratings", "real_name_bad_assessed_n",
    "real_name_bad_n", "real_name_bad_revisited_n", "same_day_n", "timed_n", "zero_trip_items", "zero_trip_n",
}


def test_the_json_records_keep_their_keys(home):
    for row in metrics_json(home, "dept").values():
        assert CONTRACT_KEYS <= set(row) and set(row) - CONTRACT_KEYS <= {"overdue_rate"}
        assert set(row["counts"]) == CONTRACT_COUNTS
    # overdue_rate is 1 − on_time_rate over the same base (the completed cases that can be timed).
    row = metrics_json(home, "all")["all"]
    assert row["overdue_rate"] == APPROX(1 - row["on_time_rate"], abs=1e-12)
    assert row["overdue_rate"] == APPROX(row["counts"]["overdue_completed"] / row["counts"]["timed_n"], abs=1e-12)


def test_by_item_and_counts_explain_every_rate(home):
    items = metrics_json(home, "item")
    assert items["ITEM0"]["cases_completed"] == 2 and items["ITEM0"]["same_day_rate"] == 0.5
    assert items["ITEM0"]["counts"]["same_day_n"] == 1
    assert items["ITEM5"]["counts"]["on_time_n"] == 1 and items["ITEM5"]["cases_completed"] == 2
    # ITEM2 completed nothing in October: every case rate is null, never 0.
    assert items["ITEM2"]["cases_completed"] == 0 and items["ITEM2"]["on_time_rate"] is None


def test_a_date_range_and_an_empty_period(home):
    first_half = metrics_json(home, "all", "2025-10-01..2025-10-15")["all"]
    # Completed Oct 1–15: A, B (Oct 11), F1 (Oct 9), F2 (Oct 10); C was completed Oct 17.
    assert first_half["cases_completed"] == 4 and first_half["on_time_rate"] == APPROX(2 / 4)
    # January 2024: no case completed and no rating, but the catalogue was in force (valid from 2024-01-01).
    empty = metrics_json(home, "all", "2024-01")["all"]
    assert (empty["cases_completed"], empty["ratings"]) == (0, 0)
    assert empty["on_time_rate"] is None and empty["good_rate"] is None
    # The catalogue has figures, but a period without a completed case or a rating has no score, no rank.
    assert empty["depth3plus_item_rate"] == APPROX(3 / 4)
    assert (empty["composite_score"], empty["rank"], empty["rank_status"]) == (None, None, "no_data")
    result = run_hcp("metrics", "--period", "2024-01", "--format", "json", env={"HCP_HOME": str(home)}, check=True)
    assert "期间 2024-01 没有数据" in result.stderr  # stdout stays the JSON contract
    table = run_hcp("--lang", "en", "metrics", "--period", "2024-01", env={"HCP_HOME": str(home)}, check=True)
    assert table.stdout.startswith("Period 2024-01 has no data") and "no data" in table.stdout


def flags_json(home, as_of: str) -> dict[str, dict]:
    result = run_hcp("flags", "--as-of", as_of, "--format", "json", env={"HCP_HOME": str(home)}, check=True)
    return {row["case_id"]: row for row in json.loads(result.stdout)}


def test_flags_red_and_yellow_as_of_an_instant(home):
    # Oct 10 12:00: A is due today (D Oct 10) → yellow with 0 left; X not yet accepted; K suspended → neither.
    early = flags_json(home, "2025-10-10T12:00:00+08:00")
    assert early["A"]["flag"] == "yellow" and early["A"]["working_days_left"] == 0
    assert early["A"]["deadline"] == "2025-10-10" and early["A"]["overdue_working_days"] is None
    assert "K" not in early and "X" not in early and "C" not in early  # C suspended (clock stopped)
    # Oct 11 09:00 (before A's completion at 11:00): A is red, 1 working day over (Sat Oct 11 make-up).
    assert flags_json(home, "2025-10-11T09:00:00+08:00")["A"] == {
        "case_id": "A", "flag": "red", "deadline": "2025-10-10", "overdue_working_days": 1,
        "working_days_left": None, "dept_code": "D1", "item_code": "ITEM5", "region_code": scenario.QD}
    # Oct 29: X (D Oct 30) yellow, 1 left; M passed its deadline Oct 23 before being suspended → red, 4 over
    # (Oct 24, 27, 28, 29); K has been suspended since before its deadline → neither.
    late = flags_json(home, "2025-10-29T10:00:00")
    assert late["X"]["flag"] == "yellow" and late["X"]["working_days_left"] == 1
    assert late["M"]["flag"] == "red" and late["M"]["overdue_working_days"] == 4
    assert "K" not in late and "A" not in late
    assert list(late) == ["M", "X"]  # red first


def test_metrics_table_and_csv_are_human_and_machine_readable(home):
    table = run_hcp("metrics", "--period", "2025-10", "--by", "dept", env={"HCP_HOME": str(home)}, check=True).stdout
    assert "按时办结率" in table and "66.67%" in table and "青岛市市南区市场监督管理局" in table
    english = run_hcp("--lang", "en", "metrics", "--period", "2025-10", env={"HCP_HOME": str(home)}, check=True).stdout
    assert "on-time rate" in english and "60.00%" in english
    csv = run_hcp("metrics", "--period", "2025-10", "--by", "dept", "--format", "csv", env={"HCP_HOME": str(home)}, check=True).stdout
    header = csv.splitlines()[0].split(",")
    assert header[0] == "group" and "on_time_rate" in header and "composite_score" in header
    # The table fits a terminal: the key figures by default, every column on request, rank among peers.
    assert max(len(line) for line in table.splitlines()) < 200
    assert "三级及以上网办深度事项占比" not in table and "1/1" in table
    wide = run_hcp("metrics", "--period", "2025-10", "--by", "dept", "--columns", "all",
                   env={"HCP_HOME": str(home)}, check=True).stdout
    assert "三级及以上网办深度事项占比" in wide
    picked = run_hcp("--lang", "en", "metrics", "--period", "2025-10", "--columns", "same_day_rate,rank",
                     env={"HCP_HOME": str(home)}, check=True).stdout
    assert "same-day rate" in picked and "on-time rate" not in picked
    bad = run_hcp("metrics", "--period", "2025-10", "--columns", "nonsense", env={"HCP_HOME": str(home)})
    assert bad.returncode == 2 and "nonsense" in bad.stderr


def test_flags_table_names_the_units_and_keeps_days_over_and_left_apart(home):
    out = run_hcp("--lang", "en", "flags", "--as-of", "2025-10-29T10:00:00", env={"HCP_HOME": str(home)},
                  check=True).stdout
    lines = out.splitlines()
    assert lines[0] == "as of 2025-10-29 10:00: 1 red, 1 yellow"
    assert "working days over" in lines[1] and "working days left" in lines[1]
    m = next(line for line in lines if line.startswith("M "))
    x = next(line for line in lines if line.startswith("X "))
    # M: red, 4 over, nothing left; X: yellow, nothing over, 1 left; the department by name.
    assert m.split()[1:5] == ["red", "2025-10-23", "4", "—"] and "青岛市市南区市场监督管理局" in m
    assert x.split()[1:5] == ["yellow", "2025-10-30", "—", "1"]
