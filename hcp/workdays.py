"""Working days (工作日): the official calendar, local overrides, and vectorised day arithmetic.

The rule (DOMAIN.md, 行政许可法 art. 82): a day is a working day if it is Monday–Friday and not an
official holiday, or if it is an official make-up working day (调休上班, a weekend day). The official
holidays and make-up days come from the ``chinesecalendar`` package, which carries the State Council's
yearly notices. A locality may add closures or extra working days on top (``calendar_overrides``);
an override for a region code applies to its whole subtree, and the most specific one wins.

Years the package does not cover yet (it is updated when the State Council publishes, each November)
fall back to a *provisional* calendar: Monday–Friday minus the fixed-date statutory holidays
(元旦 Jan 1, 劳动节 May 1–2, 国庆节 Oct 1–3). :attr:`WorkCalendar.provisional_years` names them so the
CLI can warn; overrides complete them.

Arithmetic is done on a **working-day index**: ``wd_index(day)`` is the number of working days from
the calendar's start up to and including ``day``. Then

* the working days ``d`` with ``a < d <= b`` number ``wd_index(b) - wd_index(a)``;
* the working day reached ``n`` working days after ``a`` is the working day whose index is
  ``wd_index(a) + n``.

Both are a lookup per row (Polars ``gather``), never a Python loop per case.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable

import chinese_calendar
import polars as pl

CALENDAR_START = dt.date(2004, 1, 1)
CALENDAR_END = dt.date(2030, 12, 31)
OFFICIAL_LAST_YEAR = max(chinese_calendar.holidays).year
FIXED_STATUTORY_HOLIDAYS = ((1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3))


class CalendarRangeError(ValueError):
    """A date lies outside the calendar's range."""


@dataclass(frozen=True)
class Override:
    """A local exception to the official calendar."""

    day: dt.date
    is_working: bool
    locality_code: str = ""  # a 12-digit region code; '' = everywhere
    note: str = ""


def region_prefix(code: str) -> str:
    """The code prefix that identifies a region's subtree: 2 (province), 4 (city), 6 (county), 9 or 12.

    >>> region_prefix("370200000000"), region_prefix("370110000000"), region_prefix("")
    ('3702', '370110', '')
    """
    if not code:
        return ""
    for length in (2, 4, 6, 9):
        if set(code[length:]) <= {"0"}:
            return code[:length]
    return code


def official_days(start: dt.date = CALENDAR_START, end: dt.date = CALENDAR_END) -> pl.DataFrame:
    """Every date in ``[start, end]`` with ``is_working`` by the official (or provisional) calendar."""
    holidays = pl.Series(sorted(chinese_calendar.holidays), dtype=pl.Date)
    makeup = pl.Series(sorted(chinese_calendar.workdays), dtype=pl.Date)
    day = pl.col("day")
    fixed = pl.any_horizontal(
        [(day.dt.month() == m) & (day.dt.day() == d) for m, d in FIXED_STATUTORY_HOLIDAYS]
    )
    official_year = day.dt.year() <= OFFICIAL_LAST_YEAR
    weekday = day.dt.weekday() <= 5  # Polars: Monday = 1 … Sunday = 7
    return pl.DataFrame({"day": pl.date_range(start, end, "1d", eager=True)}).with_columns(
        is_working=pl.when(official_year)
        .then((weekday & ~day.is_in(holidays.implode())) | day.is_in(makeup.implode()))
        .otherwise(weekday & ~fixed),
        official=official_year,
    )


