"""The bad-rating loop as a state machine (pure): every transition and refusal, the derivation of the state from
records in any order, and every due-date rule on the real calendar, dates worked out by hand.

2025 official calendar: Oct 1–8 off (National Day + Mid-Autumn), Sun Sep 28 and Sat Oct 11 working.
2026: Spring Festival Feb 15–23 off, Sat Feb 14 and Sat Feb 28 working.
"""

from __future__ import annotations

import datetime as dt
import itertools

import polars as pl
import pytest

from hcp.domain import FOLLOWUP_ACTIONS
from hcp.workdays import Override, WorkCalendar
from metrics.ratings import rating_facts
from supervision.loop import (STATES, ActionRefused, LoopStatus, check_action, derive_states, loop_frame)
from hcp.config import Config
from supervision.settings import SupervisionSettings
from tests.builders import at, followup, followups_frame, rating, ratings_frame

CAL = WorkCalendar()
DEFAULTS = SupervisionSettings.load(Config.from_dict({}))
QD, JN = "370202000000", "370102000000"


def _cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"


def derive(history: list[tuple[str, str]], *, level: int = 1, default: bool = False, rid: str = "rt9",
           real_name: bool = True, revisit_anonymous: bool = False) -> dict:
    """The derived loop row of one (real-name unless said) rating from (action, time) pairs."""
    ratings = ratings_frame([rating(rid, "C1", level, "2025-09-30 10:00", default=default, real_name=real_name)])
    fus = followups_frame([followup(rid, action, when) for action, when in history])
    return derive_states(ratings, fus, revisit_anonymous=revisit_anonymous).row(0, named=True)


def hours(*actions: str) -> list[tuple[str, str]]:
    """Actions one hour apart from 2025-10-09 09:00."""
    start = dt.datetime(2025, 10, 9, 9)
    return [(a, (start + dt.timedelta(hours=i)).strftime("%Y-%m-%d %H:%M")) for i, a in enumerate(actions)]


# Histories that reach each state, and what every action does from there ------------------------------------
HISTORIES = {
    "pending_verification": [],
    "verified": ["verified"],
    "rectified": ["verified", "rectified"],
    "explained": ["verified", "explained"],
    "fed_back": ["verified", "rectified", "feedback"],
    "closed": ["verified", "explained", "feedback", "revisited"],
    "appealed_from_pending": ["appealed"],
    "appealed_from_verified": ["verified", "appealed"],
    "upheld": ["appealed", "appeal_upheld"],
    "rejected_back_to_pending": ["appealed", "appeal_rejected"],
    "rejected_back_to_verified": ["verified", "appealed", "appeal_rejected"],
}
STATE_OF = {
    "appealed_from_pending": "appealed", "appealed_from_verified": "appealed",
    "rejected_back_to_pending": "pending_verification", "rejected_back_to_verified": "verified",
}
V, R, E, F, RV, A, U, RJ = ("verified", "rectified", "explained", "feedback", "revisited", "appealed",
                             "appeal_upheld", "appeal_rejected")
