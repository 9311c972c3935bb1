"""The working-day calendar: official holidays and make-up days, provisional years, local overrides."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from hcp.workdays import CalendarRangeError, Override, WorkCalendar, region_prefix
from tests.conftest import run_hcp

D = dt.date
CAL = WorkCalendar()


@pytest.mark.parametrize("day, working", [
    (D(2025, 9, 28), True),    # Sunday, make-up day for National Day 2025
    (D(2025, 10, 1), False), (D(2025, 10, 8), False),
    (D(2025, 10, 11), True),   # Saturday make-up day
    (D(2026, 2, 14), True), (D(2026, 2, 15), False), (D(2026, 2, 23), False), (D(2026, 2, 28), True),
    (D(2026, 9, 20), True), (D(2026, 9, 25), False), (D(2026, 10, 7), False), (D(2026, 10, 10), True),
    (D(2025, 11, 3), True), (D(2025, 11, 8), False),
])
def test_official_calendar(day, working):
    assert CAL.is_working(day) is working


def test_working_day_arithmetic_across_national_day_2025():
    assert CAL.working_days_between(D(2025, 9, 26), D(2025, 10, 10)) == 5  # Sep 28, 29, 30, Oct 9, 10
    assert CAL.add_working_days(D(2025, 9, 30), 1) == D(2025, 10, 9)
    assert CAL.add_working_days(D(2025, 9, 30), 3) == D(2025, 10, 11)
    assert CAL.working_days_between(D(2025, 10, 10), D(2025, 10, 1)) == -2  # -(Oct 9, Oct 10)


def test_years_not_yet_published_are_provisional_weekdays_minus_fixed_holidays():
    assert 2027 in CAL.provisional_years and 2026 not in CAL.provisional_years
    assert not CAL.is_working(D(2027, 1, 1)) and not CAL.is_working(D(2027, 10, 1))
    assert CAL.is_working(D(2027, 1, 4)) and not CAL.is_working(D(2027, 1, 9))


def test_local_overrides_apply_to_the_subtree_and_the_most_specific_wins():
    cal = WorkCalendar([
        Override(D(2025, 10, 10), False, "370000000000", "全省停工"),
        Override(D(2025, 10, 10), True, "370202000000", "市南区照常上班"),
        Override(D(2025, 10, 12), True, "", "everywhere"),
    ])
    assert not cal.is_working(D(2025, 10, 10), "370102000000")
    assert cal.is_working(D(2025, 10, 10), "370202000000")
    assert cal.is_working(D(2025, 10, 10), "110101000000")  # another province: untouched
    assert cal.is_working(D(2025, 10, 12), "110101000000")
    frame = pl.DataFrame({"day": [D(2025, 10, 10)] * 3, "r": ["370102000000", "370202000000", "110101000000"]})
    out = frame.with_columns(w=cal.is_working_expr("day", cal.locality_expr("r")))["w"].to_list()
    assert out == [False, True, True]


def test_region_prefixes_and_range_errors():
    assert [region_prefix(c) for c in ("370000000000", "370200000000", "370202000000", "370202001000", "370202001002")] == [
        "37", "3702", "370202", "370202001", "370202001002"]
    with pytest.raises(CalendarRangeError):
        CAL.is_working(D(2040, 1, 1))


def test_calendar_import_and_show_through_the_cli(hcp_home, tmp_path):
    overrides = tmp_path / "overrides.csv"
    overrides.write_text("day,is_working,locality_code,note\n2025-10-10,false,370200000000,台风停工\n", encoding="utf-8")
    assert "1" in run_hcp("calendar", "import", str(overrides), check=True).stdout
    shown = run_hcp("calendar", "show", "--month", "2025-10", "--region", "370202000000", check=True).stdout
    assert "2025-10-10 五  休息" in shown and "2025-10-11 六  工作日  调休上班" in shown
    elsewhere = run_hcp("calendar", "show", "--month", "2025-10", "--region", "370102000000", check=True).stdout
    assert "2025-10-10 五  工作日" in elsewhere
    bad = tmp_path / "bad.csv"
    bad.write_text("day,is_working\n2025-13-45,false\n")
    result = run_hcp("calendar", "import", str(bad))
    assert result.returncode == 1 and "Traceback" not in result.stderr


def test_adding_working_days_scalar_and_vectorised_agree_and_zero_days_is_the_day_itself():
    days = [D(2025, 9, 27), D(2025, 9, 30), D(2025, 10, 4), D(2026, 2, 13)]  # incl. a Saturday and a holiday
    frame = pl.DataFrame({"day": days * 3, "n": [0] * 4 + [1] * 4 + [15] * 4})
    vectorised = frame.with_columns(due=CAL.add_working_days_expr("day", pl.col("n")))["due"].to_list()
    assert vectorised == [CAL.add_working_days(d, n) for d, n in frame.iter_rows()]
    assert vectorised[:4] == days  # 0 working days: the day itself, even a non-working one
    assert vectorised[4:8] == [D(2025, 9, 28), D(2025, 10, 9), D(2025, 10, 9), D(2026, 2, 14)]
    with pytest.raises(ValueError):
        CAL.add_working_days(D(2025, 9, 30), -1)