class WorkCalendar:
    """The working-day calendar for every locality that has overrides, plus the default ('').

    ``days`` has one row per (locality, day): ``locality`` (a region prefix, '' for the default),
    ``day``, ``is_working`` and ``wd_index``.
    """

    def __init__(
        self,
        overrides: Iterable[Override] = (),
        *,
        start: dt.date = CALENDAR_START,
        end: dt.date = CALENDAR_END,
    ):
        self.start, self.end = start, end
        base = official_days(start, end)
        self.provisional_years = tuple(
            sorted(set(base.filter(~pl.col("official"))["day"].dt.year().to_list()))
        )
        by_locality: dict[str, dict[dt.date, bool]] = {"": {}}
        for o in overrides:
            if not start <= o.day <= end:
                raise CalendarRangeError(f"override {o.day} is outside the calendar ({start} … {end})")
            by_locality.setdefault(region_prefix(o.locality_code), {})[o.day] = o.is_working
        # A locality's calendar applies the default overrides, then its ancestors', then its own.
        self.localities = tuple(sorted(by_locality, key=lambda p: (len(p), p)))
        frames = []
        for slot, locality in enumerate(self.localities):
            merged: dict[dt.date, bool] = {}
            for ancestor in self.localities:
                if locality.startswith(ancestor):
                    merged.update(by_locality[ancestor])
            frame = base.select("day", "is_working")
            if merged:
                patch = pl.DataFrame(
                    {"day": list(merged), "patched": list(merged.values())},
                    schema={"day": pl.Date, "patched": pl.Boolean},
                )
                frame = frame.join(patch, on="day", how="left").with_columns(
                    is_working=pl.coalesce("patched", "is_working")
                ).drop("patched")
            frames.append(
                frame.with_columns(
                    locality=pl.lit(locality),
                    slot=pl.lit(slot, dtype=pl.Int32),
                    wd_index=pl.col("is_working").cast(pl.Int32).cum_sum(),
                )
            )
        self.days = pl.concat(frames).select("locality", "slot", "day", "is_working", "wd_index")
        self._ndays = base.height
        self._index = self.days["wd_index"]
        self._working = self.days["is_working"]
        workdays = self.days.filter(pl.col("is_working"))
        # Working day by (slot, index): index k of slot s sits at position s * (n_working_max + 1) + k.
        self._stride = int(workdays.group_by("slot").len()["len"].max()) + 1
        keyed = workdays.select(pos=pl.col("slot").cast(pl.Int64) * self._stride + pl.col("wd_index"), day="day")
        positions = pl.DataFrame({"pos": pl.int_range(0, self._stride * len(self.localities), eager=True)})
        self._day_by_index = positions.join(keyed, on="pos", how="left").sort("pos")["day"]

    # Construction from stored overrides -------------------------------------------------------
    @classmethod
    def from_frame(cls, overrides: pl.DataFrame, **kwargs) -> "WorkCalendar":
        """Build from a frame with ``day``, ``is_working`` and optionally ``locality_code``, ``note``."""
        rows = overrides.to_dicts() if overrides.height else []
        return cls(
            (
                Override(r["day"], bool(r["is_working"]), r.get("locality_code") or "", r.get("note") or "")
                for r in rows
            ),
            **kwargs,
        )

    # Expressions (vectorised) -----------------------------------------------------------------
    def locality_expr(self, region_code: pl.Expr | str) -> pl.Expr:
        """The calendar slot (Int32) that applies to each region code: its most specific override locality."""
        code = pl.col(region_code) if isinstance(region_code, str) else region_code
        slot = pl.lit(0, dtype=pl.Int32)
        for s, prefix in enumerate(self.localities):
            if prefix:
                slot = pl.when(code.str.starts_with(prefix)).then(pl.lit(s, dtype=pl.Int32)).otherwise(slot)
        return slot

    def _position(self, day: pl.Expr, slot: pl.Expr | None) -> pl.Expr:
        offset = (day - pl.lit(self.start)).dt.total_days()
        offset = pl.when((offset >= 0) & (offset < self._ndays)).then(offset)
        if slot is not None:
            offset = offset + slot.cast(pl.Int64) * self._ndays
        return offset

    def index_expr(self, day: pl.Expr | str, slot: pl.Expr | None = None) -> pl.Expr:
        """``wd_index(day)``: working days from the calendar start up to and including ``day``.

        Null for a null day or a day outside the calendar.
        """
        day = pl.col(day) if isinstance(day, str) else day
        return pl.lit(self._index).gather(self._position(day, slot))

    def is_working_expr(self, day: pl.Expr | str, slot: pl.Expr | None = None) -> pl.Expr:
        day = pl.col(day) if isinstance(day, str) else day
        return pl.lit(self._working).gather(self._position(day, slot))

    def day_of_index_expr(self, index: pl.Expr | str, slot: pl.Expr | None = None) -> pl.Expr:
        """The working day whose ``wd_index`` equals ``index`` (null if beyond the calendar)."""
        index = pl.col(index) if isinstance(index, str) else index
        position = index.cast(pl.Int64)
        if slot is not None:
            position = position + slot.cast(pl.Int64) * self._stride
        position = pl.when((index >= 1) & (index < self._stride)).then(position)
        return pl.lit(self._day_by_index).gather(position)

    def add_working_days_expr(self, day: pl.Expr | str, n: pl.Expr | int, slot: pl.Expr | None = None) -> pl.Expr:
        """Vectorised :meth:`add_working_days`: the working day on which the count of working days after
        ``day`` reaches ``n``; for n = 0, ``day`` itself (the DOMAIN convention: a 0-day limit is due the
        same day)."""
        day = pl.col(day) if isinstance(day, str) else day
        n = pl.lit(n) if isinstance(n, int) else n
        reached = self.day_of_index_expr(self.index_expr(day, slot) + n, slot)
        return pl.when(n == 0).then(day).otherwise(reached)

    # Scalars (for tests, the CLI and small lookups) -----------------------------------------
    def _slot(self, region_code: str) -> int:
        best = 0
        for s, prefix in enumerate(self.localities):
            if prefix and region_code.startswith(prefix):
                best = s
        return best

    def _check(self, day: dt.date) -> int:
        if not self.start <= day <= self.end:
            raise CalendarRangeError(f"{day} is outside the calendar ({self.start} … {self.end})")
        return (day - self.start).days

    def is_working(self, day: dt.date, region_code: str = "") -> bool:
        return bool(self._working[self._slot(region_code) * self._ndays + self._check(day)])

    def index(self, day: dt.date, region_code: str = "") -> int:
        return int(self._index[self._slot(region_code) * self._ndays + self._check(day)])

    def working_days_between(self, after: dt.date, upto: dt.date, region_code: str = "") -> int:
        """Working days ``d`` with ``after < d <= upto`` (negative if ``upto`` is before ``after``)."""
        return self.index(upto, region_code) - self.index(after, region_code)

    def add_working_days(self, day: dt.date, n: int, region_code: str = "") -> dt.date:
        """The working day on which the count of working days after ``day`` reaches ``n``; ``day`` itself
        for n = 0 (a 0-day limit is due the same day)."""
        if n < 0:
            raise ValueError("n must not be negative")
        if n == 0:
            return day
        target = self.index(day, region_code) + n
        if target >= self._stride:
            raise CalendarRangeError(f"{n} working days after {day} is beyond the calendar end {self.end}")
        value = self._day_by_index[self._slot(region_code) * self._stride + target]
        return value