# new state, or the refusal code
EXPECTED = {
    "pending_verification": {V: "verified", R: "out_of_order", E: "out_of_order", F: "out_of_order",
                             RV: "out_of_order", A: "appealed", U: "no_pending_appeal", RJ: "no_pending_appeal"},
    "verified": {V: "already_done", R: "rectified", E: "explained", F: "out_of_order", RV: "out_of_order",
                 A: "appealed", U: "no_pending_appeal", RJ: "no_pending_appeal"},
    "rectified": {V: "already_done", R: "already_done", E: "already_done", F: "fed_back", RV: "out_of_order",
                  A: "appeal_after_rectification", U: "no_pending_appeal", RJ: "no_pending_appeal"},
    "explained": {V: "already_done", R: "already_done", E: "already_done", F: "fed_back", RV: "out_of_order",
                  A: "appeal_after_rectification", U: "no_pending_appeal", RJ: "no_pending_appeal"},
    "fed_back": {V: "already_done", R: "already_done", E: "already_done", F: "already_done", RV: "closed",
                 A: "appeal_after_rectification", U: "no_pending_appeal", RJ: "no_pending_appeal"},
    "closed": {a: "final" for a in FOLLOWUP_ACTIONS},
    "appealed_from_pending": {V: "appeal_pending", R: "appeal_pending", E: "appeal_pending", F: "appeal_pending",
                              RV: "appeal_pending", A: "appeal_pending", U: "upheld", RJ: "pending_verification"},
    "appealed_from_verified": {V: "appeal_pending", R: "appeal_pending", E: "appeal_pending", F: "appeal_pending",
                               RV: "appeal_pending", A: "appeal_pending", U: "upheld", RJ: "verified"},
    "upheld": {a: "final" for a in FOLLOWUP_ACTIONS},
    # back in the loop after a rejected appeal: the loop goes on, but a second appeal is refused
    "rejected_back_to_pending": {V: "verified", R: "out_of_order", E: "out_of_order", F: "out_of_order",
                                 RV: "out_of_order", A: "appeal_once", U: "no_pending_appeal",
                                 RJ: "no_pending_appeal"},
    "rejected_back_to_verified": {V: "already_done", R: "rectified", E: "explained", F: "out_of_order",
                                  RV: "out_of_order", A: "appeal_once", U: "no_pending_appeal",
                                  RJ: "no_pending_appeal"},
}


@pytest.mark.parametrize("name", list(HISTORIES))
def test_the_histories_reach_their_states(name):
    assert derive(hours(*HISTORIES[name]))["state"] == STATE_OF.get(name, name)


@pytest.mark.parametrize(("name", "action"), list(itertools.product(HISTORIES, FOLLOWUP_ACTIONS)))
def test_every_action_from_every_state(name, action):
    """The whole transition table; an allowed action's new state is also what the records then derive to."""
    history = hours(*HISTORIES[name])
    status = LoopStatus.from_row(derive(history))
    expected = EXPECTED[name][action]
    if expected in STATES:
        assert check_action(status, action) == expected
        after = hours(*HISTORIES[name], action)
        assert derive(after)["state"] == expected
    else:
        with pytest.raises(ActionRefused) as refused:
            check_action(status, action)
        assert refused.value.code == expected
        # a clear message in both languages, naming the rating
        zh, en = refused.value.zh, refused.value.en
        assert "rt9" in zh and "rt9" in en
        assert any(_cjk(ch) for ch in zh) and not any(_cjk(ch) for ch in en)
        assert str(refused.value) == f"{zh} / {en}"


@pytest.mark.parametrize("level", [3, 4, 5])
def test_no_action_on_a_rating_that_is_not_bad(level):
    status = LoopStatus.from_row(derive([], level=level))
    assert status.state == "not_in_loop"
    for action in FOLLOWUP_ACTIONS:
        with pytest.raises(ActionRefused) as refused:
            check_action(status, action)
        assert refused.value.code == "not_in_loop"
        assert f"{level} 星" in refused.value.zh and f"level {level}" in refused.value.en


def test_a_default_rating_is_not_in_the_loop_even_when_low():
    status = LoopStatus.from_row(derive([], level=1, default=True))
    with pytest.raises(ActionRefused) as refused:
        check_action(status, "verified")
    assert refused.value.code == "not_in_loop" and "默认评价" in refused.value.zh


def test_an_anonymous_loop_closes_with_the_feedback():
    """DOMAIN: real-name bad ratings are 100% revisited; an anonymous rater cannot be called back."""
    resolved = hours("verified", "explained")
    anonymous = LoopStatus.from_row(derive(resolved, real_name=False))
    assert check_action(anonymous, "feedback") == "closed"
    closed = derive(hours("verified", "explained", "feedback"), real_name=False)
    assert closed["state"] == "closed" and not closed["revisit_required"]
    with pytest.raises(ActionRefused) as refused:
        check_action(LoopStatus.from_row(closed), "revisited")
    assert refused.value.code == "final" and "匿名" in refused.value.zh and "anonymous" in refused.value.en
    # a revisit recorded anyway (ingest) changes nothing; the setting asks a revisit of every bad rating
    assert derive(hours("verified", "explained", "feedback", "revisited"), real_name=False)["state"] == "closed"
    every = derive(resolved, real_name=False, revisit_anonymous=True)
    assert check_action(LoopStatus.from_row(every), "feedback") == "fed_back"
    assert derive(hours("verified", "explained", "feedback"), real_name=False, revisit_anonymous=True)["state"] == "fed_back"


