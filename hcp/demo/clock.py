"""Demo time: working-day arithmetic on numpy day numbers, working-hour sampling and ISO text.

A demo instant is an ``int64`` count of seconds since 1970-01-01 00:00 on the **Asia/Shanghai wall
clock** (China has had no daylight saving since 1991), so its local date is ``t // 86400`` (a "day
number") and its text is that wall-clock time followed by ``+08:00``.

Working days come from :class:`hcp.workdays.WorkCalendar` (official holidays and make-up days), with
the same index arithmetic it uses: ``wd(day)`` counts working days up to and including ``day``, so
the working day reached ``k`` working days after ``day`` is the one whose index is ``wd(day) + k``.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from hcp.workdays import WorkCalendar

DAY = 86_400
EPOCH = dt.date(1970, 1, 1)
ISO_FORMAT = "%Y-%m-%dT%H:%M:%S+08:00"
#: An instant (or day number) that never comes: "not happened" in time arrays.
NEVER = np.iinfo(np.int64).max // 4

#: Window hours of a service hall (窗口): 08:30–11:50 and 13:30–17:20.
MORNING = (8 * 3600 + 30 * 60, 11 * 3600 + 50 * 60)
AFTERNOON = (13 * 3600 + 30 * 60, 17 * 3600 + 20 * 60)
#: After this time of day a same-day follow-up step is pushed to the next working day.
LATEST_SAME_DAY = 16 * 3600 + 50 * 60
#: Relative online activity per hour of the day (people apply from home at night too).
ONLINE_HOURS = np.array(
    [0.3, 0.15, 0.1, 0.08, 0.08, 0.15, 0.5, 1.2, 2.5, 4.0, 4.5, 4.0,
     2.5, 3.0, 4.0, 4.2, 3.8, 3.0, 2.2, 2.5, 3.0, 3.0, 2.0, 1.0]
)


def day_number(day: dt.date) -> int:
    return (day - EPOCH).days


def date_of(day_no: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(day_no))


def iso_expr(seconds: pl.Expr | str) -> pl.Expr:
    """Demo instants as ISO 8601 text with the +08:00 offset (``2025-10-09T09:30:00+08:00``)."""
    col = pl.col(seconds) if isinstance(seconds, str) else seconds
    return pl.from_epoch(col, time_unit="s").dt.strftime(ISO_FORMAT)


def iso(seconds: int) -> str:
    return (dt.datetime(1970, 1, 1) + dt.timedelta(seconds=int(seconds))).strftime(ISO_FORMAT)


class DemoCalendar:
    """Working days between ``start`` and ``end`` as numpy lookups (the default, nationwide calendar).

    Arithmetic past ``end`` saturates at ``end``: the generator only uses such far-future instants to
    decide that an event has not happened by the as-of time.
    """

    def __init__(self, start: dt.date, end: dt.date, calendar: WorkCalendar | None = None):
        calendar = calendar or WorkCalendar()
        start = max(start, calendar.start)
        end = min(end, calendar.end)
        days = calendar.days.filter(pl.col("slot") == 0, pl.col("day").is_between(start, end)).sort("day")
        self.first = day_number(start)
        self.last = day_number(end)
        self.working = days["is_working"].to_numpy().astype(bool)
        self.wd = np.cumsum(self.working).astype(np.int64)  # working days up to and including the day
        self.working_days = np.flatnonzero(self.working).astype(np.int64) + self.first  # index k-1 -> day

    def is_working(self, day: np.ndarray) -> np.ndarray:
        return self.working[np.clip(day - self.first, 0, len(self.working) - 1)]

    def index(self, day: np.ndarray) -> np.ndarray:
        """``wd(day)``: working days from the calendar start up to and including ``day``."""
        return self.wd[np.clip(day - self.first, 0, len(self.wd) - 1)]

    def day_of_index(self, index: np.ndarray) -> np.ndarray:
        """The working day whose index is ``index`` (saturating at the calendar's ends)."""
        return self.working_days[np.clip(index - 1, 0, len(self.working_days) - 1)]

    def add(self, day: np.ndarray, k: np.ndarray | int) -> np.ndarray:
        """The working day reached ``k ≥ 1`` working days after ``day`` (``day`` need not be working)."""
        return self.day_of_index(self.index(day) + k)

    def working_days_between(self, first: dt.date, last: dt.date) -> np.ndarray:
        """Day numbers of the working days in ``[first, last]``."""
        a, b = day_number(first), day_number(last)
        return self.working_days[(self.working_days >= a) & (self.working_days <= b)]


def window_seconds(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds after midnight within window hours (mornings a little busier)."""
    morning = rng.random(n) < 0.55
    lo = np.where(morning, MORNING[0], AFTERNOON[0])
    hi = np.where(morning, MORNING[1], AFTERNOON[1])
    return lo + (rng.random(n) * (hi - lo)).astype(np.int64)


def online_seconds(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds after midnight for online activity, following :data:`ONLINE_HOURS`."""
    hour = rng.choice(24, size=n, p=ONLINE_HOURS / ONLINE_HOURS.sum())
    return hour * 3600 + rng.integers(0, 3600, n)


def staff_step(
    cal: DemoCalendar,
    rng: np.random.Generator,
    after: np.ndarray,
    k: np.ndarray,
    gap: tuple[int, int] = (300, 5400),
) -> np.ndarray:
    """When a staff action happens ``k`` working days after instant ``after``, always later than it.

    ``k = 0`` means later the same day (``gap`` seconds after ``after``, or after the window opens if
    ``after`` is earlier), which is only possible on a working day before :data:`LATEST_SAME_DAY`;
    otherwise the action moves to the next working day. For ``k ≥ 1`` the time is drawn within window
    hours of the target working day.
    """
    n = len(after)
    k = np.asarray(k, dtype=np.int64) * np.ones(n, dtype=np.int64)
    day = after // DAY
    same = (k == 0) & cal.is_working(day) & (after % DAY < LATEST_SAME_DAY)
    k = np.where((k == 0) & ~same, 1, k)
    target = cal.add(day, k)
    later = target * DAY + window_seconds(rng, n)
    soon = np.maximum(after, day * DAY + MORNING[0]) + rng.integers(gap[0], gap[1], n)
    return np.where(same, soon, later)


def choose(rng: np.random.Generator, n: int, values, p) -> np.ndarray:
    """``n`` draws from ``values`` with probabilities ``p`` (normalised)."""
    p = np.asarray(p, dtype=np.float64)
    return np.asarray(values)[rng.choice(len(p), size=n, p=p / p.sum())]
