"""The dashboard tells the truth at a glance, on a small hand-worked province (AppTest, the real metrics job):

* it opens on the last complete month; the month in progress is labelled as such; a month that only an
  inconsistent case created is no period;
* the ranking shows ranked units, 样本不足 units and the talk list apart;
* the drill-down shows 本级 explicitly and the children add up to the parent;
* a change of zero is neutral; 逾期未整改 is red and 整改中 neutral with the working days left;
* the data-quality page lists an inconsistent case in scope and not out of it.

The province (config: a unit is ranked with 2 cases or 2 ratings; bottom two in peer groups of 3 or more):

    山东省 370000000000   P1 (省本级部门)
    济南市 370100000000   J0 (市本级部门)
      历下区 370102000000  L1 L2 L3 L4 L5 L6
    青岛市 370200000000
      市南区 370202000000  Q1

Every case: accepted on a Monday, promised 5 working days, hall, no trip. September: accepted Mon Sep 1 →
deadline Mon Sep 8 (on time: completed Sep 4; overdue: Sep 12). October: accepted Mon Oct 13 → Mon Oct 20
(on time Oct 16; overdue Oct 24). Score = (20 × on-time rate + 10 zero-trip + 5 depth) × 100 / 60 (online,
same-day and coverage are 0 for all; no rating in 历下区): 58.33 for all on time, 47.22 for 2/3, 36.11 for 1/3,
25 for none. The bottom two must also score 2 points or more below their group's median.

| month | L1 | L2 | L3 | L4 | L6 | ranked (历下区) | median | bottom two |
|---|---|---|---|---|---|---|---|---|
| 2025-09 | 1/3 on time | 2/3 | 0/3 | 3/3 | — | 4 | 41.67 | L1, L3 |
| 2025-10 | 3/3 | 2/3 | 0/3 | 1 case: 样本不足 | 3/3 | 4 | 52.78 | L2, L3 → L3 两月连续：约谈 |

L5 has items but no case: no data. October also: P1 2 cases, J0 2, Q1 2 (on time) and the inconsistent
case BAD2 (completed before it was accepted: left out); BAD1 (L2) was submitted Oct 20 and "completed"
Aug 15: it alone makes August, which is therefore no period. November: one case of L1 completed, one of
Q1 accepted Thu Nov 6 (the newest event): November is in progress, so the dashboard opens on October.

Q1's October ratings, the metrics computed at Thu Nov 6 12:00 (rectification limit 15 working days):
qr1 level 1 Wed Oct 15 → due Wed Nov 5, not rectified: 逾期未整改; qr2 level 2 Tue Oct 28 → due Tue Nov 18:
整改中, 8 working days left (Nov 7, 10–14, 17, 18); qr4 level 2 Oct 16, rectified Oct 20; qr3 level 5.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import labels as L
from tests.builders import events_frame, followup, followups_frame, items_frame, lifecycle, rating, ratings_frame
from tests.dashboard_support import PASSWORD, home_env
from warehouse.client import SHANGHAI
from hcp.scope import Scope

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")
CONFIG = "[ranking]\nmin_cases = 2\nmin_ratings = 2\nbottom_min_peers = 3\n"
PROVINCE, JINAN, LIXIA, QINGDAO, SHINAN = "370000000000", "370100000000", "370102000000", "370200000000", "370202000000"
DEPTS = {"P1": ("山东省发展和改革委员会", PROVINCE), "J0": ("济南市行政审批服务局", JINAN),
         "L1": ("历下区市场监督管理局", LIXIA), "L2": ("历下区人力资源和社会保障局", LIXIA), "L3": ("历下区民政局", LIXIA),
         "L4": ("历下区卫生健康局", LIXIA), "L5": ("历下区教育局", LIXIA), "L6": ("历下区司法局", LIXIA), "Q1": ("市南区市场监督管理局", SHINAN)}
USERS = {
    "province": dict(role="province", name="山东省政务服务管理办公室", region=PROVINCE),
    "jinan": dict(role="region", name="济南市政务服务管理办公室", region=JINAN),
    "qingdao": dict(role="region", name="青岛市政务服务管理办公室", region=QINGDAO),
    "l1": dict(role="dept", name=DEPTS["L1"][0], dept="L1"),
    "l2": dict(role="dept", name=DEPTS["L2"][0], dept="L2"),
    "q1": dict(role="dept", name=DEPTS["Q1"][0], dept="Q1"),
}
#: When the metrics are computed (and so when due-ness is judged).
COMPUTED = dt.datetime(2025, 11, 6, 12, 0, tzinfo=SHANGHAI)


def cases(dept: str, month: str, on_time: int, overdue: int) -> list[dict]:
    accepted, done, late = {"09": ("2025-09-01", "2025-09-04 10:00", "2025-09-12 10:00"),
                            "10": ("2025-10-13", "2025-10-16 10:00", "2025-10-24 10:00")}[month]
    where = {"dept": dept, "region": DEPTS[dept][1], "item": f"I{dept}"}
    rows = []
    for i in range(on_time + overdue):
        rows += lifecycle(f"{dept}-{month}-{i}", accepted, completed=done if i < on_time else late, **where)
    return rows


def events() -> pl.DataFrame:
    from tests.builders import event

    rows = [
        *cases("L1", "09", 1, 2), *cases("L2", "09", 2, 1), *cases("L3", "09", 0, 3), *cases("L4", "09", 3, 0),
        *cases("L1", "10", 3, 0), *cases("L2", "10", 2, 1), *cases("L3", "10", 0, 3), *cases("L4", "10", 1, 0),
        *cases("L6", "10", 3, 0),
        *cases("P1", "10", 2, 0), *cases("J0", "10", 2, 0), *cases("Q1", "10", 2, 0),
        *lifecycle("L1-11", "2025-11-03", completed="2025-11-04 10:00", dept="L1", region=LIXIA, item="IL1"),
        *lifecycle("Q1-open", "2025-11-06", dept="Q1", region=SHINAN, item="IQ1"),
    ]
    bad = {"dept": "L2", "region": LIXIA, "item": "IL2"}
    rows += [event("BAD1", "submitted", "2025-10-20 09:00", **bad), event("BAD1", "accepted", "2025-10-20 09:30", **bad),
             event("BAD1", "completed", "2025-08-15 10:00", **bad)]
    bad = {"dept": "Q1", "region": SHINAN, "item": "IQ1"}
    rows += [event("BAD2", "submitted", "2025-10-14 09:00", **bad), event("BAD2", "accepted", "2025-10-15 10:00", **bad),
             event("BAD2", "completed", "2025-10-14 16:00", **bad)]
    return events_frame(rows)


def load(wh) -> None:
    wh.insert_df("regions", pl.DataFrame({
        "region_code": [PROVINCE, JINAN, LIXIA, QINGDAO, SHINAN],
        "region_name": ["山东省", "济南市", "历下区", "青岛市", "市南区"],
        "parent_code": ["", PROVINCE, JINAN, PROVINCE, QINGDAO],
    }))
    wh.insert_df("departments", pl.DataFrame({
        "dept_code": list(DEPTS), "dept_name": [n for n, _ in DEPTS.values()], "region_code": [r for _, r in DEPTS.values()]}))
    wh.insert_df("items", items_frame({f"I{d}": (5, 10, 4, 0, d, "2024-01-01") for d in DEPTS}))
    wh.insert_df("case_events", events())
    q1 = {"dept": "Q1", "region": SHINAN, "item": "IQ1"}
    wh.insert_df("ratings", ratings_frame([
        rating("qr1", "Q1-10-0", 1, "2025-10-15 10:00", real_name=True, **q1),
        rating("qr2", "Q1-10-1", 2, "2025-10-28 10:00", **q1),
        rating("qr3", "Q1-10-0", 5, "2025-10-16 11:00", **q1),
        rating("qr4", "Q1-10-1", 2, "2025-10-16 10:00", **q1),
    ]))
    wh.insert_df("followups", followups_frame([followup("qr4", "verified", "2025-10-17 10:00", reason="attitude"),
                                              followup("qr4", "rectified", "2025-10-20 10:00")]))


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    from dashboard import auth, ui
    from metrics.jobs import MetricsJob
    from warehouse import open_warehouse
    from warehouse.migrations import ensure_schema

    path = tmp_path_factory.mktemp("dash-truth")
    (path / "config.toml").write_text(CONFIG, encoding="utf-8")
    with home_env(path):
        wh = open_warehouse()
        try:
            ensure_schema(wh)
            load(wh)
            MetricsJob(wh, clock=lambda: COMPUTED).run(full=True)
        finally:
            wh.close()
        for username, spec in USERS.items():
            auth.add_user(auth.User(username=username, **spec), PASSWORD, replace=True)
        yield path
        ui.close_warehouse()


def app(user: str, page: str = "overview", **params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["username"] = user
    at.query_params.update(params)
    at.run()
    if page != "overview":
        at.switch_page(f"views/{page}.py")
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def tiles(at: AppTest) -> dict:
    return {m.label: m for m in at.metric}


def test_it_opens_on_the_last_complete_month_and_offers_only_months_with_data(home):
    at = app("province")
    assert at.query_params.get("period") == "2025-10"  # November is not over: data end on Nov 6
    picker = at.selectbox(key="w_period")
    # Newest first; August (only the inconsistent BAD1 "completed" then) is no period.
    assert picker.options == ["2025-11（截至 11-06）", "2025-10", "2025-09", "自定义日期范围"]
    assert picker.value == "2025-10"
    assert tiles(at)["办结量"].value == "19"  # P1 2 + J0 2 + 历下区 13 + Q1 2; BAD2 left out
    november = app("province", period="2025-11")
    assert any("不满一月" in c.value and "2025-11-06" in c.value for c in november.caption)
    trend = november.get("plotly_chart")[0].proto.spec
    assert '"2025-08"' not in trend and '"2025-09"' in trend


def test_a_month_without_data_shows_a_note_not_a_page_of_dashes(home):
    at = app("province", period="2025-08")
    assert at.selectbox(key="w_period").value is None  # never added to the picker
    assert any("2025-08 没有办结的办件，也没有评价：无得分、不排名" in i.value for i in at.info)
    assert not at.metric and not at.dataframe
    ranking = app("province", "ranking", period="2025-08")
    assert not ranking.tabs and any("无得分、不排名" in i.value for i in ranking.info)
    # A department with no case and no rating in a month with data: a note, no tiles of dashes.
    l5 = app("province", dept="L5", period="2025-10")
    assert any("无得分、不排名" in i.value for i in l5.info)
    assert "办结量" not in tiles(l5) and "三级及以上网办深度事项占比" in tiles(l5)


def test_the_ranking_shows_ranked_small_sample_and_talk_list_apart(home):
    at = app("province", "ranking", period="2025-10")
    assert [t.label for t in at.tabs] == ["参与排名（7）", "样本不足（1）", ":red[约谈名单（1）]"]
    # 参与排名: the province office's own departments first; then 历下区's three ranked departments.
    assert at.dataframe[0].value["group_code"].tolist() == ["P1"]
    at.selectbox(key="rank_peers_dept").set_value(LIXIA).run()
    ranked = at.dataframe[0].value
    assert ranked["group_code"].tolist() == ["L1", "L6", "L2", "L3"] and ranked["rank"].tolist() == [1, 1, 3, 4]
    assert ranked["mark"].tolist() == ["", "", "末位", "约谈"]  # L2 bottom two in October only; L3 both months
    assert ranked["composite_score"].tolist() == [pytest.approx(58.33), pytest.approx(58.33), pytest.approx(47.22),
                                                  pytest.approx(25.0)]
    # 样本不足: L4 with its figures, no score and no rank; L5 (no data) counted apart.
    small = at.dataframe[1].value
    assert small["group_code"].tolist() == ["L4"] and small["cases_completed"].tolist() == [1]
    assert "rank" not in small.columns and "composite_score" not in small.columns
    assert any("另有 1 个单位" in e.label for e in at.expander)
    talk = at.dataframe[2].value
    assert talk["group_code"].tolist() == ["L3"] and talk["rank_of"].tolist() == ["4 / 4"]
    for frame in at.dataframe:
        assert "None" not in frame.value.astype(str).to_string()


def test_the_ranking_of_governments_own_level(home):
    at = app("province", "ranking", period="2025-10", level="region:own")
    assert at.dataframe[0].value["name"].tolist() == ["济南市本级"]  # the cities' own levels (青岛市本级 has none)
    at.selectbox(key="rank_peers_region:own").set_value("*").run()
    assert at.dataframe[0].value["name"].tolist() == ["山东省本级", "济南市本级"]  # tied: by code


def test_the_drill_down_shows_the_own_level_and_the_children_add_up(home):
    at = app("province", "drill", period="2025-10")
    rows = at.dataframe[0].value
    assert rows["name"].tolist() == ["济南市", "青岛市", "山东省本级"]
    assert rows["cases_completed"].tolist() == [15, 2, 2]
    assert sum(rows["cases_completed"]) == int(tiles(app("province", period="2025-10"))["办结量"].value)
    assert at.dataframe[1].value["group_code"].tolist() == ["P1"]  # 山东省本级部门
    # Into 济南市: its county and 济南市本级 add up to the city.
    at.session_state[at.dataframe[0].key] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert at.query_params.get("region") == JINAN
    rows = at.dataframe[0].value
    assert rows["name"].tolist() == ["历下区", "济南市本级"] and rows["cases_completed"].tolist() == [13, 2]
    assert at.dataframe[1].value["group_code"].tolist() == ["J0"]
    # A click on the 本级 row goes nowhere (its departments are listed below).
    at.session_state[at.dataframe[0].key] = {"selection": {"rows": [1], "columns": [], "cells": []}}
    at.run()
    assert at.query_params.get("region") == JINAN and not at.exception


def test_a_change_of_zero_is_neutral(home):
    at = app("l1", period="2025-10")
    zero = tiles(at)["零跑腿率"]  # 100% in September and in October
    assert zero.value == "100.00%" and zero.delta == "0.00 个百分点"
    assert zero.proto.color == zero.proto.MetricColor.GRAY and zero.proto.direction == zero.proto.MetricDirection.NONE
    on_time = tiles(at)["按时办结率"]  # 1/3 → 3/3
    assert on_time.delta == "+66.67 个百分点" and on_time.proto.color == on_time.proto.MetricColor.GREEN
    assert tiles(at)["排名"].value == "1 / 4"


def test_overdue_unrectified_is_red_and_in_progress_neutral_with_working_days_left(home):
    at = app("q1", period="2025-10")
    shown = tiles(at)
    assert shown[f":red[{L.indicator('zh', 'bad_overdue_unrectified')}]"].value == "1"
    assert shown["到期差评"].value == "1" and shown["整改中"].value == "1"
    assert any(c.value == "剩 8 个工作日" for c in at.caption)
    ratings = app("q1", "ratings", period="2025-10")
    assert any("按指标计算日 2025-11-06 判断" in c.value for c in ratings.caption)
    # The due rate's base, stated as the bulletin states it: qr1 due (Nov 5 < Nov 6) and qr4 rectified on Oct 20,
    # within its limit (due Nov 6, not yet passed) — 1 rectified of 2 assessed.
    assert tiles(ratings)["到期差评整改率"].value == "50.00%"
    assert any(c.value == "基数 2 件：到期 1 件 + 期限内已整改 1 件" for c in ratings.caption)
    ratings.radio(key="ratings_view").set_value("period").run()
    table = ratings.dataframe[0].value.set_index("rating_id")
    assert table.loc["qr1", "rectify_status"] == "🔴 逾期未整改"
    assert table.loc["qr2", "rectify_status"] == "整改中（剩 8 个工作日）" and str(table.loc["qr2", "rectify_due"])[:10] == "2025-11-18"
    assert table.loc["qr4", "rectify_status"] == "已整改"


@pytest.mark.parametrize("user, shown, hidden", [
    ("province", {"BAD1", "BAD2"}, set()),
    ("jinan", {"BAD1"}, {"BAD2"}),
    ("qingdao", {"BAD2"}, {"BAD1"}),
    ("l2", {"BAD1"}, {"BAD2"}),
    ("l1", set(), {"BAD1", "BAD2"}),
])
def test_the_data_quality_page_lists_inconsistent_cases_in_scope_only(home, user, shown, hidden):
    at = app(user, "quality", period="2025-10")
    listed = set(at.dataframe[-1].value["case_id"]) if at.dataframe else set()
    assert listed == shown and not listed & hidden
    if not shown:
        assert any("本期没有数据矛盾的办件" in s.value for s in at.success)
    if user == "province":
        by_dept = at.dataframe[0].value
        assert sorted(by_dept["dept_code"]) == ["L2", "Q1"] and by_dept["cases"].tolist() == [1, 1]
        problems = at.dataframe[1].value.set_index("case_id")["problem"]
        assert problems["BAD1"] == "办结早于申报" and problems["BAD2"] == "办结早于受理"
        downloads = [d.proto.label for d in at.get("download_button")]
        assert downloads == ["下载 CSV", "下载 Excel"] * 2  # both tables, as shown, for correction


@pytest.mark.parametrize("grouping", ["region:province", "region:city", "region:county", "region:own", "dept"])
def test_live_case_figures_group_by_level_as_the_stored_run(home, grouping):
    """A date range covering October goes through the live SQL path: its case figures (inconsistent cases
    left out and counted, a higher government's own work in no lower group) equal the stored rows."""
    from dashboard import data
    from warehouse import open_warehouse

    keys = ["cases_completed", "on_time_rate", "overdue_completed", "zero_trip_rate", "inconsistent_cases", "ratings"]
    with home_env(home):
        from dashboard import ui

        ui.close_warehouse()
        wh = open_warehouse()
        try:
            scope = Scope("province", "37")
            stored = data.stored_groups(wh, scope, "2025-10", grouping).sort("group_code")
            live = data.live_groups(wh, scope, data.Filters("2025-10-01..2025-10-31"), grouping).sort("group_code")
        finally:
            wh.close()
    assert stored.select("group_code", *keys).to_dicts() == live.select("group_code", *keys).to_dicts()
    if grouping == "region:city":
        assert stored["group_code"].to_list() == [JINAN, QINGDAO]  # 山东省本级 (P1) is in no city
    if grouping == "region:own":
        assert stored.filter(pl.col("group_code") == PROVINCE)["cases_completed"].to_list() == [2]


def test_the_period_choice_at_the_turn_of_a_month():
    from dashboard.data import data_instant, period_choice

    months = ["2025-11", "2025-10", "2025-09"]
    assert period_choice(months, dt.datetime(2025, 11, 6, 9, 31, tzinfo=SHANGHAI)).default == "2025-10"
    assert period_choice(months, dt.datetime(2025, 11, 6, 9, 31, tzinfo=SHANGHAI)).in_progress == "2025-11"
    at_midnight = period_choice(months, dt.datetime(2025, 12, 1, 0, 0, tzinfo=SHANGHAI))  # November is over
    assert at_midnight.default == "2025-11" and at_midnight.in_progress is None
    assert period_choice(["2025-11"], dt.datetime(2025, 11, 6, tzinfo=SHANGHAI)).default == "2025-11"  # nothing else
    assert period_choice([], dt.datetime(2025, 11, 6, tzinfo=SHANGHAI)).default is None
    # Past data: "now" is the newest event, rounded up to the minute (an event at 23:59:30 ends the month).
    now = dt.datetime(2026, 12, 1, 21, 0, tzinfo=SHANGHAI)
    assert data_instant(now, dt.datetime(2025, 11, 30, 23, 59, 30, tzinfo=SHANGHAI)) == \
        dt.datetime(2025, 12, 1, 0, 0, tzinfo=SHANGHAI)
    assert data_instant(now, now - dt.timedelta(days=1)) == now  # live data: now