def test_unknown_action():
    with pytest.raises(ActionRefused) as refused:
        check_action(LoopStatus.from_row(derive([])), "deleted")
    assert refused.value.code == "unknown_action"


# Deriving the state from records that arrive in any order --------------------------------------------------

def test_the_state_depends_on_action_times_not_on_arrival_order():
    history = hours("verified", "rectified", "feedback")
    ratings = ratings_frame([rating("r", "C1", 2, "2025-09-30 10:00", real_name=True)])
    rows = [followup("r", a, t) for a, t in history]
    in_order = derive_states(ratings, followups_frame(rows)).row(0, named=True)
    reversed_arrival = derive_states(ratings, followups_frame(rows[::-1])).row(0, named=True)
    resent = derive_states(ratings, followups_frame(rows + rows)).row(0, named=True)  # the same ids twice
    assert in_order == reversed_arrival == resent
    assert in_order["state"] == "fed_back" and in_order["actions"] == 3


def test_a_later_step_implies_the_ones_before_it():
    """Ingest may carry a feedback whose rectification was never recorded: the loop still stands at feedback."""
    row = derive(hours("feedback"))
    assert row["state"] == "fed_back" and row["verified_at"] is None
    assert derive(hours("revisited", "verified"))["state"] == "closed"  # times out of logical order


def test_appeals_derived_like_the_metrics_engine():
    """The latest decision decides (metrics.ratings); an appeal later than it is pending; upheld is final."""
    cases = {
        "a": (["appealed", "appeal_rejected", "appealed"], "appealed", False),
        "b": (["appealed", "appeal_upheld", "verified"], "upheld", True),
        "c": (["appealed", "appeal_upheld", "appeal_rejected"], "pending_verification", False),  # re-decided
        "d": (["verified", "appeal_rejected"], "verified", False),  # a decision without an appeal: no effect
        "e": (["appealed", "appeal_upheld", "appealed"], "upheld", True),
    }
    ratings = ratings_frame([rating(rid, "C1", 1, "2025-09-30 10:00") for rid in cases])
    fus = followups_frame([followup(rid, a, t) for rid, (acts, _, _) in cases.items() for a, t in hours(*acts)])
    derived = {r["rating_id"]: r for r in derive_states(ratings, fus).iter_rows(named=True)}
    excluded = {r["rating_id"]: r["appeal_upheld"] for r in rating_facts(ratings, fus, CAL, rectify_days=15).iter_rows(named=True)}
    for rid, (_, state, upheld) in cases.items():
        assert derived[rid]["state"] == state, rid
        assert excluded[rid] is upheld, rid


def test_same_instant_ties_are_broken_by_followup_id():
    ratings = ratings_frame([rating("r", "C1", 1, "2025-09-30 10:00")])
    same = "2025-10-09 10:00"
    fus = followups_frame([
        {**followup("r", "appealed", same), "followup_id": "fu-a"},
        {**followup("r", "appeal_rejected", same), "followup_id": "fu-b"},
    ])
    assert derive_states(ratings, fus)["state"][0] == "pending_verification"


# Due dates ----------------------------------------------------------------------------------------------------

def frame_for(history: list[tuple[str, str]], *, rated: str = "2025-09-30 10:00", region: str = QD,
              settings: SupervisionSettings = DEFAULTS, calendar: WorkCalendar = CAL,
              as_of: str | None = None) -> dict:
    ratings = ratings_frame([rating("r", "C1", 1, rated, region=region, real_name=True)])
    fus = followups_frame([followup("r", a, t) for a, t in history])
    return loop_frame(ratings, fus, calendar, settings, as_of=at(as_of) if as_of else None).row(0, named=True)


