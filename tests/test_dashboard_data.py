"""The dashboard's data layer on the hand-worked October 2025 province: the same figures as `hcp metrics`
(stored and live), red and yellow cards equal to `hcp flags`, and scopes enforced in SQL — a department or a
city office reads nothing of another unit through any function or parameter."""

from __future__ import annotations

import datetime as dt
import re

import polars as pl
import pytest

from dashboard import data
from dashboard.data import Filters
from hcp.scope import NotPermitted, Scope
from metrics.flags import flags_as_of
from metrics.indicators import INDICATOR_KEYS
from tests import scenario_oct2025 as scenario
from tests.dashboard_support import build_home, home_env
from tests.test_metrics_indicators import ALL, D1, D2
from warehouse import open_warehouse
from warehouse.client import SHANGHAI

OCT = Filters("2025-10")
PROVINCE = Scope("province")
QINGDAO = Scope("region", region_prefix="3702")
DEPT1 = Scope("dept", dept_code="D1")
DEPT2 = Scope("dept", dept_code="D2")


@pytest.fixture(scope="module")
def wh(tmp_path_factory):
    home = build_home(tmp_path_factory.mktemp("dash-data"))
    with home_env(home):
        warehouse = open_warehouse()
        yield warehouse
        warehouse.close()


def close(value, expected):
    if expected is None:
        return value is None
    return value is not None and abs(value - expected) < 1e-12


def assert_figures(row: dict, expected: dict) -> None:
    for key, value in expected.items():
        assert close(row[key], value), (key, row[key], value)


def test_unit_rows_are_the_figures_of_hcp_metrics(wh):
    assert_figures(data.unit_row(wh, PROVINCE, OCT), ALL)
    d1 = data.unit_row(wh, DEPT1, OCT)
    assert_figures(d1, D1)
    # Below the default minimum volume both departments are 样本不足: figures, no score (their hand-worked
    # scores, SCORE_D1 and SCORE_D2, are checked with a small minimum in test_metrics_indicators).
    assert (d1["rank_status"], d1["composite_score"]) == ("small_sample", None)
    assert data.unit_row(wh, DEPT2, OCT)["composite_score"] is None
    assert_figures(data.unit_row(wh, QINGDAO, OCT), D1)  # Qingdao's only department is D1
    assert_figures(data.unit_row(wh, Scope("region", region_prefix="370102"), OCT), D2)


@pytest.mark.parametrize("grouping", ["all", "region:province", "region:city", "region:county", "region:own", "dept", "item"])
def test_live_computation_equals_the_stored_run(wh, grouping):
    """A date range covering the month exactly goes through the live path: every count, rate, score and rank
    must equal the stored row."""
    stored = data.stored_groups(wh, PROVINCE, "2025-10", grouping).sort("group_code")
    live = data.live_groups(wh, PROVINCE, Filters("2025-10-01..2025-10-31"), grouping).sort("group_code")
    assert stored["group_code"].to_list() == live["group_code"].to_list()
    for key in [*INDICATOR_KEYS, "composite_score", "rank_status", "rank", "peers", "bottom_two"]:
        for a, b in zip(stored[key].to_list(), live[key].to_list()):
            assert (a is None and b is None) or a == pytest.approx(b, abs=1e-12), (grouping, key, a, b)


