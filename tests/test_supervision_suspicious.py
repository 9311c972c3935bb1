"""Suspicious rating patterns, each listed with its evidence (October 2025; default thresholds: 5 or more level-5
ratings within 10 minutes for one staff member or device)."""

from __future__ import annotations

import json

import polars as pl
import pytest

from hcp.config import Config
from supervision.suspicious import suspicious_ratings
from tests.builders import event, events_frame, lifecycle, rating, ratings_frame
from tests.conftest import run_hcp


def r(rid, when, level=5, *, staff="", device="", case="", stage="", default=False):
    return {**rating(rid, case, level, when, default=default), "staff_id": staff, "stage": stage,
            "extra": json.dumps({"device_id": device}) if device else ""}


RATINGS = [
    # S1: six top ratings in 8 minutes → one burst; a lone one at 14:00; then a second burst 15:00–15:04
    *[r(f"s1-{m}", f"2025-10-09 09:{m:02d}", staff="S1") for m in (0, 1, 2, 3, 5, 8)],
    r("s1-lone", "2025-10-09 14:00", staff="S1"),
    *[r(f"s1-pm{m}", f"2025-10-09 15:{m:02d}", staff="S1") for m in range(5)],
    # S2: five top ratings 3 minutes apart: at most four in any 10 minutes → nothing
    *[r(f"s2-{m}", f"2025-10-10 10:{m:02d}", staff="S2") for m in (0, 3, 6, 9, 12)],
    # S3: exactly five within 10 minutes (09:00 … 09:09) → a burst at the threshold
    *[r(f"s3-{m}", f"2025-10-10 09:{m:02d}", staff="S3") for m in (0, 2, 4, 6, 9)],
    # S4: level 4 is not a top rating; S5: system default ratings are not the rater's act
    *[r(f"s4-{m}", f"2025-10-11 09:{m:02d}", level=4, staff="S4") for m in range(6)],
    *[r(f"s5-{m}", f"2025-10-11 09:{m:02d}", staff="S5", default=True) for m in range(6)],
    # a hall evaluation device, several staff members, five top ratings in four minutes
    *[r(f"dev-{m}", f"2025-10-13 16:{m:02d}", staff=f"W{m}", device="DEV-7") for m in range(5)],
    # September: outside the period
    *[r(f"sep-{m}", f"2025-09-30 09:{m:02d}", staff="S9") for m in range(6)],
    # the case rules
    r("nf", "2025-10-14 10:00", level=1, case="NOPE"),
    r("open", "2025-10-14 10:00", level=3, case="OPEN1"),
    r("open-acc", "2025-10-14 11:00", level=4, case="OPEN1", stage="accepted"),  # 一事多评 at acceptance: fine
    r("wd", "2025-10-15 10:00", level=1, case="WD1"),  # a withdrawn case: listed only on request
    r("early", "2025-10-14 09:00", level=5, case="DONE1"),
    r("early2", "2025-10-14 09:30", level=5, case="DONE1", stage="completed"),
    r("ok", "2025-10-16 10:00", level=5, case="DONE1"),
    r("hall", "2025-10-16 11:00", level=5),  # a window rating without a case
]


@pytest.fixture
def wh(warehouse):
    frame = ratings_frame([{k: v for k, v in x.items() if k not in ("staff_id", "stage", "extra")} for x in RATINGS])
    extra = pl.DataFrame([{k: x[k] for k in ("staff_id", "stage", "extra")} for x in RATINGS])
    warehouse.insert_df("ratings", pl.concat([frame, extra], how="horizontal"))
    warehouse.insert_df("case_events", events_frame([
        *lifecycle("OPEN1", "2025-10-13"),
        *lifecycle("WD1", "2025-10-13"), event("WD1", "withdrawn", "2025-10-14 10:00"),
        *lifecycle("DONE1", "2025-10-13", completed="2025-10-15 10:00"),
    ]))
    return warehouse


def by_pattern(frame: pl.DataFrame) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for row in frame.iter_rows(named=True):
        out.setdefault(row["pattern"], []).append(row)
    return out


