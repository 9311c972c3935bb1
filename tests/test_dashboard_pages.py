"""Every dashboard page for every role, through Streamlit's AppTest, on the hand-worked October 2025 province:
the figures shown are `hcp metrics`'s, clicks drill down and keep the place in the URL, crafted URLs cannot
reach another unit's data, and the bad-rating loop is worked from the page."""

from __future__ import annotations

from pathlib import Path

import json
import re

import pandas as pd
import polars as pl
import pytest
from streamlit.elements.lib.utils import user_key_from_element_id
from streamlit.testing.v1 import AppTest

from dashboard import labels as L
from dashboard import ui
from tests.dashboard_support import PASSWORD, USERS, build_home, cell_colours, home_env
from tests.test_metrics_indicators import ALL, D1
from tests.builders import rating, ratings_frame
from hcp.scope import Scope

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")
PAGES = ("overview", "ranking", "overdue", "ratings", "drill", "catalogue")
NOT_PERMITTED = "无权查看"


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    from dashboard import ui
    from warehouse import open_warehouse

    path = build_home(tmp_path_factory.mktemp("dash-pages"))
    with home_env(path):
        # One more bad rating for D1 (level 1, Oct 30), with no follow-up: the department appeals it below.
        wh = open_warehouse()
        # r11 (level 2, Oct 30, no follow-up) is worked through the form's refusals below.
        wh.insert_df("ratings", ratings_frame([rating("r10", "B", 1, "2025-10-30 10:00", item="ITEM3", real_name=True),
                                               rating("r11", "B", 2, "2025-10-30 11:00", item="ITEM3", real_name=True)]))
        wh.close()
        yield path
        ui.close_warehouse()  # the app opened the warehouse in this process


def app(user: str | None, page: str = "overview", **params) -> AppTest:
    """The app for a logged-in user (or the login form), on a page, at a URL."""
    at = AppTest.from_file(APP, default_timeout=60)
    if user:
        at.session_state["username"] = user
    at.query_params.update({"period": "2025-10", **params})
    at.run()
    if page != "overview":
        at.switch_page(f"views/{page}.py")
        at.run()
    return at


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [e.value for e in at.error]
    for frame in at.dataframe:
        parts.append(frame.value.to_csv())
    return "\n".join(str(p) for p in parts)


def chart_key(at: AppTest, index: int = 0) -> str:
    return user_key_from_element_id(at.get("plotly_chart")[index].proto.id)


def click_row(at: AppTest, frame_index: int, row: int) -> AppTest:
    at.session_state[at.dataframe[frame_index].key] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    return at.run()


def click_point(at: AppTest, chart_index: int, code: str) -> AppTest:
    at.session_state[chart_key(at, chart_index)] = {
        "selection": {"points": [{"customdata": code}], "point_indices": [0], "box": [], "lasso": []}}
    return at.run()


@pytest.mark.parametrize("user", ["province", "qingdao", "d1"])
def test_every_page_renders_for_every_role(home, user):
    for page in PAGES:
        at = ok(app(user, page))
        assert at.query_params.get("period") == "2025-10", page
        shown = texts(at) + "\n".join(metrics(at))
        if user != "province":  # nothing of Jinan (D2) on any page of a Qingdao office or of D1
            assert "济南市历下区行政审批服务局" not in shown and "F1" not in shown and "F2" not in shown, (user, page)


def test_overview_shows_the_figures_of_hcp_metrics(home):
    tiles = {key for _, keys in L.KPI_SECTIONS for key in keys}
    for user, expected in (("province", ALL), ("qingdao", D1), ("d1", D1)):
        shown = {label.removeprefix(":red[").removesuffix("]"): value for label, value in metrics(ok(app(user))).items()}
        for key, value in expected.items():
            if key in tiles:
                assert shown[L.indicator("zh", key)] == L.fmt_value(key, value), (user, key)
        # Every bad rating of October 2025 is long past its limit: the rates over due ratings are the plain ones.
        for key in ("bad_rectified_rate", "bad_rectified_on_time_rate", "revisit_rate"):
            due = key.replace("_rate", "_due_rate")
            assert shown[L.indicator("zh", due)] == L.fmt_value(key, expected[key]), (user, key)
    province = metrics(app("province"))
    assert province["按时办结率"] == "60.00%" and province["办结量"] == "5"


