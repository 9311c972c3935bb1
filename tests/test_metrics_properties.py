"""Property tests of the time rules against a day-by-day reference implementation (hypothesis)."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from hcp.workdays import WorkCalendar
from metrics.facts import case_facts
from tests.builders import event, events_frame, items_frame

CAL = WorkCalendar()
DAY = dt.timedelta(days=1)


def reference_deadline(accepted: dt.date, limit: int, stops: list[tuple[dt.date, dt.date]]) -> dt.date:
    """DOMAIN rules 1–3 read literally: walk forward day by day from A, counting working days that lie in
    no stop (s < d ≤ r), until the count reaches the limit."""
    if limit == 0:
        return accepted
    count, day = 0, accepted
    while count < limit:
        day += DAY
        if CAL.is_working(day) and not any(s < day <= r for s, r in stops):
            count += 1
    return day


def reference_net_days(accepted: dt.date, completed: dt.date, stops) -> int:
    day, count = accepted, 0
    while day < completed:
        day += DAY
        if CAL.is_working(day) and not any(s < day <= r for s, r in stops):
            count += 1
    return count


dates = st.dates(min_value=dt.date(2024, 12, 1), max_value=dt.date(2026, 11, 30))
stop_spec = st.tuples(st.integers(0, 25), st.integers(0, 15), st.sampled_from(["suspension", "supplement"]))


@st.composite
def scenarios(draw):
    accepted = draw(dates)
    limit = draw(st.integers(0, 30))
    specs = draw(st.lists(stop_spec, max_size=3))
    completed_after = draw(st.integers(0, 60))
    return accepted, limit, specs, accepted + completed_after * DAY


def build(accepted, limit, specs, completed, *, with_stops=True):
    rows = [event("P", "submitted", f"{accepted} 08:00", item="L"), event("P", "accepted", f"{accepted} 09:00", item="L")]
    stops = []
    last_end: dict[str, dt.date] = {}
    if with_stops:
        for offset, length, kind in specs:
            start = accepted + offset * DAY
            # A stop of one kind begins after the previous one of that kind has ended (a suspension
            # while suspended has no meaning); stops of different kinds may overlap.
            if kind in last_end and start <= last_end[kind]:
                start = last_end[kind] + DAY
            end = start + length * DAY
            if start > completed:
                continue
            end = min(end, completed)
            begin, finish = ("suspended", "resumed") if kind == "suspension" else ("supplement_requested", "supplement_received")
            rows += [event("P", begin, f"{start} 10:00", item="L"), event("P", finish, f"{end} 16:00", item="L")]
            stops.append((start, end))
            last_end[kind] = end
    rows.append(event("P", "completed", f"{completed} 17:00", item="L"))
    facts = case_facts(events_frame(rows), items_frame({"L": limit}), CAL).row(0, named=True)
    return facts, stops


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_deadline_and_net_days_match_the_day_by_day_reading_of_the_rules(case):
    accepted, limit, specs, completed = case
    facts, stops = build(accepted, limit, specs, completed)
    assert facts["deadline"] == reference_deadline(accepted, limit, stops)
    assert facts["net_working_days"] == reference_net_days(accepted, completed, stops)
    assert facts["on_time"] == (completed <= facts["deadline"])


@settings(max_examples=100, deadline=None)
@given(scenarios())
def test_the_deadline_is_a_working_day_and_a_stop_never_makes_a_case_overdue(case):
    accepted, limit, specs, completed = case
    stopped, _ = build(accepted, limit, specs, completed)
    plain, _ = build(accepted, limit, specs, completed, with_stops=False)
    if limit > 0:
        assert CAL.is_working(stopped["deadline"])
    assert stopped["deadline"] >= plain["deadline"]
    if plain["on_time"]:
        assert stopped["on_time"]
    assert stopped["net_working_days"] + stopped["stopped_days"] == CAL.working_days_between(accepted, completed)