@pytest.mark.parametrize("filters", [OCT, Filters("2025-10", channel="online"), Filters("2025-10", channel="hall")])
def test_months_computed_live_at_once_equal_each_month_computed_alone(wh, filters):
    """A live trend reads the inputs of all its months at once, then counts each month alone: every figure
    of every month equals that month computed by itself, in every grouping and scope."""
    from dataclasses import replace

    from polars.testing import assert_frame_equal

    from hcp.periods import Period

    months = [Period.parse(label) for label in sorted(data.periods(wh))]
    assert len(months) >= 2
    points: list[dict] = []
    for scope in (PROVINCE, Scope("region", region_prefix="3702"), Scope("dept", dept_code="D2")):
        for grouping in ("all", "region:city", "region:own", "dept", "item"):
            together = data.live_groups_of(wh, scope, filters, grouping, months)
            for month in months:
                alone = data.live_groups(wh, scope, replace(filters, period=month.label), grouping)
                assert_frame_equal(together[month.label], alone, check_dtypes=False)
        trend = data.unit_trend(wh, scope, filters)
        expected = [row for month in months
                    if (row := data.unit_row(wh, scope, replace(filters, period=month.label))) is not None
                    and (row["cases_completed"] or row["ratings"])]
        assert trend.to_dicts() == expected
        points.extend(expected)
    # Figures in both months (without a channel), and ratings: the inputs really were read together and split.
    if not filters.channel:
        assert {row["period"] for row in points if row["cases_completed"]} == {m.label for m in months}
    assert any(row["ratings"] for row in points)


def test_filters_by_channel_and_item_type_compute_live(wh):
    # Completed in October through online or mobile: B (on time), C (on time), F2 (overdue).
    online = data.unit_row(wh, PROVINCE, Filters("2025-10", channel="online"))
    assert online["cases_completed"] == 2 and online["on_time_rate"] == pytest.approx(1 / 2)  # B, F2
    hall = data.unit_row(wh, PROVINCE, Filters("2025-10", channel="hall"))
    assert hall["cases_completed"] == 2 and hall["on_time_rate"] == pytest.approx(1 / 2)  # A overdue, F1 on time
    # Ratings follow the channel of their case: hall cases A and F1 carry r1, r8 (A) — r4 (F1) is a default.
    assert hall["ratings"] == 2 and hall["bad_count"] == 2
    nothing = data.unit_row(wh, PROVINCE, Filters("2025-10", item_type="公共服务"))
    assert nothing is None or nothing["cases_completed"] == 0


def test_date_range_is_live(wh):
    first_half = data.unit_row(wh, PROVINCE, Filters("2025-10-01..2025-10-15"))
    assert first_half["cases_completed"] == 4 and first_half["on_time_rate"] == pytest.approx(2 / 4)


@pytest.mark.parametrize("instant", ["2025-10-10T12:00", "2025-10-11T09:00", "2025-10-29T10:00", "2025-10-20T10:00"])
def test_open_flags_equal_hcp_flags(wh, instant):
    as_of = dt.datetime.fromisoformat(instant).replace(tzinfo=SHANGHAI)
    expected = flags_as_of(wh, as_of, 2)
    mine = data.open_flags(wh, PROVINCE, OCT, as_of, 2)
    assert mine.to_dicts() == expected.to_dicts()
    d1 = data.open_flags(wh, DEPT1, OCT, as_of, 2)
    assert d1.to_dicts() == expected.filter(pl.col("dept_code") == "D1").to_dicts()


def test_the_yellow_horizon_keeps_every_case_that_can_be_flagged(wh):
    # X (ITEM2, accepted Tue Oct 28, deadline Thu Oct 30): yellow from Oct 28 with 2 left.
    as_of = dt.datetime(2025, 10, 28, 18, 0, tzinfo=SHANGHAI)
    flags = data.open_flags(wh, PROVINCE, OCT, as_of, 2)
    assert flags.filter(pl.col("case_id") == "X")["working_days_left"].to_list() == [2]


def test_case_detail_timeline_and_its_ratings(wh):
    case = data.case_detail(wh, DEPT1, "C")
    assert case["facts"]["deadline"] == dt.date(2025, 10, 20) and case["facts"]["on_time"] is True
    assert case["events"]["event_type"].to_list() == ["submitted", "accepted", "suspended", "resumed", "completed",
                                                      "delivered"]
    assert case["stops"].height == 1 and case["stops"]["start"][0].date() == dt.date(2025, 10, 10)
    assert case["ratings"]["rating_id"].to_list() == ["r3"]
    assert case["followups"]["action"].to_list() == ["verified", "explained"]