def test_the_overview_compares_with_the_previous_month_and_the_targets(home):
    at = ok(app("province"))
    on_time = next(m for m in at.metric if m.label == "按时办结率")
    assert on_time.delta == "-40.00 个百分点"  # September: Y on time, 100%
    assert any("未达标" in c.value and "90.00%" in c.value for c in at.caption)  # 零跑腿 40% < 90%


def test_ranking_lists_units_below_the_minimum_volume_apart_with_their_figures(home):
    """With the default minimum volume (20 cases or ratings) neither department of the scenario is ranked:
    both are listed under 样本不足 with their figures (no score: DOMAIN scores only units whose figures mean
    something), none under 参与排名 or 约谈."""
    at = ok(app("province", "ranking"))
    assert [t.label for t in at.tabs] == ["参与排名（0）", "样本不足（2）", "约谈名单（0）"]
    table = at.dataframe[0].value  # the only table: the small-sample one
    assert table["group_code"].tolist() == ["D2", "D1"]  # by peer group (their governments), not by a score
    assert table["cases_completed"].tolist() == [2, 3] and "rank" not in table.columns
    assert "composite_score" not in table.columns and "reference_score" not in table.columns
    ok(click_row(at, 0, 1))  # D1
    assert at.query_params.get("dept") == "D1" and "items" not in at.query_params
    assert any("青岛市市南区市场监督管理局" in m.value for m in at.markdown)


def test_drill_down_region_department_item_case_by_clicks(home):
    at = ok(app("province", "drill"))
    ok(click_row(at, 0, 1))  # the cities table: Qingdao
    assert at.query_params.get("region") == "370200000000"
    ok(click_point(at, 0, "370202000000"))  # the bar of 市南区
    assert at.query_params.get("region") == "370202000000"
    departments = at.dataframe[-1].value
    assert departments["group_code"].tolist() == ["D1"]
    ok(click_row(at, len(at.dataframe) - 1, 0))
    assert at.query_params.get("dept") == "D1"
    items = at.dataframe[0].value
    ok(click_row(at, 0, items["group_code"].tolist().index("ITEM5")))
    assert at.query_params.get("item") == "ITEM5"
    cases = at.dataframe[0].value
    assert set(cases["case_id"]) == {"A", "C"}
    by_case = {row["case_id"]: row for row in cases.to_dict("records")}
    assert by_case["A"]["on_time"] == "否" and by_case["C"]["on_time"] == "是"  # A overdue
    assert by_case["A"]["channel"] == "窗口"  # labelled from hcp.domain
    ok(click_row(at, 0, cases["case_id"].tolist().index("C")))
    assert at.query_params.get("case") == "C"
    shown = metrics(at)
    assert shown["办结期限"] == "2025-10-20" and shown["按时"] == "是" and shown["跑动次数"] == "1"
    assert len(at.get("plotly_chart")) == 1  # the timeline
    events = at.dataframe[0].value
    assert events["事件"].tolist() == ["申报", "受理", "特别程序（挂起）", "恢复计时", "办结", "送达/取件"]
    assert "r3" in texts(at) and "解释说明" in texts(at)  # its rating and follow-ups
    rating = at.dataframe[1].value.to_dict("records")
    assert rating == [{**rating[0], "评价编号": "r3", "评价等级": "2 不满意", "办理渠道": "PC端", "实名": "否"}]
    followups = at.dataframe[2].value
    assert followups["环节"].tolist() == ["核实", "解释说明"] and followups["核实原因"].tolist() == ["政策规定", "—"]


