"""Rectification due-ness in the bulletin, worked out by hand (2025 calendar, limit 15 working days; no
holiday between November 3 and December 19, 2025), and the empty month.

November 2025 bad ratings of 山东省市场监督管理局 (a province department, so the province's own 本级部门):

| rating | rated | done | due date (15 working days after) | as of Mon Dec 1 | as of Tue Dec 2 |
|---|---|---|---|---|---|
| late | Mon Nov 3 | — | Mon Nov 24 | 逾期未整改 | 逾期未整改 |
| late_done | Mon Nov 3 | rectified Thu Nov 27 (late) | Mon Nov 24 | done, due | done, due |
| done | Wed Nov 5 | rectified Wed Nov 12 | Wed Nov 26 | done, due | done, due |
| today | Mon Nov 10 | — | Mon Dec 1 | 整改中, 0 days left | 逾期未整改 |
| new | Fri Nov 28 | — | Fri Dec 19 | 整改中, 14 days left | 整改中, 13 days left |
| explained | Fri Nov 28 | explained Sun Nov 30 | Fri Dec 19 | done, not due | done, not due |

So on Dec 1: bad_count 6, rectified or explained 3, bad_due 3, overdue unrectified 1, in progress 2; on
Dec 2: bad_due 4, overdue unrectified 2, in progress 1. Every November rating is due from Sat Dec 20 (the
day after Dec 19, the due date of a rating made on Sun Nov 30): a bulletin computed later is judged on
Dec 20, whatever the day.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from hcp.periods import Period
from metrics.jobs import MetricsSettings
from warehouse.queries.reference import load_calendar
from reports.archive import Archive
from reports.bulletin import render_html
from reports.figures import as_of_day, figures_checksum, gather
from reports.monthly import publish_monthly
from reports.pdf import html_to_pdf
from tests.builders import event, events_frame, followup, followups_frame, items_frame, rating, ratings_frame
from warehouse.client import SHANGHAI

PROVINCE = "370000000000"
DEPT = "370000000000020"
DEPT_NAME = "山东省市场监督管理局"


def instant(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(day + " 08:00").replace(tzinfo=SHANGHAI)


def clock(day: str):
    return lambda: instant(day)


def load(wh) -> None:
    wh.insert_df("regions", pl.DataFrame({"region_code": [PROVINCE, "370100000000"], "region_name": ["山东省", "济南市"],
                                          "parent_code": [None, PROVINCE]}))
    wh.insert_df("departments", pl.DataFrame({"dept_code": [DEPT], "dept_name": [DEPT_NAME], "region_code": [PROVINCE]}))
    wh.insert_df("items", items_frame({"ITEM5": (5, 10, 4, 0, DEPT, "2024-01-01")}))
    d = {"dept": DEPT, "region": PROVINCE}
    wh.insert_df("ratings", ratings_frame([
        rating("late", "", 1, "2025-11-03 10:00", **d),
        rating("late_done", "", 2, "2025-11-03 11:00", **d),
        rating("done", "", 1, "2025-11-05 10:00", **d),
        rating("today", "", 2, "2025-11-10 10:00", real_name=True, **d),
        rating("new", "", 1, "2025-11-28 16:00", **d),
        rating("explained", "", 2, "2025-11-28 17:00", **d),
        rating("good", "", 5, "2025-11-20 10:00", **d),
    ]))
    wh.insert_df("followups", followups_frame([
        followup("late_done", "rectified", "2025-11-27 10:00"),
        followup("done", "rectified", "2025-11-12 10:00"),
        followup("explained", "explained", "2025-11-30 10:00"),
    ]))
    # December: no completion, no rating — only a case whose completion is typed before its submission.
    wh.insert_df("case_events", events_frame([
        event("BAD", "submitted", "2025-12-10 09:00", dept=DEPT, region=PROVINCE),
        event("BAD", "accepted", "2025-12-10 09:30", dept=DEPT, region=PROVINCE),
        event("BAD", "completed", "2025-12-08 10:00", dept=DEPT, region=PROVINCE),
    ]))


@pytest.fixture
def loaded(warehouse):
    load(warehouse)
    return warehouse


def statuses(figures: dict) -> dict[str, tuple]:
    return {r["rating_id"]: (r["status"], r["due"], r["working_days_left"]) for r in figures["bad_ratings"]}


def pdf_text(pdf: bytes, tmp: Path, *, layout: bool = False) -> str:
    path = tmp / "bulletin.pdf"
    path.write_bytes(pdf)
    args = ["pdftotext", "-enc", "UTF-8"] + (["-layout"] if layout else []) + [str(path), "-"]
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


def test_the_as_of_day_stops_moving_once_every_rating_of_the_month_is_due(loaded):
    settings, calendar = MetricsSettings.load(), load_calendar(loaded)
    november = Period.parse("2025-11")
    assert as_of_day(november, dt.date(2025, 12, 1), settings, calendar) == dt.date(2025, 12, 1)
    assert as_of_day(november, dt.date(2025, 12, 19), settings, calendar) == dt.date(2025, 12, 19)
    assert as_of_day(november, dt.date(2025, 12, 21), settings, calendar) == dt.date(2025, 12, 20)
    assert as_of_day(november, dt.date(2026, 6, 1), settings, calendar) == dt.date(2025, 12, 20)


def test_a_bulletin_computed_on_december_1_separates_overdue_from_in_progress(loaded, tmp_path):
    figures, version = gather(loaded, "2025-11", clock=clock("2025-12-01"))
    assert figures["as_of"] == "2025-12-01" and version.as_of == "2025-12-01"
    assert statuses(figures) == {
        "late": ("overdue", "2025-11-24", None),
        "today": ("in_progress", "2025-12-01", 0),
        "new": ("in_progress", "2025-12-19", 14),
        "late_done": ("rectified", "2025-11-24", None),
        "done": ("rectified", "2025-11-26", None),
        "explained": ("explained", "2025-12-19", None),
    }
    h = figures["headline"]
    assert (h["bad_count"], h["counts"]["bad_rectified_n"], h["bad_due"], h["bad_overdue_unrectified"],
            h["bad_in_progress"]) == (6, 3, 3, 1, 2)
    # The list and the indicators agree (the same as-of day).
    listed = [r["status"] for r in figures["bad_ratings"]]
    assert listed.count("overdue") == h["bad_overdue_unrectified"] and listed.count("in_progress") == h["bad_in_progress"]

    pdf = html_to_pdf(render_html(figures, watermark=version.watermark, checksum=figures_checksum(figures), version=1))
    flat = re.sub(r"\s+", "", pdf_text(pdf, tmp_path))
    assert "整改状态判定日：2025-12-01" in flat
    assert "到期差评3件，其中逾期未整改1件" in flat and "整改中差评2件，不计为未整改" in flat
    # late, late_done, done, explained: 3 of 4; the base adds up before the reader: 3 due + 1 done within its limit
    assert "按已整改或整改期限已过的4件计（到期3件+期限内已整改1件），到期差评整改率75.00%" in flat
    overdue = flat[flat.index("逾期未整改" + "评价编号"):flat.index("整改中（未到整改期限）")]
    waiting = flat[flat.index("整改中（未到整改期限）"):flat.index("数据质量")]
    assert "late" in overdue and "today" not in overdue and "new" not in overdue
    assert "today" in waiting and "new" in waiting and "late" not in waiting
    rows = {line.split()[0]: line.split() for line in pdf_text(pdf, tmp_path, layout=True).splitlines()
            if line.split() and line.split()[0] in ("late", "today", "new")}
    assert rows["late"][-2:] == ["2025-11-24", "逾期未整改"]
    assert rows["today"][-3:] == ["2025-12-01", "0", "整改中"]
    assert rows["new"][-3:] == ["2025-12-19", "14", "整改中"]
    assert "未整改" not in " ".join(rows["today"] + rows["new"])
    # The province's own department is listed, with too small a sample to be ranked.
    dept = flat[flat.index("本级部门排名"):flat.index("约谈名单")]
    assert DEPT_NAME in dept and "样本不足" in dept


def test_the_next_day_the_rating_due_on_december_1_is_overdue(loaded):
    gather(loaded, "2025-11", clock=clock("2025-12-01"))
    figures, _ = gather(loaded, "2025-11", clock=clock("2025-12-02"))
    assert figures["as_of"] == "2025-12-02"
    assert statuses(figures)["today"] == ("overdue", "2025-12-01", None)
    assert statuses(figures)["new"] == ("in_progress", "2025-12-19", 13)
    h = figures["headline"]
    assert (h["bad_due"], h["bad_overdue_unrectified"], h["bad_in_progress"]) == (4, 2, 1)


def test_the_figures_are_the_same_for_the_same_data_and_as_of_day(loaded):
    first, v1 = gather(loaded, "2025-11", clock=clock("2025-12-01"))
    again, v2 = gather(loaded, "2025-11", clock=lambda: instant("2025-12-01") + dt.timedelta(hours=9))
    assert figures_checksum(first) == figures_checksum(again) and v1.key == v2.key
    later, v3 = gather(loaded, "2025-11", clock=clock("2026-01-10"))
    latest, v4 = gather(loaded, "2025-11", clock=clock("2026-03-01"))
    assert later["as_of"] == latest["as_of"] == "2025-12-20"
    assert figures_checksum(later) == figures_checksum(latest) and v3.key == v4.key != v1.key
    assert {r["status"] for r in later["bad_ratings"]} == {"overdue", "rectified", "explained"}


def test_a_new_day_is_a_new_version_until_the_month_is_settled(loaded, tmp_path):
    archive = Archive(tmp_path / "archive")
    assert publish_monthly(loaded, archive, "2025-11", clock=clock("2025-12-01")).status == "new"
    assert publish_monthly(loaded, archive, "2025-11", clock=clock("2025-12-01")).status == "same-data"
    second = publish_monthly(loaded, archive, "2025-11", clock=clock("2025-12-02"))
    assert second.status == "new" and second.manifest["version"] == 2
    assert second.manifest["data_version"].endswith("|2025-12-02")
    assert publish_monthly(loaded, archive, "2025-11", clock=clock("2026-01-10")).manifest["version"] == 3
    assert publish_monthly(loaded, archive, "2025-11", clock=clock("2026-02-01")).status == "same-data"
    wb = openpyxl.load_workbook(next((tmp_path / "archive/monthly/2025-11/all/v1").glob("*.xlsx")))
    ws = wb["差评整改"]
    header = [c.value for c in ws[1]]
    rows = {r[0]: dict(zip(header, r)) for r in ws.iter_rows(min_row=2, values_only=True)}
    assert rows["today"]["状态"] == "整改中" and rows["today"]["剩余工作日"] == 0
    assert rows["new"]["剩余工作日"] == 14 and rows["late"]["状态"] == "逾期未整改"
    assert rows["late"]["剩余工作日"] is None


def test_an_empty_month_says_so_and_ranks_nothing(loaded, tmp_path):
    figures, version = gather(loaded, "2025-12", clock=clock("2026-01-05"))
    assert figures["empty"] and figures["headline"] is None
    assert [c["case_id"] for c in figures["quality"]["cases"]] == ["BAD"]  # bad data does not disappear
    pdf = html_to_pdf(render_html(figures, watermark=version.watermark, checksum=figures_checksum(figures)))
    flat = re.sub(r"\s+", "", pdf_text(pdf, tmp_path))
    assert "本月山东省没有办结的办件，也没有计入的评价：不计算综合得分，不排名" in flat
    assert "上月（2025-11）办结0件，计入评价7次" in flat
    for absent in ("地区排名", "本级部门排名", "首次排名末两位", "综合得分—", "按时办结率"):
        assert absent not in flat, absent
    assert "二、数据质量" in flat and "办结早于申报" in flat and DEPT_NAME in flat
    english = dict(figures, lang="en")
    pdf = html_to_pdf(render_html(english, watermark=version.watermark, checksum=figures_checksum(english)))
    text = re.sub(r"\s+", " ", pdf_text(pdf, tmp_path))
    assert "no completed case and no counted rating this month: no composite score, no ranking" in text
    assert "completed before it was submitted" in text
