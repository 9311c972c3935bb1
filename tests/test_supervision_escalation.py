"""Red cards (the very flags of `hcp flags`) escalated to the office one level up after N working days red.

As of Wed 2025-10-29 10:00. ITEM2 has a promised limit of 2 working days: accepted Tue Oct 21 → D = Thu Oct 23;
red on Oct 24 (1), 27 (2), 28 (3), 29 (4) — escalated with N = 3 on Oct 28."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest

from metrics.flags import flags_as_of
from metrics.jobs import MetricsJob
from supervision.escalation import escalations, parent_office, parent_office_expr
from tests.builders import at, items_frame, lifecycle, events_frame
from tests.conftest import run_hcp

AS_OF = at("2025-10-29 10:00")
DEPTS = {"D1": "370202000000", "D4": "370200000000", "DP": "370000000000", "DT": "370202001000"}


@pytest.mark.parametrize(("code", "above"), [
    ("370202001001", "370202001000"),   # village → township
    ("370202001000", "370202000000"),   # township → county
    ("370202000000", "370200000000"),   # county → city
    ("370210000000", "370200000000"),
    ("370200000000", "370000000000"),   # city → province
    ("370000000000", ""),               # province: nobody above
])
def test_the_office_one_level_up_follows_the_code(code, above):
    assert parent_office(code) == above
    # the vectorised rule that escalations() actually uses gives the same office
    assert pl.DataFrame({"code": [code]}).select(parent_office_expr("code")).item() == above


@pytest.fixture
def wh(warehouse):
    warehouse.insert_df("departments", pl.DataFrame({"dept_code": list(DEPTS), "dept_name": list(DEPTS),
                                                     "region_code": list(DEPTS.values())}))
    warehouse.insert_df("regions", pl.DataFrame({"region_code": ["370000000000", "370200000000", "370202000000", "370100000000"],
                                                 "region_name": ["山东省", "青岛市", "市南区", "济南市"],
                                                 "parent_code": ["", "370000000000", "370200000000", "370000000000"]}))
    warehouse.insert_df("items", items_frame({"ITEM2": 2}))
    shinan = "370202000000"
    rows = [
        *lifecycle("e1", "2025-10-21", item="ITEM2", dept="D1", region=shinan),          # red 4 → Qingdao city
        *lifecycle("e2", "2025-10-21", item="ITEM2", dept="D4", region=shinan),          # city dept → province
        *lifecycle("e3", "2025-10-21", item="ITEM2", dept="DP", region="370000000000"),  # province dept → nobody
        *lifecycle("e4", "2025-10-23", item="ITEM2", dept="D1", region=shinan),          # D = Oct 27, red 2
        *lifecycle("e5", "2025-10-21", item="ITEM2", dept="DX", region="370102000000"),  # unknown dept → Jinan
        *lifecycle("e6", "2025-10-21", item="ITEM2", dept="DT", region="370202001000"),  # township → county
        *lifecycle("e7", "2025-10-28", item="ITEM2", dept="D1", region=shinan),          # yellow
        *lifecycle("e8", "2025-10-20", item="ITEM2", dept="D1", region=shinan, completed="2025-10-27 10:00"),
    ]
    warehouse.insert_df("case_events", events_frame(rows))
    MetricsJob(warehouse).run(full=True)
    return warehouse


def test_escalated_cases_and_where_they_go(wh):
    frame = escalations(wh, AS_OF)
    rows = {r["case_id"]: r for r in frame.iter_rows(named=True)}
    assert set(rows) == {"e1", "e2", "e3", "e5", "e6"}
    assert {c: r["escalate_to"] for c, r in rows.items()} == {
        "e1": "370200000000", "e2": "370000000000", "e3": "", "e5": "370100000000", "e6": "370202000000"}
    assert rows["e1"]["escalate_to_name"] == "青岛市" and rows["e2"]["escalate_to_name"] == "山东省"
    assert rows["e2"]["office_code"] == "370200000000" and rows["e5"]["office_code"] == "370102000000"
    for row in rows.values():
        assert (row["deadline"], row["overdue_working_days"], row["escalated_on"]) == (
            dt.date(2025, 10, 23), 4, dt.date(2025, 10, 28))
    # the red cases are exactly those of `hcp flags`, the threshold decides which go up
    red = flags_as_of(wh, AS_OF, 2).filter(pl.col("flag") == "red")
    assert set(red["case_id"]) == {"e1", "e2", "e3", "e4", "e5", "e6"}
    two = escalations(wh, AS_OF, after_days=2)
    assert set(two["case_id"]) == set(red["case_id"])
    assert two.filter(pl.col("case_id") == "e4")["escalated_on"].to_list() == [dt.date(2025, 10, 29)]
    assert escalations(wh, AS_OF, after_days=5).height == 0
    # one day earlier nothing had been red three working days yet
    assert escalations(wh, at("2025-10-27 18:00")).height == 0
    assert set(escalations(wh, AS_OF, region_code="370200000000")["case_id"]) == {"e1", "e2", "e6"}


def test_the_threshold_comes_from_the_config(wh, hcp_home):
    wh.close()
    (hcp_home / "config.toml").write_text("[supervision]\nescalate_after_red_days = 2\n", encoding="utf-8")
    result = run_hcp("loop", "escalations", "--as-of", "2025-10-29T10:00:00+08:00", "--format", "json", check=True)
    records = json.loads(result.stdout)
    assert {r["case_id"] for r in records} == {"e1", "e2", "e3", "e4", "e5", "e6"}
    assert records[-1]["case_id"] == "e4" and records[-1]["overdue_working_days"] == 2  # most overdue first
    table = run_hcp("loop", "escalations", "--as-of", "2025-10-29T10:00:00+08:00", "--no-refresh", check=True)
    assert "升级督办 6 件" in table.stdout and "青岛市" in table.stdout
