"""The bulletin at province scale: the demo province (every region, ~2,900 departments, a few thousand
cases) published for the province, a city and a county office, then read back as an office would read it.

* The province PDF fits in about a dozen pages (the issue: 76 pages, every department listed with a
  two-character-wide name column), the city and county ones in fewer.
* No unit name in a table is split across lines: read from the PDF's own text layout (``pdftotext
  -bbox-layout`` lines against the content-stream text of ``pdftotext -raw``).
* The PDF ranks only the office's own departments (本级部门), shows the 本级 rows of the region
  rankings, and points to the workbook, which holds every department of the scope with its rank status.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import openpyxl
import pytest

from hcp.domain import RANK_STATUS_LABELS
from tests.conftest import run_hcp

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils missing: run scripts/system-deps.sh")

MONTH = "2025-10"
PROVINCE, CITY, COUNTY = "370000000000", "370100000000", "370102000000"
#: "About a dozen pages" for the province; the city's and county's have less to rank.
MAX_PAGES = {"all": 14, CITY: 10, COUNTY: 8}


def hcp(home: Path, *args: str, ok=(0,)) -> str:
    result = run_hcp(*args, env={"HCP_HOME": str(home)}, timeout=600)
    assert result.returncode in ok, f"hcp {' '.join(args)}: {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def province(tmp_path_factory):
    """The demo province for October 2025 (4,000 cases), ingested, with the bulletins of the province,
    Jinan and Lixia published. Returns {scope: version folder}."""
    home = tmp_path_factory.mktemp("province")
    data = home / "demo"
    hcp(home, "demo", "generate", "--month", MONTH, "--cases", "4000", "--seed", "11", "--out", str(data),
        "--as-of", "2025-11-10T00:00:00+08:00")
    hcp(home, "init")
    files = sorted(str(p) for p in data.iterdir() if p.name != "manifest.json")
    hcp(home, "ingest", *files, ok=(0, 3))  # 3: the injected malformed records are quarantined
    folders = {}
    for scope in ("all", CITY, COUNTY):
        hcp(home, "report", "monthly", "--month", MONTH, *(() if scope == "all" else ("--region", scope)))
        folders[scope] = home / "reports" / "monthly" / MONTH / scope / "v1"
    return folders


def pdf_of(folder: Path) -> Path:
    [pdf] = folder.glob("*.pdf")
    return pdf


def pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))


def layout_lines(pdf: Path) -> list[str]:
    """The text of every line poppler finds on the pages (glyphs sharing a baseline, no spaces)."""
    xml = subprocess.run(["pdftotext", "-bbox-layout", str(pdf), "-"], capture_output=True, text=True,
                         check=True).stdout
    xml = re.sub(r"<!DOCTYPE[^>]*>", "", xml)
    root = ET.fromstring(xml)
    return ["".join(w.text or "" for w in line.iter() if w.tag.endswith("word"))
            for line in root.iter() if line.tag.endswith("line")]


def stream_text(pdf: Path) -> str:
    """The text in content-stream order, whitespace removed: a wrapped cell's pieces are drawn one after
    the other, so a name reads whole here even when it is split over lines on the page."""
    raw = subprocess.run(["pdftotext", "-raw", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, text=True,
                         check=True).stdout
    return re.sub(r"\s+", "", raw)


def figures(folder: Path) -> dict:
    return json.loads((folder / "figures.json").read_text(encoding="utf-8"))


def shown_names(fig: dict) -> set[str]:
    """Names of the units the PDF ranks (its own departments, the regions below it)."""
    own = set(fig["own"]["codes"])
    names = {r["name"] for r in fig["departments"] if r["region_code"] in own and r["rank_status"] != "no_data"}
    names |= {r["name"] for rows in fig["regions"].values() for r in rows if r["rank_status"] != "no_data"}
    return {n for n in names if n}


@pytest.mark.parametrize("scope", ["all", CITY, COUNTY])
def test_the_bulletin_fits_in_about_a_dozen_pages(province, scope):
    pdf = pdf_of(province[scope])
    assert pages(pdf) <= MAX_PAGES[scope], f"{pdf.name}: {pages(pdf)} pages"


@pytest.mark.parametrize("scope", ["all", CITY, COUNTY])
def test_no_unit_name_is_split_across_lines(province, scope):
    pdf = pdf_of(province[scope])
    lines, stream = layout_lines(pdf), stream_text(pdf)
    names = shown_names(figures(province[scope]))
    assert len(names) >= (15 if scope != COUNTY else 3)
    split = {}
    for name in names:
        printed, whole = stream.count(name), sum(line.count(name) for line in lines)
        assert printed >= 1, name
        if whole < printed:
            split[name] = (printed, whole)
    assert not split, f"names split over lines (printed, whole on one line): {split}"


def test_the_province_bulletin_ranks_its_own_departments_and_points_to_the_workbook(province):
    folder = province["all"]
    fig = figures(folder)
    assert fig["own"]["codes"] == [PROVINCE]
    flat = stream_text(pdf_of(folder))
    own = [r for r in fig["departments"] if r["region_code"] == PROVINCE and r["rank_status"] != "no_data"]
    other = [r for r in fig["departments"] if r["region_code"] != PROVINCE and r["rank_status"] != "no_data"]
    assert own and len(other) > 300  # what the old bulletin listed, page after page
    assert all(r["name"] in flat for r in own)
    assert sum(r["name"] in flat for r in other) <= len(other) // 10  # only where a list names them
    assert "山东省本级" in flat and "济南市本级" in flat  # the province's own beside the cities, the cities' own
    assert "Excel" in flat and "workbook-2025-10.xlsx" in flat
    # The workbook has every department of the scope, each with its rank status.
    wb = openpyxl.load_workbook(next(folder.glob("*.xlsx")), read_only=True)
    ws = wb["部门排名"]
    header = [c.value for c in next(ws.iter_rows(min_row=1, max_row=1))]
    rows = [dict(zip(header, r)) for r in ws.iter_rows(min_row=2, values_only=True)]
    demo_departments = json.loads((folder.parents[4] / "demo" / "manifest.json").read_text())["counts"]["department"]
    assert len(rows) == len({r["部门代码"] for r in rows}) == demo_departments
    labels = {zh for zh, _ in RANK_STATUS_LABELS.values()}
    assert {r["排名状态"] for r in rows} <= labels and len({r["排名状态"] for r in rows}) == 3


def test_a_city_bulletin_shows_the_citys_own_level_beside_its_counties(province):
    folder = province[CITY]
    fig = figures(folder)
    assert fig["own"]["codes"] == [CITY] and list(fig["regions"]) == ["region:county", "region:own"]
    flat = stream_text(pdf_of(folder))
    assert "济南市本级" in flat and "山东省本级" not in flat
    assert all(r["group"].startswith("3701") for rows in fig["regions"].values() for r in rows)
    own = [r for r in fig["departments"] if r["region_code"] == CITY and r["rank_status"] != "no_data"]
    assert own and all(r["name"] in flat for r in own)


def test_a_city_office_ranks_its_own_counties(province):
    """DOMAIN: a region is ranked against the regions of the same level under the same office. The Jinan
    bulletin ranks Jinan's counties among themselves (1…n by the same scores), beside their rank in the
    province as hcp metrics gives it."""
    fig = figures(province[CITY])
    counties = [r for r in fig["regions"]["region:county"] if r["rank_status"] == "ranked"]
    assert counties and all(r["peer_group"] == CITY and r["peers"] == len(counties) for r in counties)
    assert min(r["rank"] for r in counties) == 1
    # a higher score never ranks lower (ties share the better rank)
    assert all(a["rank"] <= b["rank"] for a in counties for b in counties if a["composite_score"] >= b["composite_score"])
    assert all(r["province_peers"] > len(counties) for r in counties)
    province_wide = {r["group"]: r for r in figures(province["all"])["regions"]["region:county"]}
    assert all(r["province_rank"] == province_wide[r["group"]]["rank"] for r in counties)
    assert "全省排名" in stream_text(pdf_of(province[CITY]))


def test_a_smaller_office_lists_exactly_its_share_of_the_province_cases(province):
    """The overdue cases, the open red cases and the bad ratings of a city's bulletin (selected in the
    warehouse by the scope's region) are exactly the province bulletin's of that region, in the same
    order: none lost, none added, no figure changed by reading a smaller scope. (The demo's county has
    too few cases to list any.)"""
    mine, everything = figures(province[CITY]), figures(province["all"])

    def of_scope(rows: list[dict]) -> list[dict]:
        return [r for r in rows if r["region_code"].startswith(CITY[:4])]

    for part in ("completed", "open_red"):
        assert mine["overdue"][part] == of_scope(everything["overdue"][part])
    assert mine["bad_ratings"] == of_scope(everything["bad_ratings"])
    listed = len(mine["overdue"]["completed"]) + len(mine["overdue"]["open_red"]) + len(mine["bad_ratings"])
    assert listed and len(everything["bad_ratings"]) > len(mine["bad_ratings"]), "the scope has cases, not all"
