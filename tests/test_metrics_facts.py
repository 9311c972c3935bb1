"""Case facts against values worked out by hand from DOMAIN.md and the official calendar.

Calendar facts used below (State Council notices, via chinesecalendar):
2025 National Day + Mid-Autumn: Oct 1–8 off; Sun Sep 28 and Sat Oct 11 are working days.
2026 Spring Festival: Feb 15–23 off; Sat Feb 14 and Sat Feb 28 working.
2026 Mid-Autumn Sep 25–27 off; National Day Oct 1–7 off; Sun Sep 20 and Sat Oct 10 working.
"""

from __future__ import annotations

import datetime as dt
import random

import polars as pl
import pytest

from hcp.workdays import Override, WorkCalendar
from metrics.facts import case_facts
from tests.builders import at, event, events_frame, items_frame, lifecycle

D = dt.date
CAL = WorkCalendar()
ITEMS = items_frame({"ITEM0": 0, "ITEM1": 1, "ITEM2": 2, "ITEM3": 3, "ITEM4": 4, "ITEM5": 5})


def facts_of(rows, items=ITEMS, calendar=CAL, **kw) -> dict[str, dict]:
    frame = case_facts(events_frame(rows), items, calendar, **kw)
    return {row["case_id"]: row for row in frame.to_dicts()}


def test_national_day_2025_with_sunday_and_saturday_make_up_days():
    # Accepted Fri Sep 26, limit 5: Sep 28 (Sun, make-up) 1, Sep 29 2, Sep 30 3, Oct 9 4, Oct 10 5.
    # Completed Sat Oct 11 (make-up day): overdue by 1 working day; net 6.
    f = facts_of(lifecycle("A", "2025-09-26", completed="2025-10-11 11:00"))["A"]
    assert f["deadline"] == D(2025, 10, 10)
    assert f["on_time"] is False and f["overdue_days"] == 1 and f["net_working_days"] == 6
    assert f["state"] == "completed" and f["same_day"] is False


def test_completion_on_a_make_up_saturday_that_is_the_deadline():
    # Accepted Tue Sep 30, limit 3: Oct 9, Oct 10, Oct 11 (Sat make-up) → D = Oct 11; completed that day.
    f = facts_of(lifecycle("B", "2025-09-30", completed="2025-10-11 16:00", item="ITEM3"))["B"]
    assert f["deadline"] == D(2025, 10, 11)
    assert f["on_time"] is True and f["overdue_days"] == 0 and f["net_working_days"] == 3


def test_suspension_stops_the_clock_from_the_day_after_it_to_the_resume_day():
    # Accepted Thu Oct 9, limit 5; suspended Fri Oct 10, resumed Tue Oct 14: Oct 11, 13, 14 not counted.
    # Counted: Oct 10 (1), Oct 15 (2), 16 (3), 17 (4), Mon Oct 20 (5). Without it D would be Oct 15.
    rows = lifecycle("C", "2025-10-09", completed="2025-10-17 15:00") + [
        event("C", "suspended", "2025-10-10 10:00"), event("C", "resumed", "2025-10-14 09:00")]
    f = facts_of(rows)["C"]
    assert f["deadline"] == D(2025, 10, 20)
    assert f["on_time"] is True and f["stopped_days"] == 3
    assert f["net_working_days"] == 4  # Oct 10, 15, 16, 17
    unsuspended = facts_of(lifecycle("C2", "2025-10-09", completed="2025-10-17 15:00"))["C2"]
    assert unsuspended["deadline"] == D(2025, 10, 15) and unsuspended["on_time"] is False


def test_supplement_after_acceptance_stops_the_clock():
    # Accepted Mon Nov 3 09:30, supplement requested 15:00 the same day, received Wed Nov 5:
    # Nov 4 and 5 not counted; limit 2 → Nov 6 (1), Nov 7 (2).
    rows = lifecycle("D", "2025-11-03", completed="2025-11-07 10:00", item="ITEM2") + [
        event("D", "supplement_requested", "2025-11-03 15:00", item="ITEM2"),
        event("D", "supplement_received", "2025-11-05 11:00", item="ITEM2")]
    f = facts_of(rows)["D"]
    assert f["deadline"] == D(2025, 11, 7) and f["on_time"] is True
    assert f["stopped_days"] == 2 and f["net_working_days"] == 2