def test_every_pattern_with_its_evidence(wh):
    found = by_pattern(suspicious_ratings(wh, "2025-10"))
    assert set(found) == {"top_burst_staff", "top_burst_device", "case_not_found", "case_never_completed",
                          "rated_before_completion"}
    staff = found["top_burst_staff"]
    assert [(f["subject"], f["count"]) for f in staff] == [("S1", 6), ("S1", 5), ("S3", 5)]
    assert staff[0]["rating_ids"] == ["s1-0", "s1-1", "s1-2", "s1-3", "s1-5", "s1-8"]
    assert [t.strftime("%H:%M") for t in staff[0]["rated_at"]] == ["09:00", "09:01", "09:02", "09:03", "09:05", "09:08"]
    assert (staff[0]["first_at"].strftime("%H:%M"), staff[0]["last_at"].strftime("%H:%M")) == ("09:00", "09:08")
    assert json.loads(staff[0]["evidence"]) == {"window_minutes": 10, "min_count": 5, "top_level": 5,
                                                "peak_in_window": 6, "levels": [5]}
    assert staff[1]["rating_ids"] == [f"s1-pm{m}" for m in range(5)]
    device = found["top_burst_device"]
    assert [(f["subject"], f["count"]) for f in device] == [("DEV-7", 5)]
    assert device[0]["rating_ids"] == [f"dev-{m}" for m in range(5)]
    assert [(f["subject"], f["rating_ids"]) for f in found["case_not_found"]] == [("NOPE", ["nf"])]
    never = {f["subject"]: f for f in found["case_never_completed"]}
    assert {s: f["rating_ids"] for s, f in never.items()} == {"OPEN1": ["open"]}
    assert json.loads(never["OPEN1"]["evidence"])["last_event"] == "accepted"
    early = found["rated_before_completion"]
    assert [(f["subject"], f["rating_ids"], f["count"]) for f in early] == [("DONE1", ["early", "early2"], 2)]
    assert json.loads(early[0]["evidence"])["completed_at"] == "2025-10-15T10:00:00+08:00"


def test_thresholds_are_configurable(wh):
    from supervision.settings import SupervisionSettings

    def staff_bursts(**kw):
        settings = SupervisionSettings.load(Config.from_dict({"supervision": {"suspicious": kw}}))
        frame = suspicious_ratings(wh, "2025-10", settings)
        return [(f["subject"], f["count"]) for f in frame.filter(pl.col("pattern") == "top_burst_staff").iter_rows(named=True)]

    assert staff_bursts(burst_min_count=6) == [("S1", 6)]
    assert staff_bursts(burst_min_count=4, burst_minutes=10) == [("S1", 6), ("S1", 5), ("S3", 5), ("S2", 5)]
    assert staff_bursts(burst_minutes=5) == [("S1", 5)]  # only 15:00 … 15:04 fits in a window [t, t + 5 min)
    assert ("S4", 6) in staff_bursts(top_level=4)


def test_ratings_of_cases_that_ended_without_completion_on_request(wh):
    from supervision.settings import SupervisionSettings

    settings = SupervisionSettings.load(Config.from_dict({"supervision": {"suspicious": {"include_ended_cases": True}}}))
    never = suspicious_ratings(wh, "2025-10", settings).filter(pl.col("pattern") == "case_never_completed")
    assert never["subject"].to_list() == ["OPEN1", "WD1"]
    assert json.loads(never["evidence"][1])["case_end"] == "withdrawn"


def test_a_month_without_anything_suspicious(wh):
    assert suspicious_ratings(wh, "2025-11").height == 0


def test_the_cli_lists_the_evidence(wh):
    wh.close()
    result = run_hcp("loop", "suspicious", "--period", "2025-10", "--format", "json", check=True)
    records = json.loads(result.stdout)
    assert [r["pattern"] for r in records][:3] == ["top_burst_staff"] * 3
    assert records[0]["evidence"]["peak_in_window"] == 6 and records[0]["rated_at"][0] == "2025-10-09T09:00:00+08:00"
    table = run_hcp("loop", "suspicious", "--period", "2025-10", check=True)
    assert "异常评价线索 7 条" in table.stdout and "同一窗口人员短时间内大量好评" in table.stdout