# Scope enforcement -------------------------------------------------------------------------------------
def test_a_department_reads_nothing_of_another_department(wh):
    assert data.case_detail(wh, DEPT1, "F1") is None  # D2's case
    assert data.case_detail(wh, DEPT2, "A") is None
    assert set(data.cases(wh, DEPT1, OCT)["dept_code"]) == {"D1"}
    assert set(data.cases(wh, DEPT1, OCT, item="ITEM0")["case_id"]) == set()  # D2's item, through a parameter
    for grouping in ("dept", "item"):
        rows = data.groups(wh, DEPT1, OCT, grouping)
        assert set(rows["group_code"]) <= {"D1", "ITEM5", "ITEM3"}, grouping
    for grouping in ("all", "region:province", "region:city", "region:county"):
        assert data.groups(wh, DEPT1, OCT, grouping).height == 0, grouping  # regions include other units
        assert data.live_groups(wh, DEPT1, Filters("2025-10", channel="online"), grouping).height == 0
    assert data.unit_row(wh, DEPT1, Filters("2025-10", channel="online"))["cases_completed"] == 1  # B only
    flags = data.open_flags(wh, DEPT1, OCT, dt.datetime(2025, 10, 29, 10, tzinfo=SHANGHAI), 2)
    assert set(flags["dept_code"]) == {"D1"}
    loop = data.loop_rows(wh, DEPT2, OCT, dt.datetime(2025, 11, 30, tzinfo=SHANGHAI), period_only=False)
    assert set(loop["dept_code"]) <= {"D2"}
    assert not data.rating_in_scope(wh, DEPT2, "r1")
    assert data.departments_in_scope(wh, DEPT1)["dept_code"].to_list() == ["D1"]
    assert data.catalogue_items(wh, DEPT1, OCT, "D2").height == 0
    assert set(data.item_names(wh, DEPT1)) == {"ITEM5", "ITEM3"}


def test_narrowing_outside_the_scope_is_not_permitted(wh):
    with pytest.raises(NotPermitted):
        DEPT1.narrow(dept="D2")
    with pytest.raises(NotPermitted):
        QINGDAO.narrow(region="370100000000")
    with pytest.raises(NotPermitted):
        data.check_dept(wh, QINGDAO, "D2")  # a Jinan department
    with pytest.raises(NotPermitted):
        data.check_item(wh, DEPT1, "ITEM0")
    with pytest.raises(NotPermitted):
        data.check_region(wh, DEPT1, "370200000000")  # a department selects no region
    with pytest.raises(NotPermitted):
        data.loop_detail(wh, DEPT1, "r5")
    with pytest.raises(NotPermitted):
        data.record_loop_action(wh, DEPT1, "dept", "r5", "verified", "someone")  # another unit's rating
    with pytest.raises(NotPermitted):
        data.record_loop_action(wh, DEPT1, "dept", "r8", "appeal_upheld", "someone")  # not a department's step
    # A region above one's own leaves the scope unchanged; a region inside narrows it.
    assert QINGDAO.narrow(region="370000000000") == QINGDAO
    assert QINGDAO.narrow(region="370202000000").region_prefix == "370202"
    assert data.check_dept(wh, QINGDAO, "D1") == Scope("region", "3702", "D1")


def test_a_city_office_sees_its_subtree_only(wh):
    assert set(data.groups(wh, QINGDAO, OCT, "region:city")["group_code"]) == {"370200000000"}
    assert set(data.groups(wh, QINGDAO, OCT, "dept")["group_code"]) == {"D1"}
    assert set(data.cases(wh, QINGDAO, OCT)["region_code"]) == {scenario.QD}
    assert data.case_detail(wh, QINGDAO, "F2") is None
    assert set(data.regions_in_scope(wh, QINGDAO)["region_code"]) == {"370200000000", scenario.QD}


class Recording:
    """The real warehouse, with every SQL text it is sent kept for inspection."""

    def __init__(self, wh):
        self.wh, self.sql = wh, []
        self.display_dsn = wh.display_dsn

    def query_df(self, sql, parameters=None):
        self.sql.append(sql)
        return self.wh.query_df(sql, parameters)

    def query_rows(self, sql, parameters=None):
        return self.query_df(sql, parameters).rows()

    def query_value(self, sql, parameters=None):
        rows = self.query_rows(sql, parameters)
        return rows[0][0] if rows else None