def test_a_shared_link_restores_the_place(home):
    at = ok(app("qingdao", "drill", case="A", dept="D1"))
    assert metrics(at)["超期工作日"] == "1"
    assert at.query_params.get("case") == "A" and at.query_params.get("dept") == "D1"


@pytest.mark.parametrize("user, page, params", [
    ("d1", "drill", {"case": "F1"}),            # another department's case
    ("d1", "drill", {"item": "ITEM0"}),         # another department's item
    ("d1", "overview", {"dept": "D2"}),         # another department as a filter
    ("d1", "ranking", {"region": "370100000000"}),
    ("d1", "ratings", {"rating": "r5"}),        # another department's rating
    ("qingdao", "drill", {"case": "F2"}),       # a case outside the city
    ("qingdao", "overview", {"region": "370100000000"}),  # another city
    ("qingdao", "catalogue", {"dept": "D2"}),
    ("d2", "drill", {"case": "A"}),
])
def test_crafted_urls_are_not_permitted(home, user, page, params):
    at = app(user, page, **params)
    assert not at.exception
    assert any(NOT_PERMITTED in e.value for e in at.error)
    shown = texts(at)
    assert "办理过程" not in shown  # no case timeline was drawn
    others = {"A", "B", "C", "M", "Y"} if user == "d2" else {"F1", "F2", "X", "K", "W"}
    for frame in at.dataframe:
        if "case_id" in frame.value.columns:
            assert not set(frame.value["case_id"]) & others


def test_overdue_watch_lists_red_and_yellow_cases_and_opens_them(home):
    at = ok(app("province", "overdue", asof="2025-10-29T10:00"))
    shown = metrics(at)
    assert shown[":red[红牌（超期）]"] == "1" and shown[":orange[黄牌（临期）]"] == "1"
    assert shown["本期超期办结"] == "2"
    flags = at.dataframe[0].value
    assert flags["case_id"].tolist() == ["M", "X"] and flags["flag"].tolist() == ["红牌（超期）", "黄牌（临期）"]
    assert flags["days_over"].tolist()[0] == 4 and pd.isna(flags["days_over"][1])  # red: days over, no days left
    assert pd.isna(flags["days_left"][0]) and flags["days_left"].tolist()[1] == 1
    styles = at.dataframe[0].proto.arrow_data.styler.styles
    assert "#fde2e1" in styles and "#fff4cc" in styles  # red and yellow cards coloured
    # Row by row: each row's card cell has the colour of that row's card, and no other cell is coloured.
    card = {"红牌（超期）": ui.STATE_COLOURS["red"], "黄牌（临期）": ui.STATE_COLOURS["yellow"]}
    assert cell_colours(at.dataframe[0]) == {(row, "flag"): card[f] for row, f in enumerate(flags["flag"])}
    overdue = at.dataframe[1].value
    assert set(overdue["case_id"]) == {"A", "F2"}
    ok(click_row(at, 0, 0))
    assert at.query_params.get("case") == "M"
    assert metrics(at)["状态"] == "办理中"
    # The red case says where it stands as of the watch's instant, the timeline has a "now" line, and the
    # breadcrumb goes province → city → county → department → item → case.
    assert any(m.value == ":red-badge[:material/error: 超期 4 个工作日，未办结] 截至 2025-10-29 10:00" for m in at.markdown)
    assert metrics(at)["超期工作日"] == "4"
    timeline = json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]
    assert "现在 10-29 10:00" in [a["text"] for a in timeline["annotations"]]
    crumbs = [b.label for b in at.button if b.key and b.key.startswith("crumb_")]
    assert crumbs == ["山东省", "青岛市", "市南区", "青岛市市南区市场监督管理局", "ITEM3"]  # ITEM3 has no name here
    assert any(m.value == "**办件 M**" for m in at.markdown)


