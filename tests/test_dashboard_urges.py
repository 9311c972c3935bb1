"""督办 on the dashboard through Streamlit's AppTest (the real app, the real warehouse of the October 2025
province): an office urges on an overdue step from the rating's detail, the department sees it on top of its
queue (in Chinese and English) and answers it by acting, an office outside the region neither sees nor can
urge, and a department has no urge form. (tests/test_dashboard_browser_urge.py does the red case in Chromium.)"""

from __future__ import annotations

import pytest

from hcp.scope import Scope
from tests.dashboard_support import build_home, home_env
from tests.test_dashboard_pages import app, ok


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    from dashboard import ui

    path = build_home(tmp_path_factory.mktemp("dash-urges"))
    with home_env(path):
        yield path
        ui.close_warehouse()


def urge_button(at):
    return next(b for b in at.button if b.label in ("督办", "Urge"))


def test_an_office_urges_a_step_and_the_department_sees_it_on_top_and_answers_it(home):
    from dashboard import ui
    from supervision.urges import urge_outcomes

    office = ok(app("qingdao", "ratings", rating="r8"))  # r8: its verification was due Oct 16, long overdue
    note = next(t for t in office.text_area if t.label == "督办事项（必填）")
    urge_button(office).click().run()
    assert [e.value for e in office.error] == ["督办须写明督办事项（要求部门做什么）"]  # refused, nothing written
    next(t for t in office.text_area if t.label == "督办事项（必填）").input("请今日核实并反馈")
    urge_button(office).click().run()
    assert not office.error and any("已督办" in s.value for s in office.success)
    assert note.label == "督办事项（必填）" and office.dataframe[-1].value["督办事项"].tolist() == ["请今日核实并反馈"]
    assert office.dataframe[-1].value["回应"].tolist() == ["未回应"]

    # Only the region's office sees it: Jinan's ratings page has no urge (and r8 is not permitted there).
    jinan = ok(app("jinan", "ratings"))
    assert not any("督办事项" in m.value for m in jinan.markdown)

    dept = ok(app("d1", "ratings"))
    assert any("督办事项（未回应 1 件）" in m.value for m in dept.markdown)
    panel = dept.dataframe[0].value  # the first table of the page: above the queue
    assert panel["what"].tolist() == ["评价 r8 · 核实"] and panel["note"].tolist() == ["请今日核实并反馈"]
    assert panel["office"].tolist() == ["青岛市政务服务管理办公室"] and panel["by"].tolist() == ["qingdao"]
    assert panel["times"].tolist() == ["督办"] and "dept" not in panel.columns  # its own: no department column
    queue = dept.dataframe[1].value
    assert queue.iloc[0]["rating_id"] == "r8" and queue.iloc[0]["urged"] == "督办"
    assert list(queue.columns[:5]) == ["days_over", "days_left", "state", "next_step", "due_date"]  # state first
    english = ok(app("d1", "ratings", lang="en"))
    assert any("Urged by the office (1 not answered)" in m.value for m in english.markdown)
    assert english.dataframe[0].value["what"].tolist() == ["rating r8 · verify"]

    # The department answers by acting: verified → the urge is answered and leaves the top of the queue.
    acted = ok(app("d1", "ratings", rating="r8"))
    assert not [t for t in acted.text_area if t.label == "督办事项（必填）"]  # a department cannot urge
    acted.selectbox(key="loop_action").set_value("verified").run()
    acted.selectbox(key="loop_reason").set_value("attitude").run()
    acted.button(key="loop_submit").click().run()
    ok(acted)
    after = ok(app("d1", "ratings", rating="r8"))
    assert not any("督办事项（未回应" in m.value for m in after.markdown)
    record = after.dataframe[-1].value
    assert record["回应"].tolist() == ["核实"] and record["用时（工作日）"].tolist() == [0]
    outcome = urge_outcomes(ui.warehouse(), Scope.of_dept("D1"))  # the app's warehouse (one per process)
    assert outcome["response"].to_list() == ["verified"] and not outcome["open"].any()


def test_the_case_page_has_the_urge_form_for_an_office_only(home):
    office = ok(app("qingdao", "drill", case="M"))
    assert [t for t in office.text_area if t.label == "督办事项（必填）"]
    assert not [t for t in ok(app("d1", "drill", case="M")).text_area if t.label == "督办事项（必填）"]
    done = ok(app("qingdao", "drill", case="A"))  # completed: nothing to urge
    assert not [t for t in done.text_area if t.label == "督办事项（必填）"]