def test_supplement_before_acceptance_does_not_touch_the_clock():
    rows = [
        event("E", "submitted", "2025-11-03 09:00", item="ITEM2"),
        event("E", "supplement_requested", "2025-11-03 10:00", item="ITEM2"),
        event("E", "supplement_received", "2025-11-05 10:00", item="ITEM2"),
        event("E", "accepted", "2025-11-05 14:00", item="ITEM2"),
        event("E", "completed", "2025-11-10 10:00", item="ITEM2"),
    ]
    f = facts_of(rows)["E"]
    assert f["acceptance_date"] == D(2025, 11, 5)
    assert f["deadline"] == D(2025, 11, 7)  # Nov 6 (1), Nov 7 (2)
    assert f["on_time"] is False and f["overdue_days"] == 1 and f["stopped_days"] == 0


def test_immediate_items_are_due_on_the_acceptance_date():
    rows = lifecycle("F1", "2025-10-09 10:00", completed="2025-10-09 10:30", item="ITEM0") + \
        lifecycle("F2", "2025-10-09 10:00", completed="2025-10-10 09:00", item="ITEM0")
    f = facts_of(rows)
    assert f["F1"]["deadline"] == D(2025, 10, 9) and f["F1"]["on_time"] and f["F1"]["same_day"]
    assert f["F1"]["net_working_days"] == 0
    assert f["F2"]["on_time"] is False and f["F2"]["overdue_days"] == 1 and f["F2"]["same_day"] is False


def test_spring_festival_2026_make_up_saturdays():
    # Fri Feb 13 + 2: Sat Feb 14 (make-up) 1, Feb 15–23 off, Tue Feb 24 2.
    # Wed Feb 25 + 4: Feb 26, 27, Sat Feb 28 (make-up), Mon Mar 2.
    rows = lifecycle("G", "2026-02-13", completed="2026-02-24 10:00", item="ITEM2") + \
        lifecycle("H", "2026-02-25", completed="2026-02-28 10:00", item="ITEM4")
    f = facts_of(rows)
    assert f["G"]["deadline"] == D(2026, 2, 24) and f["G"]["on_time"] and f["G"]["net_working_days"] == 2
    assert f["H"]["deadline"] == D(2026, 3, 2) and f["H"]["on_time"] and f["H"]["net_working_days"] == 3


def test_national_day_2026_and_mid_autumn():
    # Fri Sep 18 + 3: Sun Sep 20 (make-up) 1, Sep 21 2, Sep 22 3.
    # Tue Sep 22 + 5: Sep 23, 24, (25–27 Mid-Autumn off), 28, 29, 30.
    # Wed Sep 30 + 2: (Oct 1–7 off) Oct 8, Oct 9; completed Sat Oct 10 (make-up): overdue 1.
    rows = lifecycle("I", "2026-09-18", item="ITEM3", completed="2026-09-22 10:00") + \
        lifecycle("I2", "2026-09-22", item="ITEM5", completed="2026-09-30 10:00") + \
        lifecycle("J", "2026-09-30", item="ITEM2", completed="2026-10-10 10:00")
    f = facts_of(rows)
    assert f["I"]["deadline"] == D(2026, 9, 22)
    assert f["I2"]["deadline"] == D(2026, 9, 30)
    assert f["J"]["deadline"] == D(2026, 10, 9) and f["J"]["overdue_days"] == 1


def test_out_of_order_and_duplicated_events_give_the_same_facts():
    rows = (lifecycle("C", "2025-10-09", completed="2025-10-17 15:00")
            + [event("C", "suspended", "2025-10-10 10:00"), event("C", "resumed", "2025-10-14 09:00")]
            + lifecycle("A", "2025-09-26", completed="2025-10-11 11:00"))
    ordered = case_facts(events_frame(rows), ITEMS, CAL).sort("case_id")
    shuffled = rows + rows[:4]  # exact re-sends of four events
    random.Random(3).shuffle(shuffled)
    assert case_facts(events_frame(shuffled), ITEMS, CAL).sort("case_id").equals(ordered)