def test_a_long_watch_list_shows_its_most_urgent_rows_and_downloads_them_all(home, monkeypatch):
    """A list longer than ui.SHOWN_ROWS shows its first rows (red before yellow), says "first N of M", and the
    download holds every row; the tiles count every case."""
    exported = []
    export_frame = ui.export_frame
    monkeypatch.setattr(ui, "SHOWN_ROWS", 1)
    monkeypatch.setattr(ui, "export_frame", lambda frame, columns=None: exported.append(frame) or export_frame(frame, columns))
    at = ok(app("province", "overdue", asof="2025-10-29T10:00"))
    assert metrics(at)[":red[红牌（超期）]"] == "1" and metrics(at)[":orange[黄牌（临期）]"] == "1"
    flags = at.dataframe[0].value
    assert flags["case_id"].tolist() == ["M"]
    assert cell_colours(at.dataframe[0]) == {(0, "flag"): ui.STATE_COLOURS["red"]}
    assert ("红牌在前（超期最久的在前），其后黄牌（剩余工作日最少的在前）：显示前 1 条，共 2 条；完整清单请下载 CSV 或 Excel"
            in [c.value for c in at.caption])
    assert exported[0]["case_id"].to_list() == ["M", "X"]  # the flags' download: both cases
    ok(click_row(at, 0, 0))
    assert at.query_params.get("case") == "M"
    english = ok(app("province", "overdue", asof="2025-10-29T10:00", lang="en"))
    assert ("Red first (longest overdue first), then yellow (fewest working days left first): showing the first 1 "
            "of 2; the full list is in the CSV and Excel downloads" in [c.value for c in english.caption])


@pytest.mark.parametrize("view", ["queue", "period"])
def test_each_overdue_step_of_the_bad_rating_queue_is_red_row_by_row(home, view):
    at = ok(app("province", "ratings"))
    if view == "period":
        at.radio(key="ratings_view").set_value("period").run()
        ok(at)
    table = next(f for f in at.dataframe if "days_over" in f.value.columns)
    over = table.value["days_over"]
    red = {(row, "days_over"): ui.STATE_COLOURS["red"] for row in range(len(over)) if not pd.isna(over[row])}
    assert red and cell_colours(table) == red
    if view == "period":  # closed loops are not overdue and stay plain; they come after the open ones
        assert len(red) < len(over) and sorted(red) == [(row, "days_over") for row in range(len(red))]


def test_the_department_works_its_loop_and_the_office_decides_the_appeal(home):
    at = ok(app("d1", "ratings", rating="r10"))
    queue = at.dataframe[0].value
    assert set(queue["rating_id"]) >= {"r8", "r10"} and "r5" not in set(queue["rating_id"])
    assert at.selectbox(key="loop_action").options == [L.action("zh", "verified"), L.action("zh", "appealed")]
    at.selectbox(key="loop_action").set_value("appealed").run()
    at.text_area(key="loop_note").input("恶意差评，申请复核")
    submit = next(b for b in at.button if b.label == "提交")
    submit.click().run()
    ok(at)
    assert any("申诉" in s.value for s in at.success)
    history = at.dataframe[-1].value
    assert history["环节"].tolist()[-1] == "申诉"
    # The department cannot decide its own appeal; the province office can.
    assert not [b for b in at.button if b.label == "提交"]
    office = ok(app("province", "ratings", rating="r10"))
    assert office.selectbox(key="loop_action").options == ["申诉成立", "申诉驳回"]
    office.selectbox(key="loop_action").set_value("appeal_upheld").run()
    next(b for b in office.button if b.label == "提交").click().run()
    ok(office)
    assert office.dataframe[-1].value["环节"].tolist()[-1] == "申诉成立"


def _steps(at: AppTest) -> list[str]:
    """The steps in the selected rating's history (the last table of the page), oldest first."""
    frame = at.dataframe[-1].value
    return frame["环节"].tolist() if "环节" in frame.columns else []


def _submit(at: AppTest) -> AppTest:
    return at.button(key="loop_submit").click().run()