def test_verification_and_rectification_due_across_national_day():
    """Rated Tue 2025-09-30. Oct 1–8 are off. Verification (2): Oct 9 is day 1, Oct 10 day 2 → Oct 10.
    Rectification (15): Oct 9 (1), 10 (2), Sat 11 make-up (3), 13 (4), 14 (5), 15 (6), 16 (7), 17 (8), 20 (9),
    21 (10), 22 (11), 23 (12), 24 (13), 27 (14), 28 (15) → Tue Oct 28."""
    row = frame_for([])
    assert row["verify_due"] == dt.date(2025, 10, 10)
    assert row["rectify_due"] == dt.date(2025, 10, 28)
    assert (row["next_step"], row["due_date"], row["next_owner"]) == ("verify", dt.date(2025, 10, 10), "dept")


def test_due_dates_across_spring_festival_2026():
    """Rated Thu 2026-02-12. Verification: Fri 13 (1), Sat 14 make-up (2) → Feb 14. Rectification: 13 (1),
    14 (2), [15–23 off], 24 (3), 25 (4), 26 (5), 27 (6), Sat 28 make-up (7), Mar 2 (8), 3 (9), 4 (10), 5 (11),
    6 (12), 9 (13), 10 (14), 11 (15) → Wed Mar 11."""
    row = frame_for([], rated="2026-02-12 15:00")
    assert (row["verify_due"], row["rectify_due"]) == (dt.date(2026, 2, 14), dt.date(2026, 3, 11))


def test_a_rating_on_a_holiday_counts_from_the_next_working_day():
    """Rated Sat 2025-10-04 (holiday): the day itself is not counted; Oct 9 (1), Oct 10 (2) → Oct 10."""
    assert frame_for([], rated="2025-10-04 11:00")["verify_due"] == dt.date(2025, 10, 10)


def test_feedback_and_revisit_due_after_the_previous_step():
    """Rectified Fri 2025-10-10 → feedback (3): Sat 11 make-up (1), Mon 13 (2), Tue 14 (3) → Oct 14.
    Fed back Tue Oct 14 → revisit (5): 15, 16, 17, 20, 21 → Tue Oct 21."""
    history = [("verified", "2025-10-09 10:00"), ("rectified", "2025-10-10 16:00")]
    row = frame_for(history)
    assert (row["state"], row["next_step"], row["feedback_due"], row["due_date"]) == (
        "rectified", "feedback", dt.date(2025, 10, 14), dt.date(2025, 10, 14))
    row = frame_for(history + [("feedback", "2025-10-14 09:00")])
    assert (row["next_step"], row["revisit_due"], row["due_date"]) == ("revisit", dt.date(2025, 10, 21), dt.date(2025, 10, 21))
    row = frame_for(history + [("feedback", "2025-10-14 09:00"), ("revisited", "2025-10-21 17:00")])
    assert row["state"] == "closed" and row["next_step"] is None and row["due_date"] is None
    assert (row["verify_on_time"], row["rectify_on_time"], row["feedback_on_time"], row["revisit_on_time"]) == (
        True, True, True, True)


def test_an_appeal_is_decided_by_the_office_within_its_limit():
    """Appealed Thu 2025-10-09; decision due 5 working days later: 10, Sat 11, 13, 14, 15 → Oct 15."""
    row = frame_for([("appealed", "2025-10-09 10:00")])
    assert (row["state"], row["next_step"], row["next_owner"], row["due_date"]) == (
        "appealed", "decide_appeal", "office", dt.date(2025, 10, 15))
    # rejected: back in the loop, and the clock never stopped — verification was due on Oct 10
    row = frame_for([("appealed", "2025-10-09 10:00"), ("appeal_rejected", "2025-10-13 10:00")], as_of="2025-10-13 12:00")
    assert (row["next_step"], row["due_date"], row["overdue"], row["overdue_working_days"]) == (
        "verify", dt.date(2025, 10, 10), True, 2)