def test_trips_channel_and_terminal_states():
    rows = [
        event("T", "submitted", "2025-10-09 09:00", channel="hall", onsite=True),
        event("T", "accepted", "2025-10-09 09:10"),
        event("T", "completed", "2025-10-10 10:00"),
        event("T", "delivered", "2025-10-13 10:00", onsite=True),
        event("W", "submitted", "2025-10-09 09:00", channel="mobile"),
        event("W", "accepted", "2025-10-09 09:10"),
        event("W", "withdrawn", "2025-10-10 09:00"),
        event("W", "completed", "2025-10-11 09:00"),  # after the withdrawal: the case had already ended
        event("R", "submitted", "2025-10-09 09:00", channel="online"),
        event("R", "rejected", "2025-10-09 11:00"),
    ]
    f = facts_of(rows)
    assert (f["T"]["trips"], f["T"]["online"], f["T"]["state"]) == (2, False, "completed")
    assert (f["W"]["state"], f["W"]["completed_at"], f["W"]["online"]) == ("withdrawn", None, True)
    assert (f["R"]["state"], f["R"]["deadline"], f["R"]["online"]) == ("rejected", None, True)


def test_catalogue_version_in_force_on_the_acceptance_date():
    items = pl.concat([items_frame({"X": 10}, valid_from="2020-01-01"), items_frame({"X": 2}, valid_from="2025-10-01")])
    rows = lifecycle("old", "2025-09-26", item="X") + lifecycle("new", "2025-10-09", item="X") + \
        lifecycle("unknown", "2025-10-09", item="NOPE")
    f = facts_of(rows, items=items)
    assert f["old"]["promised_limit_days"] == 10 and f["new"]["promised_limit_days"] == 2
    assert f["new"]["deadline"] == D(2025, 10, 11)  # Oct 10 (1), Sat Oct 11 make-up (2)
    assert f["unknown"]["item_known"] is False and f["unknown"]["deadline"] is None


def test_as_of_ignores_later_events_and_runs_open_stops_to_the_as_of_date():
    rows = lifecycle("C", "2025-10-09", completed="2025-10-17 15:00") + [
        event("C", "suspended", "2025-10-10 10:00"), event("C", "resumed", "2025-10-14 09:00")]
    mid = facts_of(rows, as_of=at("2025-10-13 12:00"))["C"]
    assert mid["state"] == "accepted" and mid["clock_stopped"] is True
    # Stop runs (Oct 10, Oct 13]: Oct 11, 13 → D = Oct 15 + 2 working days = Oct 17.
    assert mid["deadline"] == D(2025, 10, 17)
    pending = facts_of(rows[:2] + rows[3:4])["C"]  # suspended, never resumed, no as-of
    assert pending["clock_stopped"] is True and pending["deadline"] is None


def test_a_local_closure_moves_deadlines_only_in_that_locality():
    cal = WorkCalendar([Override(D(2025, 10, 10), False, "370200000000", "台风停工")])
    rows = lifecycle("QD", "2025-10-09", item="ITEM1", region="370202000000") + \
        lifecycle("JN", "2025-10-09", item="ITEM1", region="370102000000")
    f = facts_of(rows, calendar=cal)
    assert f["QD"]["deadline"] == D(2025, 10, 11) and f["JN"]["deadline"] == D(2025, 10, 10)


@pytest.mark.parametrize("limit", [1, 3, 7, 20])
def test_deadline_is_always_a_working_day(limit):
    items = items_frame({"L": limit})
    rows = []
    day = D(2025, 9, 20)
    while day < D(2025, 10, 20):
        rows += lifecycle(f"c{day}", day.isoformat(), item="L")
        day += dt.timedelta(days=1)
    for f in facts_of(rows, items=items).values():
        assert CAL.is_working(f["deadline"])
        assert CAL.working_days_between(f["acceptance_date"], f["deadline"]) == limit
