"""Loop queues scoped to the right units: a department sees only its own bad ratings, an office only its region
subtree (a city office its counties, not another city's). As of Mon 2025-10-20 10:00; due dates by hand on the
official calendar (Oct 1–8 off, Sat Oct 11 working)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import polars as pl
import pytest

from supervision.queues import department_queue, office_queue, sort_queue
from tests.builders import at, followup, followups_frame, rating, ratings_frame
from tests.conftest import home_with, run_hcp
from warehouse import open_warehouse

AS_OF = at("2025-10-20 10:00")
SHINAN, SHIBEI, LIXIA, QINGDAO = "370202000000", "370203000000", "370102000000", "370200000000"
C10, C11 = "370210000000", "370211000000"  # two counties whose codes share "37021": prefixes must be by level
DEPTS = {"D1": SHINAN, "D2": SHIBEI, "D3": LIXIA, "D4": QINGDAO, "D5": C10, "D6": C11}


def ratings() -> pl.DataFrame:
    def bad(rid, dept, when, level=2, region=None):
        return rating(rid, f"C-{rid}", level, when, dept=dept, region=region or DEPTS[dept])
    return ratings_frame([
        bad("q1", "D1", "2025-09-30 10:00"),   # verify due Oct 10; overdue 7 (11, 13, 14, 15, 16, 17, 20)
        bad("q2", "D1", "2025-10-16 10:00"),   # verified Oct 17; rectify due Nov 6; 13 working days left
        bad("q3", "D2", "2025-10-13 10:00"),   # verify due Oct 15; overdue 3
        bad("q4", "D3", "2025-10-13 10:00"),   # Jinan; overdue 3
        bad("q5", "D4", "2025-10-13 10:00"),   # Qingdao city-level department; overdue 3
        bad("q6", "D1", "2025-10-13 10:00", level=5),  # a good rating: in no queue
        bad("q7", "D1", "2025-10-09 10:00"),   # appealed Oct 10: the office decides by Oct 16; overdue 2
        bad("q8", "D1", "2025-10-09 10:00"),   # closed
        bad("q9", "D1", "2025-10-09 10:00"),   # appeal upheld
        bad("q10", "D2", "2025-10-14 10:00", region=SHINAN),  # D2's rating in Shinan: verify due Oct 16; overdue 2
        bad("q11", "D5", "2025-10-13 10:00"),
        bad("q12", "D6", "2025-10-13 10:00"),
        bad("q13", "D1", "2025-10-17 10:00"),  # verify due Tue Oct 21: 1 working day left
        bad("q14", "D1", "2025-10-21 10:00"),  # after the as-of instant: not yet known
    ])


def followups() -> pl.DataFrame:
    return followups_frame([
        followup("q2", "verified", "2025-10-17 10:00"),
        followup("q7", "appealed", "2025-10-10 10:00"),
        *[followup("q8", a, t) for a, t in [("verified", "2025-10-09 12:00"), ("explained", "2025-10-10 10:00"),
                                            ("feedback", "2025-10-10 11:00"), ("revisited", "2025-10-13 10:00")]],
        followup("q9", "appealed", "2025-10-09 12:00"), followup("q9", "appeal_upheld", "2025-10-10 12:00"),
        followup("q13", "verified", "2025-10-21 09:00"),  # after the as-of instant: ignored
    ])


def load_queue_data(wh) -> None:
    codes = ["370000000000", "370100000000", QINGDAO, *sorted(set(DEPTS.values()) - {QINGDAO})]
    wh.insert_df("regions", pl.DataFrame({"region_code": codes, "region_name": [f"区划{c}" for c in codes]}))
    wh.insert_df("departments", pl.DataFrame({"dept_code": list(DEPTS), "dept_name": [f"部门{d}" for d in DEPTS],
                                              "region_code": list(DEPTS.values())}))
    wh.insert_df("ratings", ratings())
    wh.insert_df("followups", followups())


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with home_with(tmp_path_factory.mktemp("queues"), load_queue_data) as path:
        yield path


@pytest.fixture
def wh(home):
    with open_warehouse() as warehouse:
        yield warehouse


def ids(frame: pl.DataFrame) -> list[str]:
    return frame["rating_id"].to_list()


def test_a_department_sees_only_its_own_steps(wh):
    d1 = department_queue(wh, "D1", AS_OF)
    assert ids(d1) == ["q1", "q13", "q2"]  # by due date; q7 awaits the office, q6/q8/q9 are not open steps
    assert set(d1["dept_code"]) == {"D1"}
    rows = {r["rating_id"]: r for r in d1.iter_rows(named=True)}
    assert (rows["q1"]["next_step"], rows["q1"]["due_date"], rows["q1"]["overdue"], rows["q1"]["overdue_working_days"]) == (
        "verify", dt.date(2025, 10, 10), True, 7)
    assert (rows["q2"]["next_step"], rows["q2"]["due_date"], rows["q2"]["working_days_left"]) == (
        "rectify", dt.date(2025, 11, 6), 13)
    assert (rows["q13"]["state"], rows["q13"]["due_date"], rows["q13"]["working_days_left"]) == (
        "pending_verification", dt.date(2025, 10, 21), 1)
    assert ids(department_queue(wh, "D1", AS_OF, overdue_only=True)) == ["q1"]
    # D2's rating given in Shinan is D2's, never D1's
    d2 = department_queue(wh, "D2", AS_OF)
    assert ids(d2) == ["q3", "q10"] and set(d2["dept_code"]) == {"D2"}
    assert department_queue(wh, "D9", AS_OF).height == 0


@pytest.mark.parametrize(("office", "expected"), [
    (SHINAN, ["q1", "q10", "q7"]),                                   # county: its own region only
    (QINGDAO, ["q1", "q11", "q12", "q3", "q5", "q10", "q7"]),        # city: its counties, not Jinan's q4
    (C10, ["q11"]),                                                  # 370210 is not 370211
    ("370100000000", ["q4"]),                                        # Jinan city
    ("370000000000", ["q1", "q11", "q12", "q3", "q4", "q5", "q10", "q7"]),  # the province
    ("410000000000", []),
])
def test_an_office_sees_what_is_overdue_in_its_subtree(wh, office, expected):
    queue = office_queue(wh, office, AS_OF)
    assert ids(queue) == expected
    assert queue["overdue"].all()
    prefix = {SHINAN: "370202", QINGDAO: "3702", C10: "370210", "370100000000": "3701", "370000000000": "37"}.get(office, "41")
    assert all(code.startswith(prefix) for code in queue["region_code"])


def test_an_office_sees_the_appeals_it_must_decide(wh):
    row = office_queue(wh, SHINAN, AS_OF).filter(pl.col("rating_id") == "q7").row(0, named=True)
    # appealed Fri Oct 10; decision due 5 working days later: Sat 11, 13, 14, 15, 16 → Oct 16
    assert (row["state"], row["next_step"], row["next_owner"], row["due_date"], row["overdue_working_days"]) == (
        "appealed", "decide_appeal", "office", dt.date(2025, 10, 16), 2)


def test_every_open_step_and_sorting(wh):
    queue = office_queue(wh, SHINAN, AS_OF, overdue_only=False)
    assert ids(queue) == ["q1", "q10", "q7", "q13", "q2"]
    assert ids(sort_queue(queue, "due_date", descending=True)) == ["q2", "q13", "q10", "q7", "q1"]
    assert ids(sort_queue(queue, "overdue_working_days", descending=True))[:3] == ["q1", "q10", "q7"]


def test_exports_csv_xlsx_json(home, tmp_path):
    out = run_hcp("loop", "queue", "--office", QINGDAO, "--as-of", "2025-10-20T10:00:00+08:00", "--format", "csv",
                  check=True)
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [r["rating_id"] for r in rows] == ["q1", "q11", "q12", "q3", "q5", "q10", "q7"]
    assert rows[0]["due_date"] == "2025-10-10" and rows[0]["overdue_working_days"] == "7"
    assert rows[0]["rated_at"] == "2025-09-30T10:00:00+08:00" and rows[0]["dept_name"] == "部门D1"

    xlsx = tmp_path / "overdue.xlsx"
    run_hcp("loop", "queue", "--office", QINGDAO, "--as-of", "2025-10-20T10:00:00+08:00", "--format", "xlsx",
            "--out", str(xlsx), check=True)
    from openpyxl import load_workbook

    sheet = load_workbook(xlsx).active
    values = list(sheet.values)
    assert values[0][:3] == ("评价编号", "办件编号", "部门") and "期限" in values[0]
    assert [r[0] for r in values[1:]] == ["q1", "q11", "q12", "q3", "q5", "q10", "q7"]
    due = values[0].index("期限")
    assert values[1][due] == dt.datetime(2025, 10, 10)  # a real date cell
    assert values[1][values[0].index("下一步")] == "核实"

    result = run_hcp("loop", "queue", "--dept", "D1", "--as-of", "2025-10-20T10:00:00+08:00", "--format", "json",
                     check=True)
    assert [r["rating_id"] for r in json.loads(result.stdout)] == ["q1", "q13", "q2"]
    table = run_hcp("loop", "queue", "--dept", "D1", "--as-of", "2025-10-20T10:00:00+08:00", check=True)
    assert "D1：3 条待办，其中超期 1 条" in table.stdout


def test_queue_usage_errors(home):
    neither = run_hcp("loop", "queue")
    assert neither.returncode == 2 and "--dept" in neither.stderr
    bad = run_hcp("loop", "queue", "--office", "3702")
    assert bad.returncode == 2 and "12" in bad.stderr
    xlsx = run_hcp("loop", "queue", "--dept", "D1", "--format", "xlsx")
    assert xlsx.returncode == 1 and "--out" in xlsx.stderr
    # A code the warehouse does not know is a usage error naming it, never "0 条待办".
    unknown = run_hcp("loop", "queue", "--dept", "NOPE")
    assert unknown.returncode == 2 and "NOPE" in unknown.stderr and "待办" not in unknown.stdout
    nowhere = run_hcp("loop", "queue", "--office", "379900000000")
    assert nowhere.returncode == 2 and "379900000000" in nowhere.stderr


def test_click_usage_errors_are_bilingual(home):
    missing = run_hcp("metrics")
    assert missing.returncode == 2
    assert "缺少必需的选项" in missing.stderr and "Missing option '--period'" in missing.stderr
    assert "帮助 / help: hcp metrics --help" in missing.stderr
    assert "没有这个命令" in run_hcp("nope").stderr


def test_queue_tables_name_channels_in_the_chosen_language():
    """The CLI's tables and Excel name the vocabulary: a rating's channel in English is 'PC web', not 'pc'."""
    import polars as pl

    from supervision.cli import _humanize

    frame = pl.DataFrame({"channel": ["pc", "hall_device", "hall", "sms"]})
    assert _humanize(frame, "en")["channel"].to_list() == ["PC web", "hall device", "service hall", "SMS"]
    assert _humanize(frame, "zh")["channel"].to_list() == ["PC端", "评价器", "窗口", "短信"]


def test_an_empty_table_says_none_instead_of_a_header_over_nothing():
    import polars as pl

    from supervision.export import emit

    printed = []
    emit(pl.DataFrame({"rating_id": []}, schema={"rating_id": pl.String}), "table", None, lang="en",
         labels={"rating_id": ("评价编号", "rating")}, sheet="queue", echo=printed.append)
    assert printed == ["(none)"]
    emit(pl.DataFrame({"rating_id": ["r1"]}), "table", None, lang="zh", labels={"rating_id": ("评价编号", "rating")},
         sheet="queue", echo=printed.append)
    assert "评价编号" in printed[-1] and "r1" in printed[-1]
