"""Periods and instants: the two ways a user names *when* (kernel).

* A **period** is a calendar month (``2025-10``) or an inclusive range of days
  (``2025-10-01..2025-10-15``), in Asia/Shanghai local dates. Figures are computed for a period.
* An **instant** (as-of time T) is an ISO 8601 moment; without an offset it is Asia/Shanghai time, and a
  bare date means the end of that day (23:59:59.999), so ``--as-of 2025-10-30`` sees the whole 30th. Red
  and yellow cards, queues and risks are judged as of an instant.

Both must lie within the working-day calendar's years: a deadline outside them cannot be computed.

>>> Period.parse("2025-10").end, Period.parse("2025-10-01..2025-10-15").end
(datetime.date(2025, 11, 1), datetime.date(2025, 10, 16))
>>> parse_instant("2025-10-30").isoformat()
'2025-10-30T23:59:59.999000+08:00'
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import polars as pl

from hcp.settings import TIMEZONE
from hcp.workdays import CALENDAR_END, CALENDAR_START

#: The time zone every local date of the domain is read in.
SHANGHAI = ZoneInfo(TIMEZONE)


class InstantError(ValueError):
    """An as-of instant that is not ISO 8601, or lies outside the working-day calendar."""


@dataclass(frozen=True)
class Period:
    """A calendar month (``2025-10``) or an inclusive date range (``2025-10-01..2025-10-15``), Shanghai time."""

    label: str
    start: dt.date
    end: dt.date  # exclusive

    @classmethod
    def parse(cls, text: str) -> "Period":
        """``YYYY-MM`` or ``YYYY-MM-DD..YYYY-MM-DD``, inside the working-day calendar's years (a period
        outside them cannot be timed); anything else is a ValueError with a message for the user."""
        text = text.strip()
        month = re.fullmatch(r"(\d{4})-(\d{2})", text)
        span = re.fullmatch(r"(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})", text)
        if month:
            year, mon = int(month.group(1)), int(month.group(2))
            if not 1 <= mon <= 12:
                raise ValueError(f"{text!r}: month must be 01–12")
            first = last = dt.date(year, mon, 1)
        elif span:
            try:
                first, last = dt.date.fromisoformat(span.group(1)), dt.date.fromisoformat(span.group(2))
            except ValueError as exc:
                raise ValueError(f"{text!r}: not a date range ({exc})") from None
            if last < first:
                raise ValueError(f"{text!r}: the range ends before it starts")
        else:
            raise ValueError(f"{text!r} is not a period; use YYYY-MM or YYYY-MM-DD..YYYY-MM-DD")
        if first < CALENDAR_START or last > CALENDAR_END:
            raise ValueError(f"{text!r} lies outside the working-day calendar "
                             f"({CALENDAR_START:%Y-%m-%d} … {CALENDAR_END:%Y-%m-%d})")
        return cls.month(first.year, first.month) if month else cls(text, first, last + dt.timedelta(days=1))

    @classmethod
    def month(cls, year: int, month: int) -> "Period":
        start = dt.date(year, month, 1)
        end = dt.date(year + (month == 12), month % 12 + 1, 1)
        return cls(f"{year:04d}-{month:02d}", start, end)

    @property
    def is_month(self) -> bool:
        return bool(re.fullmatch(r"\d{4}-\d{2}", self.label))

    def previous_month(self) -> "Period":
        last = self.start - dt.timedelta(days=1)
        return Period.month(last.year, last.month)

    def contains(self, column: str) -> pl.Expr:
        """True where the datetime ``column`` falls in the period (local dates)."""
        day = pl.col(column).dt.date()
        return (day >= self.start) & (day < self.end)


def parse_instant(text: str) -> dt.datetime:
    """ISO 8601; without an offset the time is Asia/Shanghai; a bare date means its end (23:59:59.999).
    The instant must lie within the working-day calendar's years (red and yellow need the calendar)."""
    try:
        if len(text) == 10:
            value = dt.datetime.combine(dt.date.fromisoformat(text), dt.time(23, 59, 59, 999000), SHANGHAI)
        else:
            value = dt.datetime.fromisoformat(text)
            value = value.replace(tzinfo=SHANGHAI) if value.tzinfo is None else value.astimezone(SHANGHAI)
    except OverflowError:
        value = None  # a valid instant at the edge of time (year 1 or 9999): outside the calendar anyway
    except ValueError as exc:
        raise InstantError(f"{text!r} is not an ISO 8601 instant") from exc
    if value is None or not CALENDAR_START <= value.date() <= CALENDAR_END:
        raise InstantError(f"{text!r} lies outside the working-day calendar "
                           f"({CALENDAR_START:%Y-%m-%d} … {CALENDAR_END:%Y-%m-%d})")
    return value


def now() -> dt.datetime:
    """The present instant, in Asia/Shanghai (the as-of of a command given none)."""
    return dt.datetime.now(SHANGHAI)