def test_the_loop_form_asks_for_what_the_action_needs_and_preselects_nothing(home):
    from supervision.actions import ACTION_NEEDS

    at = ok(app("d1", "ratings", rating="r11"))
    form = at.selectbox(key="loop_action")
    assert form.value is None and at.button(key="loop_submit").disabled  # nothing chosen, nothing to submit
    assert not [s for s in at.selectbox if s.key == "loop_reason"] and not at.text_area
    # 核实 asks for the cause; without one it is refused and nothing is recorded.
    at.selectbox(key="loop_action").set_value("verified").run()
    assert at.selectbox(key="loop_reason").value is None
    _submit(at)
    assert [e.value for e in at.error] == [ACTION_NEEDS["verified"][1]] and "核实" not in _steps(at)
    at.selectbox(key="loop_reason").set_value(next(iter(L.domain.REASON_CATEGORIES))).run()
    assert any(c.value.startswith("将记录：核实 · 核实原因：") for c in at.caption)
    ok(_submit(at))
    assert _steps(at) == ["核实"] and any("核实" in s.value for s in at.success)
    # After a step the selector is back on the placeholder: a second 提交 records nothing.
    assert at.selectbox(key="loop_action").value is None and at.button(key="loop_submit").disabled
    # 整改 asks for a note, not a cause; an empty one is refused with the loop's message.
    at.selectbox(key="loop_action").set_value("rectified").run()
    assert not [s for s in at.selectbox if s.key == "loop_reason"]
    assert at.text_area(key="loop_note").label == "说明（必填）"
    _submit(at)
    assert [e.value for e in at.error] == [ACTION_NEEDS["rectified"][1]] and _steps(at) == ["核实"]
    at.text_area(key="loop_note").input("已当面致歉并简化材料清单").run()
    assert any(c.value == "将记录：整改 · 说明：已当面致歉并简化材料清单" for c in at.caption)
    ok(_submit(at))
    assert _steps(at) == ["核实", "整改"]
    assert at.selectbox(key="loop_action").value is None and at.button(key="loop_submit").disabled
    at.selectbox(key="loop_action").set_value("feedback").run()
    assert at.text_area(key="loop_note").label == "说明（选填）" and at.text_area(key="loop_note").value == ""


def test_filters_narrow_the_scope_and_go_into_the_url(home):
    at = ok(app("province"))
    at.selectbox(key="w_region").set_value("370200000000").run()
    ok(at)
    assert at.query_params.get("region") == "370200000000"
    assert metrics(at)["按时办结率"] == "66.67%"
    at.selectbox(key="w_channel").set_value("online").run()
    ok(at)
    assert at.query_params.get("channel") == "online" and metrics(at)["办结量"] == "1"  # B
    assert any("即时计算" in c.value for c in at.caption)


def test_english_switch_and_login(home):
    at = ok(app("province", lang="en"))
    assert "On-time rate" not in metrics(at)  # labels come from hcp.domain: "on-time rate"
    assert metrics(at)["on-time rate"] == "60.00%"
    login = AppTest.from_file(APP, default_timeout=60).run()
    assert login.text_input(key="login_user") and not login.metric
    login.text_input(key="login_user").input("d1")
    login.text_input(key="login_password").input("wrong-password")
    next(b for b in login.button if b.label == "登录").click().run()
    assert any("用户名或密码错误" in e.value for e in login.error)
    login.text_input(key="login_password").input(PASSWORD)
    next(b for b in login.button if b.label == "登录").click().run()
    ok(login)
    # No period asked for: the last complete month. The scenario's data end on Oct 28, 2025, so October is
    # not over and the dashboard opens on September (D1: Y, on time).
    assert login.query_params.get("period") == "2025-09"
    assert metrics(login)["按时办结率"] == "100.00%"


CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]+")