def test_the_dashboard_never_selects_personal_pseudonyms(wh):
    """Only masked personal columns reach the UI: no query names a pseudonym or selects every column of a
    raw table, and no result carries one."""
    rec = Recording(wh)
    as_of = dt.datetime(2025, 10, 29, 10, tzinfo=SHANGHAI)
    results = [
        data.case_detail(rec, PROVINCE, "A"), data.cases(rec, PROVINCE, OCT),
        data.open_flags(rec, PROVINCE, OCT, as_of, 2), data.loop_rows(rec, PROVINCE, OCT, as_of, period_only=True),
        data.groups(rec, PROVINCE, Filters("2025-10", channel="hall"), "dept"), data.unit_trend(rec, PROVINCE, OCT),
    ]
    assert rec.sql
    for sql in rec.sql:
        for column in data.FORBIDDEN_COLUMNS:
            assert column not in sql, sql
        assert not re.search(r"SELECT\s+\*\s+FROM\s+(case_events|ratings)", sql, re.I), sql
    frames = [r for r in results if isinstance(r, pl.DataFrame)]
    frames += [v for v in results[0].values() if isinstance(v, pl.DataFrame)]
    for frame in frames:
        assert not set(frame.columns) & set(data.FORBIDDEN_COLUMNS)
        assert not [c for c in frame.columns if c.startswith(("applicant_", "rater_")) and not c.endswith(("_masked", "_type"))]


def test_recording_an_action_through_the_data_layer(wh):
    """A department verifies its own bad rating; the state machine of supervision/ decides what is next."""
    from supervision.loop import ActionRefused

    before = data.loop_detail(wh, DEPT1, "r8")["status"]
    assert "verified" in before["allowed_actions"]
    data.record_loop_action(wh, DEPT1, "dept", "r8", "verified", "d1", "attitude", "回访核实")
    after = data.loop_detail(wh, DEPT1, "r8")
    assert after["status"]["state"] == "verified"
    assert after["history"]["action"].to_list()[-1] == "verified"
    with pytest.raises(ActionRefused):
        data.record_loop_action(wh, DEPT1, "dept", "r8", "revisited", "d1")  # out of order


def test_the_queue_read_as_of_the_end_of_the_day_is_the_queue_read_now(wh):
    """The bad-rating page reads its queue as of the end of today, so that its cache holds until the data or
    the day changes: with nothing recorded later in the day than now, that is the queue as of now — every row,
    state, due date and overdue count the same (a step falls due by the date)."""
    now = dt.datetime.now(SHANGHAI)
    rounded = (now + dt.timedelta(minutes=1)).replace(second=0, microsecond=0)
    if rounded.date() != now.date():  # the test runs at 23:59: the next minute is tomorrow
        rounded = now
    day_end = dt.datetime.combine(now.date(), dt.time(23, 59, 59, 999000), SHANGHAI)
    for view in (False, True):
        at_now = data.loop_rows(wh, PROVINCE, OCT, rounded, period_only=view).sort("rating_id")
        at_day_end = data.loop_rows(wh, PROVINCE, OCT, day_end, period_only=view).sort("rating_id")
        assert at_now.height > 0 and at_now["overdue"].any()
        assert at_day_end.equals(at_now)


def test_a_live_trend_before_any_month_with_data_is_empty(wh):
    """A period before every stored month has no month to compute: a filtered trend is empty, not an error."""
    assert data.live_groups_of(wh, PROVINCE, Filters("2025-10", channel="online"), "all", []) == {}
    for filters in (Filters("2025-01", channel="online"), Filters("2025-01", item_type="许可")):
        assert data.unit_trend(wh, PROVINCE, filters).height == 0
        assert data.unit_trend(wh, DEPT1, filters).height == 0