def test_locality_limits_and_local_calendar():
    """[loop.locality."370200000000"] (Qingdao) sets rectify_days = 5 and verify_days = 1; Qingdao also closes
    Mon Oct 13 locally. Qingdao, rated Sep 30: verify Oct 9; rectify Oct 9 (1), 10 (2), 11 (3), [13 closed],
    14 (4), 15 (5) → Oct 15. Jinan keeps the defaults and the official calendar: Oct 10 and Oct 28."""
    settings = SupervisionSettings.load(Config.from_dict(
        {"loop": {"locality": {"370200000000": {"rectify_days": 5, "verify_days": 1}}}}))
    calendar = WorkCalendar([Override(dt.date(2025, 10, 13), False, "370200000000")])
    qd = frame_for([], region=QD, settings=settings, calendar=calendar)
    jn = frame_for([], region=JN, settings=settings, calendar=calendar)
    assert (qd["verify_due"], qd["rectify_due"]) == (dt.date(2025, 10, 9), dt.date(2025, 10, 15))
    assert (jn["verify_due"], jn["rectify_due"]) == (dt.date(2025, 10, 10), dt.date(2025, 10, 28))


def test_global_limits_from_config():
    settings = SupervisionSettings.load(Config.from_dict({"loop": {"verify_days": 3, "rectify_days": 5}}))
    row = frame_for([], settings=settings)
    assert (row["verify_due"], row["rectify_due"]) == (dt.date(2025, 10, 11), dt.date(2025, 10, 14))


@pytest.mark.parametrize(("as_of", "overdue", "over", "left"), [
    ("2025-10-09 09:00", False, None, 1),
    ("2025-10-10 23:59", False, None, 0),   # the due date itself
    ("2025-10-11 09:00", True, 1, None),    # Sat Oct 11 is a working day: one working day late
    ("2025-10-12 09:00", True, 1, None),    # Sunday: still one
    ("2025-10-13 09:00", True, 2, None),
])
def test_overdue_as_of_an_instant(as_of, overdue, over, left):
    row = frame_for([], as_of=as_of)
    assert (row["overdue"], row["overdue_working_days"], row["working_days_left"]) == (overdue, over, left)


def test_an_as_of_ignores_later_records():
    history = [("verified", "2025-10-09 10:00"), ("rectified", "2025-10-20 10:00")]
    assert frame_for(history, as_of="2025-10-15 10:00")["state"] == "verified"
    assert frame_for(history, as_of="2025-10-21 10:00")["state"] == "rectified"


def test_rectification_on_time_is_the_metrics_rule():
    """For a rectification on every day from Oct 9 to Nov 10, the loop's on-time mark (taken from
    metrics.ratings.rating_facts) agrees with its due date (Oct 28) by the loop's own comparison, and an
    open rectification turns overdue exactly when a rectification that day would have been late."""
    days = [dt.date(2025, 10, 9) + dt.timedelta(days=i) for i in range(33)]
    ratings = ratings_frame([rating(f"r{d:%m%d}", "C1", 1, "2025-09-30 10:00") for d in days])
    fus = followups_frame([followup(f"r{d:%m%d}", "explained", d.isoformat() + " 15:00") for d in days])
    frame = loop_frame(ratings, fus, CAL, DEFAULTS)
    for row in frame.iter_rows(named=True):
        done = row["resolved_at"].date()
        assert row["rectify_due"] == dt.date(2025, 10, 28)
        assert row["rectify_on_time"] == (CAL.index(done) <= CAL.index(row["rectify_due"])), done
        open_row = frame_for([("verified", "2025-10-09 09:00")], as_of=done.isoformat() + " 12:00")
        assert open_row["overdue"] == (not row["rectify_on_time"]), done
    late = frame.filter(~pl.col("rectify_on_time"))["resolved_at"].dt.date().min()
    assert late == dt.date(2025, 10, 29)