def page_words(at: AppTest) -> str:
    """Every word a page shows: headings, captions, tiles, buttons, tabs, tables (headers and cells), chart
    labels and hovers."""
    parts = [texts(at)] + [f"{m.label} {m.value}" for m in at.metric] + [b.label for b in at.button]
    parts += [t.label for t in at.tabs] + [w.label for w in at.selectbox] + [str(w.options) for w in at.selectbox]
    parts += [w.label for w in at.radio] + [str(w.options) for w in at.radio]
    parts += [w.label for w in at.multiselect] + [str(w.options) + str(w.value) for w in at.multiselect]
    parts += [json.dumps(json.loads(chart.proto.spec), ensure_ascii=False) for chart in at.get("plotly_chart")]
    parts += [e.value for e in at.warning] + [e.value for e in at.info] + [e.value for e in at.success]
    return "\n".join(parts)


@pytest.mark.parametrize("page", ["overview", "ranking"])
def test_the_english_pages_show_no_chinese_but_the_names(home, page):
    from dashboard import data, ui

    wh, everything = ui.warehouse(), Scope()
    names = [*data.region_names(wh, everything).values(), *data.item_names(wh, everything).values(),
             *data.departments_in_scope(wh, everything)["dept_name"].to_list(), *(u["name"] for u in USERS.values())]
    at = ok(app("province", page, lang="en"))
    shown = page_words(at)
    assert "None" not in shown and "(talk)" not in shown
    for name in sorted(names, key=len, reverse=True):  # 青岛市市南区… before 青岛市
        shown = shown.replace(name, "")
    left = sorted(set(CJK.findall(shown)))
    assert not left, [shown[max(0, m.start() - 60):m.end() + 20] for m in CJK.finditer(shown)]


def test_the_english_case_page_names_its_columns(home):
    at = ok(app("province", "drill", case="C", lang="en"))
    headers = [name for frame in at.dataframe for name in frame.value.columns]
    assert "ID" not in headers and "Rating number" in headers
    assert "None" not in page_words(at)


def downloads(at: AppTest) -> list[str]:
    return [d.proto.label for d in at.get("download_button")]


@pytest.mark.parametrize("page,params", [("overdue", {"asof": "2025-10-29T10:00"}), ("ranking", {}),
                                         ("ratings", {})])  # quality: test_dashboard_truth
def test_every_table_view_offers_its_table_as_csv_and_excel(home, page, params):
    at = ok(app("province", page, **params))
    shown = downloads(at)
    assert shown and shown.count("下载 CSV") == shown.count("下载 Excel") == len(at.dataframe), (page, shown)


def test_the_export_is_the_table_as_shown(home):
    import io

    from dashboard import ui

    at = ok(app("province", "overdue", asof="2025-10-29T10:00", dept="D1"))  # filtered to D1
    flags = at.dataframe[0].value
    assert set(flags["case_id"]) == {"M"}
    frame = pl.DataFrame({"case_id": ["M", "X"], "days_over": [4, None]})
    exported = ui.export_frame(frame, {"case_id": "办件编号", "days_over": {"label": "超期工作日"}})
    csv, xlsx = ui.export_bytes(exported)
    assert csv.decode("utf-8-sig").splitlines() == ["办件编号,超期工作日", "M,4", "X,—"]  # whole days, not 4.0
    assert pd.read_excel(io.BytesIO(xlsx)).columns.tolist() == ["办件编号", "超期工作日"]


