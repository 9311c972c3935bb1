"""Recording loop actions (the dashboard's Python call and `hcp followup add`) into the real warehouse: an
accepted action appends exactly one follow-up, a refused one leaves the table exactly as it was, and the
history is append-only and auditable."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest

from warehouse.queries.ratings import load_followups, load_ratings
from warehouse.queries.reference import load_calendar
from metrics.ratings import rating_facts
from supervision.actions import history, loop_status, record_action
from supervision.loop import ActionRefused
from tests.builders import at, followup, followups_frame, rating, ratings_frame
from tests.conftest import run_hcp
from warehouse import open_warehouse

QD = "370202000000"


def load(wh) -> None:
    wh.insert_df("departments", pl.DataFrame({"dept_code": ["D1"], "dept_name": ["市南区市场监管局"], "region_code": [QD]}))
    wh.insert_df("ratings", ratings_frame([
        rating("bad1", "C1", 1, "2025-09-30 10:00", real_name=True),
        rating("bad2", "C2", 2, "2025-10-09 10:00"),
        rating("bad3", "C3", 2, "2025-10-09 11:00"),
        rating("good", "C4", 5, "2025-10-09 12:00"),
        rating("dflt", "C5", 1, "2025-10-09 12:00", default=True),
    ]))


def followup_rows(wh) -> list[tuple]:
    return wh.query_rows("SELECT followup_id, rating_id, action, action_time, actor, reason_category, note, source "
                         "FROM followups ORDER BY followup_id")


def recorded_anywhere(wh) -> tuple:
    """Everything an action could leave behind: follow-ups, the ingest ledger, the quarantine."""
    return (followup_rows(wh), wh.query_rows("SELECT kind, record_id FROM received_ids ORDER BY record_id"),
            wh.query_value("SELECT count() FROM quarantine"))


@pytest.fixture
def wh(warehouse):
    load(warehouse)
    return warehouse


def test_a_full_loop_through_the_dashboard_call(wh):
    steps = [("verified", "2025-10-09 10:00", "attitude", "窗口人员态度生硬"), ("rectified", "2025-10-15 16:00", None, "已约谈并培训"),
             ("feedback", "2025-10-16 09:00", None, "电话告知整改情况"), ("revisited", "2025-10-21 10:00", None, "评价人表示满意")]
    expected_states = ["verified", "rectified", "fed_back", "closed"]
    ids = []
    for (action, when, reason, note), state in zip(steps, expected_states):
        before = len(followup_rows(wh))
        ids.append(record_action(wh, "bad1", action, "张科长", reason_category=reason, note=note, now=at(when)))
        assert len(followup_rows(wh)) == before + 1
        assert loop_status(wh, "bad1", at(when) + dt.timedelta(minutes=1))["state"] == state
    assert len(set(ids)) == 4 and all(i.startswith("fu-") for i in ids)
    trail = history(wh, "bad1")
    assert trail["followup_id"].to_list() == ids
    assert trail["action"].to_list() == ["verified", "rectified", "feedback", "revisited"]
    assert trail["actor"].unique().to_list() == ["张科长"]
    assert trail["reason_category"].to_list() == ["attitude", "", "", ""]
    assert trail["note"][0] == "窗口人员态度生硬" and set(trail["source"]) == {"dashboard"}
    status = loop_status(wh, "bad1", at("2025-10-22 10:00"))
    assert status["state"] == "closed" and status["allowed_actions"] == []
    # verified Oct 9 ≤ Oct 10, rectified Oct 15 ≤ Oct 28, fed back Oct 16 ≤ Oct 20, revisited Oct 21 ≤ Oct 23
    assert (status["verify_on_time"], status["rectify_on_time"], status["feedback_on_time"],
            status["revisit_on_time"]) == (True, True, True, True)


@pytest.mark.parametrize(("rating_id", "action", "kwargs", "code"), [
    ("good", "verified", {}, "not_in_loop"),                                   # act on a good rating
    ("dflt", "verified", {}, "not_in_loop"),                                   # a default rating
    ("nope", "verified", {}, "unknown_rating"),
    ("bad2", "feedback", {}, "out_of_order"),                                  # feedback before verification
    ("bad2", "revisited", {}, "out_of_order"),                                 # revisit before feedback
    ("bad2", "appeal_upheld", {}, "no_pending_appeal"),                        # decide an appeal never made
    ("bad2", "rectify", {}, "unknown_action"),
    ("bad2", "explained", {"reason_category": "policy"}, "bad_input"),         # a reason only with verified
    ("bad2", "verified", {"reason_category": "weather"}, "bad_input"),
    ("bad2", "verified", {"actor": "  "}, "bad_input"),
    ("bad2", "verified", {"now": at("2025-10-08 10:00")}, "bad_time"),         # before the rating
    ("bad2", "verified", {"reason_category": ""}, "missing_input"),            # 核实 needs a cause
    ("bad2", "explained", {"note": "   "}, "missing_input"),                   # 解释说明 needs what was explained
    ("bad2", "appealed", {"note": ""}, "missing_input"),                       # an appeal needs its grounds
])
def test_refused_actions_record_nothing(wh, rating_id, action, kwargs, code):
    record_action(wh, "bad3", "verified", "x", reason_category="efficiency", now=at("2025-10-09 12:00"))
    before = recorded_anywhere(wh)  # some history in the table
    assert len(before[0]) == len(before[1]) == 1
    needs = {"reason_category": "efficiency"} if action == "verified" else {"note": "已处理"}
    kwargs = {"actor": "李四", "now": at("2025-10-10 10:00"), **needs, **kwargs}
    with pytest.raises(ActionRefused) as refused:
        record_action(wh, rating_id, action, **kwargs)
    assert refused.value.code == code
    assert recorded_anywhere(wh) == before


def test_rectify_an_upheld_rating_is_refused_and_the_rating_is_excluded(wh):
    record_action(wh, "bad2", "appealed", "市南区市场监管局", note="恶意差评：评价人当日未到窗口", now=at("2025-10-09 15:00"))
    with pytest.raises(ActionRefused) as pending:
        record_action(wh, "bad2", "verified", "x", reason_category="efficiency", now=at("2025-10-10 09:00"))
    assert pending.value.code == "appeal_pending"
    record_action(wh, "bad2", "appeal_upheld", "青岛市政务服务管理办公室", now=at("2025-10-13 10:00"))
    before = followup_rows(wh)
    for action in ("rectified", "verified", "appealed", "appeal_rejected"):
        with pytest.raises(ActionRefused) as refused:
            record_action(wh, "bad2", action, "x", reason_category="policy" if action == "verified" else None,
                          note="说明", now=at("2025-10-14 10:00"))
        assert refused.value.code == "final"
        assert "申诉已成立" in refused.value.zh and "upheld" in refused.value.en
    assert followup_rows(wh) == before
    # excluded from every score: the metrics engine reads the same records and no longer counts it
    facts = rating_facts(load_ratings(wh), load_followups(wh), load_calendar(wh), rectify_days=15)
    assert facts.filter(pl.col("rating_id") == "bad2")["counted"].to_list() == [False]
    assert loop_status(wh, "bad2")["state"] == "upheld"


def test_a_rejected_appeal_goes_back_in_the_loop_once(wh):
    record_action(wh, "bad2", "verified", "x", reason_category="materials", now=at("2025-10-09 15:00"))
    record_action(wh, "bad2", "appealed", "x", note="评价人当日未到窗口", now=at("2025-10-10 09:00"))
    record_action(wh, "bad2", "appeal_rejected", "office", note="证据不足", now=at("2025-10-13 09:00"))
    status = loop_status(wh, "bad2", at("2025-10-13 10:00"))
    assert status["state"] == "verified" and status["next_step"] == "rectify"
    # the clock never stopped: 15 working days after Thu Oct 9 — Oct 10 (1), Sat 11 make-up (2), 13 (3), 14 (4),
    # 15 (5), 16 (6), 17 (7), 20 (8), 21 (9), 22 (10), 23 (11), 24 (12), 27 (13), 28 (14), 29 (15)
    assert status["due_date"] == dt.date(2025, 10, 29)
    with pytest.raises(ActionRefused) as again:
        record_action(wh, "bad2", "appealed", "x", note="再次申诉", now=at("2025-10-14 09:00"))
    assert again.value.code == "appeal_once"
    record_action(wh, "bad2", "explained", "x", note="已向评价人说明材料要求的法定依据", now=at("2025-10-14 09:00"))
    assert loop_status(wh, "bad2")["state"] == "explained"


def test_an_anonymous_rating_closes_with_the_feedback(wh):
    for action, when in [("verified", "2025-10-09 15:00"), ("explained", "2025-10-10 10:00"), ("feedback", "2025-10-10 11:00")]:
        record_action(wh, "bad2", action, "x", reason_category="policy" if action == "verified" else None,
                      note="已解释" if action == "explained" else None, now=at(when))
    status = loop_status(wh, "bad2", at("2025-10-11 10:00"))
    assert (status["state"], status["next_step"], status["revisit_due"]) == ("closed", None, None)
    before = followup_rows(wh)
    with pytest.raises(ActionRefused) as refused:
        record_action(wh, "bad2", "revisited", "x", now=at("2025-10-13 10:00"))
    assert refused.value.code == "final" and followup_rows(wh) == before


def test_the_history_only_grows_forward(wh):
    record_action(wh, "bad2", "verified", "x", reason_category="efficiency", now=at("2025-10-10 10:00"))
    before = followup_rows(wh)
    with pytest.raises(ActionRefused) as refused:
        record_action(wh, "bad2", "rectified", "x", note="已整改", now=at("2025-10-10 09:00"))  # earlier than the last step
    assert refused.value.code == "bad_time" and followup_rows(wh) == before
    # without an explicit time the action is timed now, after everything recorded
    new_id = record_action(wh, "bad2", "rectified", "x", note="已整改")
    assert history(wh, "bad2")["followup_id"].to_list()[-1] == new_id


def test_records_from_ingest_in_any_order_then_an_interactive_action(wh):
    """Ingest stored a revisit before the feedback arrived, and the same verification twice: the state is
    derived from the set ordered by time; the next interactive action is checked against that state."""
    rows = [followup("bad3", "verified", "2025-10-09 14:00", reason="efficiency"),
            followup("bad3", "rectified", "2025-10-13 10:00")]
    wh.insert_df("followups", followups_frame(rows[::-1]))
    wh.insert_df("followups", followups_frame(rows[:1]))  # resent
    assert loop_status(wh, "bad3", at("2025-10-14 10:00"))["state"] == "rectified"
    wh.insert_df("followups", followups_frame([followup("bad3", "revisited", "2025-10-15 10:00")]))
    wh.insert_df("followups", followups_frame([followup("bad3", "feedback", "2025-10-14 10:00")]))
    status = loop_status(wh, "bad3", at("2025-10-16 10:00"))
    assert status["state"] == "closed" and status["actions"] == 4
    with pytest.raises(ActionRefused) as refused:
        record_action(wh, "bad3", "feedback", "x", now=at("2025-10-16 10:00"))
    assert refused.value.code == "final"


def test_the_cli_records_refuses_and_shows_the_history(wh, hcp_home):
    wh.close()  # the CLI subprocesses open the embedded warehouse themselves
    ok = run_hcp("followup", "add", "--rating", "bad1", "--action", "verified", "--actor", "王五",
                 "--reason-category", "efficiency", "--note", "等候时间过长", "--at", "2025-10-09T10:00:00+08:00")
    assert ok.returncode == 0, ok.stderr
    assert "已记录 fu-" in ok.stdout and "已核实" in ok.stdout and "2025-10-28" in ok.stdout
    refused = run_hcp("followup", "add", "--rating", "bad1", "--action", "revisited", "--actor", "王五")
    assert refused.returncode == 1
    assert "下一步应为" in refused.stderr and "the next step is to rectify or explain" in refused.stderr
    assert "Traceback" not in refused.stderr
    good = run_hcp("--lang", "en", "followup", "add", "--rating", "good", "--action", "verified", "--actor", "x",
                   "--reason-category", "attitude")
    assert good.returncode == 1 and "not a bad rating" in good.stderr
    empty = run_hcp("followup", "add", "--rating", "bad1", "--action", "rectified", "--actor", "王五", "--note", " ")
    assert empty.returncode == 1 and "整改须写明整改内容" in empty.stderr and "a note of what was done" in empty.stderr
    shown = run_hcp("followup", "history", "--rating", "bad1", "--format", "json", check=True)
    data = json.loads(shown.stdout)
    assert data["state"] == "verified" and data["next_step"] == "rectify" and data["rectify_due"] == "2025-10-28"
    assert [(h["action"], h["actor"], h["reason_category"], h["note"], h["source"]) for h in data["history"]] == [
        ("verified", "王五", "efficiency", "等候时间过长", "cli")]
    table = run_hcp("followup", "history", "--rating", "bad1", check=True)
    assert "评价 bad1（1 星）：已核实" in table.stdout and "办事效率" in table.stdout
    with open_warehouse() as again:
        assert again.query_value("SELECT count() FROM followups") == 1


def test_an_action_goes_through_the_ingest_loader_and_ledger(wh):
    """Recorded like an arriving record: the note's phone and ID numbers masked, the id in received_ids — so the
    same follow-up echoed back through ingest is a duplicate, and a changed one a quarantined conflict; the
    stored row never changes."""
    from hcp.pii import ensure_key
    from ingest.loader import Loader

    note = "已电话联系13812345678，身份证370202199001011234"
    fid = record_action(wh, "bad2", "verified", "x", reason_category="attitude", note=note, now=at("2025-10-10 10:00"))
    stored = history(wh, "bad2").row(0, named=True)
    assert "13812345678" not in stored["note"] and "370202199001011234" not in stored["note"]
    assert "138****5678" in stored["note"] and "3702**********1234" in stored["note"]
    assert wh.query_value("SELECT count() FROM received_ids WHERE kind = 'followup' AND record_id = {i:String}",
                          {"i": fid}) == 1
    echo = pl.DataFrame([{"kind": "followup", "followup_id": fid, "rating_id": "bad2", "action": "verified",
                          "action_time": "2025-10-10T10:00:00+08:00", "actor": "x", "reason_category": "attitude",
                          "note": note, "_pos": "1"}])
    same = Loader(wh, key=ensure_key()).load(echo, source="echo.jsonl")
    assert (same.accepted, same.duplicates) == (0, 1)
    changed = Loader(wh, key=ensure_key()).load(echo.with_columns(action=pl.lit("rectified")), source="echo.jsonl")
    assert (changed.accepted, changed.quarantined) == (0, 1)
    after = history(wh, "bad2")
    assert after.height == 1 and after.row(0, named=True) == stored
