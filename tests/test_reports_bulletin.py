"""The monthly bulletin of the hand-worked October 2025 scenario (tests/scenario_oct2025.py): the workbook
read back with openpyxl and the PDF's extracted text (Chinese included) carry exactly the numbers that
`hcp metrics --format json` gives for the same month (whose values tests/test_metrics_indicators.py checks
by hand). Page 1 is rendered to test-artifacts/ for a person to look at.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import openpyxl
from openpyxl.utils import get_column_letter
import polars as pl
import pytest

from hcp.domain import INDICATOR_LABELS
from metrics.indicators import INDICATOR_KEYS
from reports.text import HEADLINE_KEYS, SUMMARY_KEYS, fmt_value, rank_text
from tests import scenario_oct2025 as scenario
from tests.conftest import REPO, home_with, run_hcp
from tests.test_metrics_indicators import ALL
from warehouse import open_warehouse
from warehouse.migrations import ensure_schema

ARTIFACTS = REPO / "test-artifacts"
TITLE = "山东省政务服务“好差评”月度通报（2025年10月）"
LABEL_TO_KEY = {zh: key for key, (zh, _) in INDICATOR_LABELS.items()}

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils missing: run scripts/system-deps.sh")


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with home_with(tmp_path_factory.mktemp("bulletin"), scenario.load) as path:
        yield path


def hcp(home, *args) -> str:
    return run_hcp(*args, env={"HCP_HOME": str(home)}, check=True).stdout


@pytest.fixture(scope="module")
def published(home, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    stdout = hcp(home, "report", "monthly", "--month", "2025-10", "--out", str(out))
    return out, stdout


@pytest.fixture(scope="module")
def metrics(home, published):
    """`hcp metrics` JSON for October and September, by every grouping the bulletin uses."""
    def get(by, period="2025-10"):
        return {r["group"]: r for r in json.loads(hcp(home, "metrics", "--period", period, "--by", by, "--format", "json"))}
    return ({by: get(by) for by in ("all", "dept", "region:city", "region:county", "region:own")}
            | {"previous": get("all", "2025-09")})


def same(a, b) -> bool:
    return a is None and b is None or (a is not None and b is not None and a == b)


def sheet_rows(ws, header_row: int = 1) -> list[dict]:
    headers = [c.value for c in ws[header_row]]
    return [dict(zip(headers, row)) for row in ws.iter_rows(min_row=header_row + 1, values_only=True)]


# The workbook -----------------------------------------------------------------------------------


def test_workbook_summary_equals_metrics(published, metrics):
    out, _ = published
    wb = openpyxl.load_workbook(out / "workbook-2025-10.xlsx")
    assert wb.sheetnames == ["概况", "部门排名", "地区排名", "超期办件", "差评整改", "数据质量", "事项目录指标"]
    ws = wb["概况"]
    assert ws["A1"].value == TITLE
    rows = {r["指标代码"]: r for r in sheet_rows(ws, header_row=6)}
    assert list(rows) == list(SUMMARY_KEYS) and set(SUMMARY_KEYS) == set(INDICATOR_KEYS) | {"composite_score"}
    now, before = metrics["all"]["all"], metrics["previous"]["all"]
    for key in SUMMARY_KEYS:
        assert same(rows[key]["本月"], now[key]), key
        assert same(rows[key]["上月"], before[key]), key
    # …and these are the hand-worked values.
    for key, value in ALL.items():
        assert rows[key]["本月"] == pytest.approx(value, abs=1e-12) if value is not None else rows[key]["本月"] is None
    assert rows["on_time_rate"]["达标情况"] == "未达标" and rows["rating_coverage"]["达标情况"] == "达标"
    # Formatted for people: frozen header, percentages, conditional colours.
    assert ws.freeze_panes == "B7"
    rate_row = 6 + 1 + HEADLINE_KEYS.index("on_time_rate")
    assert ws.cell(row=rate_row, column=2).number_format == "0.00%"
    assert len(ws.conditional_formatting) > 0


def test_workbook_rankings_equal_metrics(published, metrics):
    out, _ = published
    wb = openpyxl.load_workbook(out / "workbook-2025-10.xlsx")
    depts = {r["部门代码"]: r for r in sheet_rows(wb["部门排名"])}
    assert set(depts) == {"D1", "D2"}
    for code, record in metrics["dept"].items():
        row = depts[code]
        assert row["部门"] == record["name"] and row["排名"] == record["rank"] and row["参评单位数"] == record["peers"]
        assert row["排名状态"] == {"ranked": "参与排名", "small_sample": "样本不足", "no_data": "无数据"}[record["rank_status"]]
        assert row["综合得分"] == record["composite_score"]
        for key in INDICATOR_KEYS:
            assert same(row[INDICATOR_LABELS[key][0]], record[key]), (code, key)
    # Below the default minimum volume both are 样本不足: not scored (their hand-worked scores, SCORE_D1 and
    # SCORE_D2, are checked with a small minimum in test_metrics_indicators).
    assert depts["D1"]["综合得分"] is None and depts["D2"]["综合得分"] is None
    assert depts["D2"]["差评整改率"] is None  # empty base stays empty, never 0
    regions = {(r["层级"], r["区划代码"]): r for r in sheet_rows(wb["地区排名"])}
    expected = ({("市", code): r for code, r in metrics["region:city"].items()}
                | {("县（市、区）", code): r for code, r in metrics["region:county"].items()}
                | {("本级", code): r for code, r in metrics["region:own"].items()})
    # Every region of the scope: those without a stored figure (here the own levels, all work being in
    # the districts) as units without data.
    assert set(regions) >= set(expected)
    assert set(regions) - set(expected) == {("本级", code) for code in ("370000000000", "370100000000", "370200000000")}
    assert regions[("本级", "370000000000")]["地区"] == "山东省本级"
    for key in set(regions) - set(expected):
        assert regions[key]["排名状态"] == "无数据" and regions[key]["综合得分"] is None and regions[key]["办结量"] is None
    for code, record in expected.items():
        assert regions[code]["排名"] == record["rank"] and regions[code]["综合得分"] == record["composite_score"]
        for key in INDICATOR_KEYS:
            assert same(regions[code][INDICATOR_LABELS[key][0]], record[key]), (code, key)
    for name, column in (("部门排名", "部门"), ("地区排名", "地区")):
        ws = wb[name]
        letter = get_column_letter([c.value for c in ws[1]].index(column) + 1)
        assert ws.freeze_panes is not None and ws.column_dimensions[letter].width > 10
        assert ws.cell(row=2, column=[c.value for c in ws[1]].index("按时办结率") + 1).number_format == "0.00%"


def test_workbook_cases_behind_the_figures(home, published, metrics):
    out, _ = published
    wb = openpyxl.load_workbook(out / "workbook-2025-10.xlsx")
    overdue = sheet_rows(wb["超期办件"])
    late = {r["办件编号"]: r for r in overdue if r["类别"] == "超期办结"}
    assert len(late) == metrics["all"]["all"]["overdue_completed"] == 2
    assert set(late) == {"A", "F2"} and late["A"]["超期工作日"] == 1
    red_at_month_end = {r["case_id"] for r in json.loads(hcp(
        home, "flags", "--as-of", "2025-10-31T23:59:59.999", "--format", "json")) if r["flag"] == "red"}
    assert {r["办件编号"] for r in overdue if r["类别"].startswith("逾期未办结")} == red_at_month_end == {"M", "X"}

    bad = {r["评价编号"]: r for r in sheet_rows(wb["差评整改"])}
    counts = metrics["all"]["all"]["counts"]
    assert len(bad) == counts["bad_count"] == 3
    assert sum(r["状态"] in ("已整改", "已解释说明") for r in bad.values()) == counts["bad_rectified_n"]
    assert sum(r["状态"] == "逾期未整改" for r in bad.values()) == counts["bad_overdue_unrectified"]
    assert sum(r["状态"] == "整改中" for r in bad.values()) == counts["bad_in_progress"]
    assert sum(r["按期整改"] == "是" for r in bad.values()) == counts["bad_rectified_on_time_n"]
    assert sum(r["已回访"] == "是" and r["实名"] == "是" for r in bad.values()) == counts["real_name_bad_revisited_n"]
    # Published long after October, every rating is due: r8, never rectified, is overdue.
    assert bad["r8"]["状态"] == "逾期未整改" and bad["r3"]["状态"] == "已解释说明" and bad["r1"]["状态"] == "已整改"
    # Only masked personal data, in columns that say so.
    personal = [h for h in [c.value for c in wb["超期办件"][1]] + [c.value for c in wb["差评整改"][1]]
                if "申请人" in h or "评价人" in h]
    assert personal and all(h.endswith("（脱敏）") for h in personal)

    catalogue = {r["代码"]: r for r in sheet_rows(wb["事项目录指标"], header_row=2)}
    for code, record in (("all", metrics["all"]["all"]), ("D1", metrics["dept"]["D1"]), ("D2", metrics["dept"]["D2"])):
        assert catalogue[code]["事项数"] == record["counts"]["items"]
        for key in ("depth3plus_item_rate", "immediate_item_rate", "zero_trip_item_rate", "limit_compression"):
            assert same(catalogue[code][INDICATOR_LABELS[key][0]], record[key]), (code, key)


# The PDF ----------------------------------------------------------------------------------------


def pdf_text(path: Path, *, layout: bool = False, raw: bool = False) -> str:
    """The PDF's text; ``raw``: in content-stream order (a table row's cells one after the other)."""
    args = ["pdftotext", "-enc", "UTF-8"] + (["-layout"] if layout else []) + (["-raw"] if raw else []) + [str(path), "-"]
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


def layout_rows(text: str) -> list[list[str]]:
    """Lines of the layout text split into cells on runs of 2+ spaces."""
    rows = [[c for c in re.split(r"\s{2,}", line.strip()) if c] for line in text.splitlines()]
    return [r for r in rows if len(r) > 1]


def test_pdf_text_equals_metrics_and_embeds_the_cjk_font(published, metrics):
    out, _ = published
    pdf = out / "bulletin-2025-10.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")
    text = pdf_text(pdf)
    flat = re.sub(r"\s+", "", text)
    assert TITLE in flat
    assert "统计期间：2025年10月1日至2025年10月31日" in flat
    for heading in ("一、总体情况", "二、地区排名", "三、本级部门排名", "四、约谈名单", "五、超期办件", "六、差评整改",
                    "七、数据质量"):
        assert heading in flat
    # Headline table: each indicator's row reads label, this month, last month — as `hcp metrics` has them.
    rows = layout_rows(pdf_text(pdf, layout=True))
    first = {}
    for row in rows:
        first.setdefault(row[0], row)
    now, before = metrics["all"]["all"], metrics["previous"]["all"]
    for key in HEADLINE_KEYS:
        cells = first[INDICATOR_LABELS[key][0]]
        assert cells[1:3] == [fmt_value(key, now[key]), fmt_value(key, before[key])], key
    # Region rankings: every city and county (too small a sample to be ranked here: shown with their
    # figures and their reference score, never dropped), and the province's own level beside the cities.
    for by in ("region:city", "region:county"):
        for record in metrics[by].values():
            tokens = next(t for t in (" ".join(row).split() for row in rows)
                          if t[:2] == [rank_text(record, "zh"), record["name"]])
            joined = " ".join(tokens)
            for key in ("composite_score", "cases_completed", "on_time_rate", "online_rate", "good_rate"):
                assert fmt_value(key, record[key]) in joined, (record["group"], key)
    assert "本级山东省本级" in flat  # the province's own level beside the cities (no data this month)
    # The departments are county departments: not the province's own, so in the workbook only.
    assert "三、本级部门排名山东省本级政府没有部门" in flat and "workbook-2025-10.xlsx「部门排名」" in flat
    assert "青岛市市南区市场监督管理局" not in flat[flat.index("三、本级部门排名"):flat.index("四、约谈名单")]
    # The worst items: overdue cases and the unrectified bad rating, with their Chinese labels.
    assert "逾期未办结" in flat and "超期办结" in flat and "未整改" in flat
    assert "差评3件。截至" in flat and "已整改或解释说明2件；整改期限已过的到期差评3件，其中逾期未整改1件" in flat
    # The font is really in the file: CID fonts of Noto Sans CJK, embedded and subset.
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    cjk = [line for line in fonts.splitlines() if "Noto-Sans-CJK-SC" in line]
    assert cjk and all(" yes yes yes " in f" {' '.join(line.split())} " for line in cjk)


def test_pdf_page_one_renders_to_png(published):
    out, _ = published
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm missing")
    ARTIFACTS.mkdir(exist_ok=True)
    prefix = ARTIFACTS / "bulletin-2025-10-page"
    subprocess.run(["pdftoppm", "-r", "110", "-png", str(out / "bulletin-2025-10.pdf"), str(prefix)], check=True)
    page1 = ARTIFACTS / "bulletin-2025-10-page-1.png"
    assert page1.exists()
    from PIL import Image

    with Image.open(page1) as image:
        assert image.width > 800
        grey = image.convert("L")
        dark = sum(grey.histogram()[:128])
        assert dark > 2000  # there is text on the page, not a blank sheet


# Reproducibility and exactly once ---------------------------------------------------------------


def test_same_data_same_bulletin(home, published):
    out, stdout = published
    assert "已生成第 1 版" in stdout
    manifest = json.loads((out / "manifest.json").read_text())
    again = hcp(home, "report", "monthly", "--month", "2025-10")
    assert "数据未变化，沿用第 1 版" in again and manifest["checksum"] in again
    archive = home / "reports" / "monthly" / "2025-10" / "all"
    assert sorted(p.name for p in archive.iterdir() if p.name.startswith("v")) == ["v1"]
    # The checksum is that of the figures (no run time in them); the files' hashes are in the manifest.
    from reports.archive import sha256
    from reports.figures import figures_checksum
    from reports.monthly import render_files

    figures = json.loads((out / "figures.json").read_text())
    assert figures_checksum(figures) == manifest["checksum"]
    for entry in manifest["files"]:
        assert sha256((out / entry["name"]).read_bytes()) == entry["sha256"]
    # Rendering again from the same figures and watermark gives the same bytes (dates = the watermark).
    rendered = render_files(figures, manifest["data_watermark"], 1, None)
    for entry in manifest["files"]:
        assert sha256(rendered[entry["name"]]) == entry["sha256"], entry["name"]
    info = subprocess.run(["pdfinfo", str(out / "bulletin-2025-10.pdf")], capture_output=True, text=True).stdout
    assert "CreationDate" in info and manifest["data_watermark"][:4] in info


def test_same_data_loaded_elsewhere_gives_the_same_checksum(home, published, tmp_path):
    """Another warehouse with the same records (received at another time) has the same figures."""
    out, _ = published
    other = tmp_path / "other"
    other.mkdir()
    saved = os.environ["HCP_HOME"]
    os.environ["HCP_HOME"] = str(other)
    try:
        wh = open_warehouse()
        ensure_schema(wh)
        scenario.load(wh)
        wh.close()
    finally:
        os.environ["HCP_HOME"] = saved
    hcp(other, "report", "monthly", "--month", "2025-10")
    first = json.loads((out / "manifest.json").read_text())
    second = json.loads((other / "reports/monthly/2025-10/all/v1/manifest.json").read_text())
    assert second["checksum"] == first["checksum"]
    assert second["data_watermark"] != first["data_watermark"]


def test_a_city_offices_bulletin_covers_its_subtree(home, metrics):
    stdout = hcp(home, "report", "monthly", "--month", "2025-10", "--region", "370200000000")
    assert "已生成第 1 版" in stdout
    folder = home / "reports/monthly/2025-10/370200000000/v1"
    wb = openpyxl.load_workbook(folder / "workbook-2025-10-370200000000.xlsx")
    assert wb["概况"]["A1"].value == "青岛市政务服务“好差评”月度通报（2025年10月）"
    summary = {r["指标代码"]: r for r in sheet_rows(wb["概况"], header_row=6)}
    city = metrics["region:city"]["370200000000"]
    for key in HEADLINE_KEYS:
        assert same(summary[key]["本月"], city[key]), key
    assert [r["部门代码"] for r in sheet_rows(wb["部门排名"])] == ["D1"]
    assert [(r["层级"], r["区划代码"]) for r in sheet_rows(wb["地区排名"])] == [("县（市、区）", scenario.QD),
                                                                                ("本级", "370200000000")]
    assert {r["办件编号"] for r in sheet_rows(wb["超期办件"])} == {"A", "M"}  # Jinan's F2 and X are not Qingdao's
    flat = re.sub(r"\s+", "", pdf_text(folder / "bulletin-2025-10-370200000000.pdf", raw=True))
    assert "青岛市政务服务“好差评”月度通报（2025年10月）" in flat and "济南" not in flat
    # Its counties, with the city's own level (本级) shown apart beside them.
    assert "各县（市、区）排名" in flat and "本级青岛市本级" in flat and "各市排名" not in flat


def test_a_county_offices_bulletin_ranks_its_own_departments(home, metrics):
    hcp(home, "report", "monthly", "--month", "2025-10", "--region", scenario.QD)
    folder = home / f"reports/monthly/2025-10/{scenario.QD}/v1"
    flat = re.sub(r"\s+", "", pdf_text(folder / f"bulletin-2025-10-{scenario.QD}.pdf", raw=True))
    assert "地区排名" not in flat  # nothing below a county
    departments = flat[flat.index("二、本级部门排名"):flat.index("三、约谈名单")]
    d1 = metrics["dept"]["D1"]
    assert d1["rank_status"] == "small_sample"
    assert d1["composite_score"] is None  # not scored: its row shows — where a ranked unit's score stands
    assert ("样本不足青岛市市南区市场监督管理局" + fmt_value("composite_score", None)) in departments
    assert "共1个，其中参与排名0个、样本不足1个、无数据0个" in departments


def test_english_edition(home):
    run_hcp("--lang", "en", "report", "monthly", "--month", "2025-10", env={"HCP_HOME": str(home)}, check=True)
    folder = home / "reports/monthly/2025-10/all.en/v1"
    text = re.sub(r"\s+", " ", pdf_text(folder / "bulletin-2025-10-en.pdf"))
    assert "monthly bulletin (2025-10)" in text and "on-time rate" in text and "60.00%" in text
    assert "山东省" in text  # names stay as the data has them
    wb = openpyxl.load_workbook(folder / "workbook-2025-10-en.xlsx")
    assert wb.sheetnames[:2] == ["Summary", "Departments"]


def test_a_month_argument_is_checked(home):
    result = run_hcp("report", "monthly", "--month", "2025-13", env={"HCP_HOME": str(home)})
    assert result.returncode == 2
    result = run_hcp("report", "monthly", "--month", "2025-10", "--region", "370399000000", env={"HCP_HOME": str(home)})
    assert result.returncode == 1 and "未知区划" in result.stderr


def test_units_in_the_bottom_two_two_months_running_are_listed_for_a_talk(warehouse):
    """Three departments of one government (Shinan district), in September and October: D1 finishes the
    same day, D4 on time, D3 late — D4 and D3 are the bottom two both months, so both are called in by
    the district's office (its own departments; one case each is enough here, and so are three peers)."""
    from hcp.config import Config
    from metrics.jobs import MetricsSettings

    from warehouse.queries.group_metrics import read_group_metrics
    from metrics.records import metrics_records
    from reports.bulletin import render_html
    from reports.figures import figures_checksum, gather
    from reports.pdf import html_to_pdf
    from tests.builders import events_frame, lifecycle

    qd = scenario.QD
    warehouse.insert_df("regions", scenario.regions())
    warehouse.insert_df("items", scenario.items())
    warehouse.insert_df("departments", pl.DataFrame({
        "dept_code": ["D1", "D3", "D4"], "region_code": [qd] * 3,
        "dept_name": ["市南区市场监督管理局", "市南区住房和城乡建设局", "市南区人力资源和社会保障局"]}))
    rows = []
    for month, (fast, ok, late_from, late_to) in {"09": ("15", "17", "01", "25"), "10": ("15", "17", "09", "30")}.items():
        rows += lifecycle(f"S1-{month}", f"2025-{month}-15", completed=f"2025-{month}-{fast} 15:00", dept="D1", region=qd)
        rows += lifecycle(f"S4-{month}", f"2025-{month}-15", completed=f"2025-{month}-{ok} 10:00", dept="D4", region=qd)
        rows += lifecycle(f"S3-{month}", f"2025-{month}-{late_from}", completed=f"2025-{month}-{late_to} 10:00",
                          dept="D3", region=qd)
    warehouse.insert_df("case_events", events_frame(rows))

    config = Config.from_dict({"ranking": {"min_cases": 1, "min_ratings": 1, "bottom_min_peers": 3,
                                           "bottom_margin_points": 0}})
    figures, version = gather(warehouse, "2025-10", qd, config=config, settings=MetricsSettings.load(config))
    stored = {r["group"]: r for r in metrics_records(read_group_metrics(warehouse, "2025-10", "dept"), {})}
    assert {u["group"] for u in figures["talks"]} == {g for g, r in stored.items() if r["bottom_two_consecutive"]} == {"D3", "D4"}
    pdf = html_to_pdf(render_html(figures, watermark=version.watermark, checksum=figures_checksum(figures), version=1))
    path = Path(os.environ["HCP_HOME"]) / "talks.pdf"
    path.write_bytes(pdf)
    flat = re.sub(r"\s+", "", pdf_text(path, raw=True))
    talks = flat[flat.index("三、约谈名单"):flat.index("四、超期办件")]
    assert "市南区住房和城乡建设局" in talks and "市南区人力资源和社会保障局" in talks
    assert "市南区市场监督管理局" not in talks  # D1 ranked first
    assert "约谈" in flat[flat.index("二、本级部门排名"):flat.index("三、约谈名单")]
    assert "市南区本级部门" in talks


def test_the_quality_section_names_the_cases_that_cannot_be_timed():
    from reports.bulletin import _untimed

    figures = {"quality": {"cases": [], "per_department": [], "untimed": {"cases": 3, "per_department": [
        {"dept_code": "D1", "dept_name": "市南区市场监管局", "cases": 2}, {"dept_code": "D2", "dept_name": "", "cases": 1}]}}}
    text = re.sub(r"<[^>]+>", "", _untimed(figures, "zh"))
    assert "无法计时办件 3 件" in text and "不计入按时办结率" in text and "市南区市场监管局 2" in text and "D2 1" in text
    assert _untimed({"quality": {"cases": [], "per_department": []}}, "zh") == ""  # figures of format 5