def test_the_overview_offers_the_published_bulletin_of_the_month(home):
    import shutil

    folder = home / "reports" / "monthly" / "2025-10" / "all" / "v2"
    assert not downloads(ok(app("province")))  # nothing published yet: no link
    folder.mkdir(parents=True)
    try:
        (folder / "bulletin-2025-10.pdf").write_bytes(b"%PDF-1.7 test")
        (folder / "workbook-2025-10.xlsx").write_bytes(b"PK test")
        (folder / "manifest.json").write_text(json.dumps({"kind": "monthly", "period": "2025-10", "scope": "all",
            "version": 2, "files": [{"name": "bulletin-2025-10.pdf"}, {"name": "workbook-2025-10.xlsx"}]}))
        at = ok(app("province"))
        assert downloads(at) == ["PDF", "Excel"]
        assert any(m.value.startswith("**本月通报** 2025-10 · v2") for m in at.markdown)
        assert not downloads(ok(app("qingdao")))  # Qingdao's own bulletin is not published
        assert not downloads(ok(app("province", period="2025-09")))
    finally:
        shutil.rmtree(home / "reports" / "monthly")


def test_the_dept_user_is_logged_out_when_removed(home):
    from dashboard import auth

    auth.add_user(auth.User("temp", "dept", dept="D1"), PASSWORD, replace=True)
    at = ok(app("temp"))
    auth.remove_user("temp")
    at.run()
    assert not at.metric and at.text_input(key="login_user")



def test_repeated_wrong_passwords_lock_the_login_even_for_the_right_one(home):
    def attempt(password: str):
        login = AppTest.from_file(APP, default_timeout=60).run()
        login.text_input(key="login_user").input("temp-lock")
        login.text_input(key="login_password").input(password)
        next(b for b in login.button if b.label == "登录").click().run()
        return login

    from dashboard import auth

    auth.add_user(auth.User("temp-lock", "dept", dept="D1"), PASSWORD, replace=True)
    try:
        for i in range(4):
            failed = attempt("wrong-password")
            assert any("用户名或密码错误" in e.value for e in failed.error), (i, [e.value for e in failed.error])
        # The fifth failure locks the name, and says so; then even the right password is refused.
        assert any("已临时锁定" in e.value for e in attempt("wrong-password").error)
        locked = attempt(PASSWORD)
        assert any("已临时锁定" in e.value and "分钟后再试" in e.value for e in locked.error)
        assert not locked.metric  # not logged in
    finally:
        auth.remove_user("temp-lock")


@pytest.mark.parametrize(("page", "params"), [
    ("overdue", {"asof": "0001-01-01T00:00"}),
    ("overdue", {"asof": "9999-12-31T23:59"}),
    ("overview", {"period": "0001-01-01..9999-12-31"}),
    ("overview", {"period": "0001-01"}),
    ("ranking", {"period": "2025-13"}),
])
def test_odd_urls_give_a_page_not_a_traceback(home, page, params):
    """Issue 12: a crafted period or instant outside the working-day calendar falls back to the default."""
    at = app("province", page, **params)
    assert not at.exception, [e.value for e in at.exception]


def test_the_quality_page_shows_who_moved_a_department(home):
    """Issue 12: a reference-data change that moves a department (and so who sees its figures) is kept with
    who made it and when, and the offices on both sides of the move see it."""
    import json

    from hcp.pii import ensure_key
    from ingest.loader import Loader
    from ingest.run import ingest_bytes

    def send(region: str, batch: str) -> None:
        line = json.dumps({"kind": "department", "dept_code": "DX", "dept_name": "测试迁移局", "region_code": region},
                          ensure_ascii=False)
        ingest_bytes(Loader(wh, key=ensure_key(), actor="token:qa-platform"), line.encode() + b"\n",
                     source="push", batch_id=batch)

    from dashboard import ui

    wh = ui.warehouse()  # the handle the app in this process uses (the embedded warehouse has one owner)
    send("370102000000", "move-1")   # created in Lixia (Jinan)
    send("370202000000", "move-2")   # moved to Shinan (Qingdao)
    for user in ("province", "jinan"):
        page = ok(app(user, "quality"))
        moves = page.dataframe[-1].value
        assert list(moves["dept_code"]) == ["DX"] and list(moves["actor"]) == ["token:qa-platform"], user
    d1 = ok(app("d1", "quality"))
    assert not any("DX" in set(f.value.get("dept_code", [])) for f in d1.dataframe)
