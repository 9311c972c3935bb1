"""督办 (urges, issue 11): the rules by hand-worked values on the official calendar, the store on the real
embedded warehouse (scope, re-send, append-only), the CLI, and the counts of the daily digest and the bulletin.

Calendar facts used (official 2025 calendar): Oct 1–8 off (National Day and Mid-Autumn), Sat Oct 11 a make-up
working day; Thu Oct 9, Fri Oct 10, Mon Oct 13 … Fri Oct 31 working days on weekdays.
"""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest

from hcp.workdays import WorkCalendar
from hcp.scope import Scope
from supervision.urges import (RESPONSE_SCHEMA, URGE_COLUMNS, Target, Urger, UrgeRefused, check_urge, load_urge_responses,
                               open_by_target, outcomes, per_department, record_urge, urge_outcomes)
from tests import scenario_oct2025 as scenario
from tests.builders import at, event, events_frame
from tests.conftest import run_hcp
from warehouse.queries.loop import insert_urge, load_urge, load_urges

QINGDAO = Urger("qingdao", "region", "3702", "青岛市政务服务管理办公室")
JINAN = Urger("jinan", "region", "3701", "济南市政务服务管理办公室")
PROVINCE = Urger("province", "province", "37", "山东省政务服务管理办公室")
DEPT = Urger("d1", "dept", "", "青岛市市南区市场监督管理局")
QD = "370202000000"


def refused(code: str, urger: Urger, target: Target, note: str | None = "请尽快办理") -> UrgeRefused:
    with pytest.raises(UrgeRefused) as info:
        check_urge(urger, target, note)
    assert info.value.code == code, info.value
    assert info.value.zh and info.value.en
    return info.value


# Who may urge what -----------------------------------------------------------------------------------------


def test_an_office_urges_a_red_or_yellow_case_in_its_region_with_a_note():
    red = Target("case", "M", "D1", QD, flag="red")
    assert check_urge(QINGDAO, red, "  请今日办结  ") == "请今日办结"  # trimmed
    assert check_urge(PROVINCE, Target("case", "M", "D1", QD, flag="yellow"), "临期，请按时办结") == "临期，请按时办结"
    assert check_urge(Urger("all", "province", ""), red, "x") == "x"  # a province office without a region: everywhere


def test_a_department_cannot_urge_and_an_office_only_inside_its_region():
    red = Target("case", "M", "D1", QD, flag="red")
    refused("dept_cannot_urge", DEPT, red)
    message = refused("out_of_scope", JINAN, red)  # Jinan's office on a Qingdao case
    assert "不在本单位监督范围内" in message.zh
    # the scope is judged first: another office learns nothing about the case (not even that it is not red)
    refused("out_of_scope", JINAN, Target("case", "A", "D1", QD, flag=None))
    refused("out_of_scope", Urger("shinan", "region", "370203"), red)  # a sibling county's office


def test_only_red_yellow_cases_and_overdue_steps_the_department_owes_are_urgeable():
    refused("not_urgeable", QINGDAO, Target("case", "A", "D1", QD, flag=None))  # completed or not late
    step = dict(kind="step", case_id="A", dept_code="D1", region_code=QD, rating_id="r8")
    assert check_urge(QINGDAO, Target(**step, step="verify", owner="dept", overdue=True), "请核实") == "请核实"
    refused("not_urgeable", QINGDAO, Target(**step, step="verify", owner="dept", overdue=False))  # not yet overdue
    refused("not_urgeable", QINGDAO, Target(**step, step="decide_appeal", owner="office", overdue=True))  # the office's
    refused("not_urgeable", QINGDAO, Target(**step, step=None, owner=None, overdue=False))  # a closed loop


def test_an_urge_needs_a_note():
    red = Target("case", "M", "D1", QD, flag="red")
    for note in (None, "", "   "):
        assert "督办事项" in refused("missing_note", QINGDAO, red, note).zh
    refused("bad_input", QINGDAO, red, "长" * 2001)


# Open, and what followed -----------------------------------------------------------------------------------


def urge(urge_id: str, when: str, *, case: str = "", rating: str = "", dept: str = "D1", by: str = "qingdao",
         note: str = "请办理") -> dict:
    return {"urge_id": urge_id, "target": "step" if rating else "case", "case_id": case, "rating_id": rating,
            "step": "verify" if rating else "", "flag": "" if rating else "red", "dept_code": dept, "region_code": QD,
            "urged_by": by, "urged_by_office": "青岛市政务服务管理办公室", "office_code": "370200000000", "note": note,
            "urged_at": at(when), "source": "test"}


def urges_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows).with_columns(pl.col("urged_at").cast(pl.Datetime("ms", "Asia/Shanghai"))).select(URGE_COLUMNS)


def answer(target: str, key: str, response_id: str, action: str, when: str) -> dict:
    return {"target": target, "key": key, "response_id": response_id, "action": action, "at": at(when)}


def test_what_followed_each_urge_in_working_days_and_the_rounds_of_urging_again():
    calendar = WorkCalendar()
    urges = urges_frame([
        urge("u1", "2025-09-30 10:00", case="K"),                 # answered by the completion Fri Oct 10
        urge("u2", "2025-10-09 09:00", rating="R1"),              # Thu; answered Sat Oct 11 (make-up day)
        urge("u3", "2025-10-10 09:00", rating="R1", by="province"),  # 再次督办 before the answer
        urge("u4", "2025-10-13 09:00", rating="R1"),              # after the answer: a new round, still open
        urge("u5", "2025-10-13 09:00", case="Q"),                 # the case had ended before (arrived late)
        urge("u6", "2025-10-13 09:30", case="Z", dept="D2"),      # nothing followed
    ])
    responses = pl.DataFrame([
        answer("case", "K", "e1", "completed", "2025-10-10 16:00"),
        answer("step", "R1", "f0", "appealed", "2025-10-08 10:00"),   # before the urges: no answer to them
        answer("step", "R1", "f1", "verified", "2025-10-11 10:00"),
        answer("step", "R1", "f2", "rectified", "2025-10-12 10:00"),  # not the first after u2/u3
        answer("case", "Q", "e2", "rejected", "2025-10-12 15:00"),
    ], schema=RESPONSE_SCHEMA)
    out = {r["urge_id"]: r for r in outcomes(urges, responses, calendar).iter_rows(named=True)}
    # Sep 30 → Oct 10: Oct 1–8 off, Oct 9 and 10 are working days 1 and 2.
    assert (out["u1"]["response"], out["u1"]["response_working_days"], out["u1"]["open"]) == ("completed", 2, False)
    # Thu Oct 9 → Sat Oct 11: Oct 10 (1), the make-up Saturday (2); from Fri Oct 10: 1.
    assert (out["u2"]["response"], out["u2"]["response_working_days"], out["u2"]["times"]) == ("verified", 2, 1)
    assert (out["u3"]["response"], out["u3"]["response_working_days"], out["u3"]["times"]) == ("verified", 1, 2)
    assert out["u2"]["response_at"] == at("2025-10-11 10:00")
    assert out["u4"]["open"] and out["u4"]["times"] == 1 and out["u4"]["response"] is None
    assert (out["u5"]["response"], out["u5"]["response_working_days"], out["u5"]["open"]) == ("rejected", 0, False)
    assert out["u6"]["open"] and out["u6"]["response_working_days"] is None
    # As of Oct 10 12:00 the verification had not happened: u2 and u3 were open, u1 was too (completed at 16:00).
    early = {r["urge_id"]: r for r in outcomes(urges, responses, calendar, at("2025-10-10 12:00")).iter_rows(named=True)}
    assert set(early) == {"u1", "u2", "u3"} and all(r["open"] for r in early.values())
    assert [early["u2"]["times"], early["u3"]["times"]] == [1, 2]

    opened = open_by_target(outcomes(urges, responses, calendar))
    assert opened.select("target", "case_id", "rating_id", "urges").rows() == [("step", "", "R1", 1), ("case", "Z", "", 1)]
    both = open_by_target(outcomes(urges, responses, calendar, at("2025-10-10 12:00")))
    r1 = both.filter(pl.col("rating_id") == "R1").row(0, named=True)
    assert r1["urges"] == 2 and r1["urged_by"] == "province" and r1["first_urged_at"] == at("2025-10-09 09:00")
    counts = per_department(outcomes(urges, responses, calendar)).rows()
    assert counts == [("D1", 5, 1, 1), ("D2", 1, 0, 1)]  # (dept, urges, 再次督办, open): most open first, then most urged


def test_a_re_sent_urge_row_counts_once():
    calendar = WorkCalendar()
    row = urge("u1", "2025-10-13 09:00", case="Z")
    out = outcomes(urges_frame([row, row]), pl.DataFrame(schema=RESPONSE_SCHEMA), calendar)
    assert out.height == 1 and out["times"].to_list() == [1]


# The store, on the real warehouse ----------------------------------------------------------------------------


@pytest.fixture
def loaded(warehouse):
    from metrics.jobs import MetricsJob

    scenario.load(warehouse)
    MetricsJob(warehouse).run(full=True)
    return warehouse


T0 = at("2025-10-29 10:00")  # case M is red (deadline Thu Oct 23; 4 working days over), r8's verification overdue


def test_recording_urges_scoped_idempotent_and_append_only(loaded):
    wh = loaded
    first, stored = record_urge(wh, QINGDAO, case_id="M", note="请今日办结，联系 13812345678", now=T0)
    assert stored and first.startswith("ug-")
    row = load_urge(wh, first)
    assert (row["target"], row["flag"], row["dept_code"], row["region_code"], row["urged_by"], row["office_code"]) == \
        ("case", "red", "D1", QD, "qingdao", "370200000000")
    assert row["note"] == "请今日办结，联系 138****5678"  # a phone number is never stored in clear
    # A re-send with the same id is stored once; the same id for another urge is a conflict.
    again = record_urge(wh, PROVINCE, case_id="M", note="再次督办", now=T0 + dt.timedelta(hours=2), urge_id="ug-fixed")
    assert again == ("ug-fixed", True)
    assert record_urge(wh, PROVINCE, case_id="M", note="再次督办", now=T0 + dt.timedelta(hours=2), urge_id="ug-fixed") == \
        ("ug-fixed", False)
    assert not insert_urge(wh, {**row, "urge_id": "ug-fixed", "note": "changed"})  # never replaced
    with pytest.raises(UrgeRefused) as info:
        record_urge(wh, PROVINCE, rating_id="r8", note="x", now=T0, urge_id="ug-fixed")
    assert info.value.code == "conflict"
    assert wh.query_value("SELECT count() FROM urges") == 2
    assert wh.query_value("SELECT note FROM urges FINAL WHERE urge_id = 'ug-fixed'") == "再次督办"
    # Refusals write nothing.
    for urger, kwargs, code in [(JINAN, dict(case_id="M"), "out_of_scope"), (DEPT, dict(case_id="M"), "dept_cannot_urge"),
                                (QINGDAO, dict(case_id="A"), "not_urgeable"), (QINGDAO, dict(case_id="NOPE"), "unknown_target"),
                                (QINGDAO, dict(rating_id="r3"), "not_urgeable"), (QINGDAO, dict(rating_id="r1"), "not_urgeable"),
                                (QINGDAO, dict(case_id="M"), "missing_note")]:
        with pytest.raises(UrgeRefused) as info:
            record_urge(wh, urger, note="" if code == "missing_note" else "请办理", now=T0, **kwargs)
        assert info.value.code == code, (kwargs, info.value)
    assert wh.query_value("SELECT count() FROM urges") == 2

    # Scope: the office outside the region and the other department see nothing; D1 and Qingdao see both.
    later = T0 + dt.timedelta(days=1)
    assert urge_outcomes(wh, Scope.of_region("370100000000"), later).height == 0
    assert urge_outcomes(wh, Scope.of_dept("D2"), later).height == 0
    mine = urge_outcomes(wh, Scope.of_dept("D1"), later)
    assert mine.sort("urged_at")["times"].to_list() == [1, 2] and mine["open"].all()
    assert urge_outcomes(wh, Scope.of_region("370200000000"), later).height == 2
    assert urge_outcomes(wh, Scope.of_dept("D1"), T0 + dt.timedelta(hours=1)).height == 1  # as of: made by then


def test_the_department_answers_an_urge_by_acting_after_it(loaded):
    from supervision.actions import record_action

    wh = loaded
    step, _ = record_urge(wh, QINGDAO, rating_id="r8", note="请核实差评原因", now=T0)
    case, _ = record_urge(wh, QINGDAO, case_id="M", note="请今日办结", now=T0)
    assert load_urge(wh, step)["step"] == "verify"
    # The follow-ups before the urge (appealed Oct 15; the office's appeal_rejected Oct 17) answer nothing.
    responses = load_urge_responses(wh, load_urges(wh, Scope.of_dept("D1")), ("verified", "appealed"),
                                    ("completed",))
    assert sorted(responses["action"].to_list()) == ["appealed"]
    assert urge_outcomes(wh, Scope.of_dept("D1"), at("2025-10-31 12:00"))["open"].all()

    record_action(wh, "r8", "verified", "张科长", reason_category="attitude", now=at("2025-10-31 09:00"))
    wh.insert_df("case_events", events_frame([event("M", "resumed", "2025-11-03 09:00", item="ITEM3"),
                                              event("M", "completed", "2025-11-04 15:00", item="ITEM3")]))
    out = {r["urge_id"]: r for r in urge_outcomes(wh, Scope.of_dept("D1"), at("2025-11-05 12:00")).iter_rows(named=True)}
    # Wed Oct 29 → Fri Oct 31: Oct 30 (1), Oct 31 (2); → Tue Nov 4: Oct 30, 31, Nov 3, Nov 4 = 4.
    assert (out[step]["response"], out[step]["response_working_days"], out[step]["open"]) == ("verified", 2, False)
    assert (out[case]["response"], out[case]["response_working_days"], out[case]["open"]) == ("completed", 4, False)
    # As of Nov 1 the step urge is answered and the case urge still open.
    mid = {r["urge_id"]: r["open"] for r in urge_outcomes(wh, Scope.of_dept("D1"), at("2025-11-01 12:00")).iter_rows(named=True)}
    assert mid == {step: False, case: True}


# The CLI -------------------------------------------------------------------------------------------------------


@pytest.fixture
def cli_home(hcp_home):
    from dashboard import auth
    from tests.dashboard_support import PASSWORD, USERS, build_home

    build_home(hcp_home)
    assert auth.get_user("qingdao") is not None and PASSWORD and USERS
    return hcp_home


def test_hcp_loop_urge_urges_and_the_queue_shows_them_on_top(cli_home):
    done = run_hcp("loop", "urge", "--case", "M", "--note", "请今日办结", "--as", "qingdao", "--at", "2025-10-29T10:00",
                   check=True)
    assert "已督办" in done.stdout and "办件 M" in done.stdout
    run_hcp("loop", "urge", "--case", "M", "--note", "再催", "--as", "province", "--at", "2025-10-29T15:00",
            "--id", "ug-cli-1", check=True)
    resent = run_hcp("loop", "urge", "--case", "M", "--note", "再催", "--as", "province", "--at", "2025-10-29T15:00",
                     "--id", "ug-cli-1", check=True)
    assert "未重复记录" in resent.stdout
    for args, words in [(("--case", "M", "--note", "x", "--as", "jinan"), "不在本单位监督范围内"),
                        (("--case", "M", "--note", "x", "--as", "d1"), "部门用户不能督办"),
                        (("--case", "M", "--note", " ", "--as", "qingdao"), "督办须写明督办事项"),
                        (("--case", "M", "--note", "x", "--as", "nobody"), "nobody"),
                        (("--note", "x", "--as", "qingdao"), "--case"),
                        (("--case", "NOPE", "--note", "x", "--as", "qingdao"), "NOPE")]:
        bad = run_hcp("loop", "urge", *args)
        assert bad.returncode == 2 and words in bad.stderr and "Traceback" not in bad.stderr, (args, bad.stderr)

    listed = json.loads(run_hcp("loop", "urges", "--dept", "D1", "--open", "--format", "json", "--as-of", "2025-10-30",
                                check=True).stdout)
    assert [(u["case_id"], u["urged_by"], u["times"], u["open"]) for u in listed] == [("M", "qingdao", 1, True),
                                                                                     ("M", "province", 2, True)]
    table = run_hcp("loop", "urges", "--office", "370200000000", "--as-of", "2025-10-30", check=True).stdout
    assert "督办 2 件（其中再次督办 1 件），未回应 2 件" in table
    assert run_hcp("loop", "urges", "--office", "370100000000", "--as-of", "2025-10-30", check=True).stdout.startswith(
        "督办 0 件")
    unknown = run_hcp("loop", "urges", "--dept", "NOPE")
    assert unknown.returncode == 2 and "NOPE" in unknown.stderr

    queue = run_hcp("loop", "queue", "--dept", "D1", "--as-of", "2025-10-30", check=True).stdout
    assert queue.index("督办未回应 1 件") < queue.index("条待办")  # the urged case above the queue
    assert "再次督办（2 次）" in queue and "再催" in queue and "山东省政务服务管理办公室" in queue
    english = run_hcp("--lang", "en", "loop", "queue", "--dept", "D1", "--as-of", "2025-10-30", check=True).stdout
    assert "1 urged and not answered" in english and "urged again (2 times)" in english
    assert "督办" not in run_hcp("loop", "queue", "--dept", "D2", "--as-of", "2025-10-30", check=True).stdout

    # A rating's history keeps its urges (who, when, what followed).
    run_hcp("loop", "urge", "--rating", "r8", "--note", "请核实", "--as", "qingdao", "--at", "2025-10-29T10:00", check=True)
    history = run_hcp("followup", "history", "--rating", "r8", check=True).stdout
    assert history.index("督办记录") > history.index("申诉驳回") and "请核实" in history
    urges = json.loads(run_hcp("followup", "history", "--rating", "r8", "--format", "json", check=True).stdout)["urges"]
    assert [(u["urged_by"], u["step"], u["open"]) for u in urges] == [("qingdao", "verify", True)]


# The digest and the bulletin ----------------------------------------------------------------------------------


def test_the_digest_and_the_bulletin_count_open_urges(loaded):
    from reports.bulletin import sections
    from reports.digest import digest_figures, digest_text
    from reports.figures import gather
    from supervision.actions import record_action

    wh = loaded
    record_urge(wh, QINGDAO, case_id="M", note="请今日办结", now=T0)
    record_urge(wh, PROVINCE, case_id="M", note="再次督办", now=T0 + dt.timedelta(hours=1))
    record_urge(wh, QINGDAO, rating_id="r8", note="请核实", now=T0)
    record_action(wh, "r8", "verified", "张科长", reason_category="attitude", now=at("2025-10-30 09:00"))

    digest = digest_figures(wh, at("2025-10-31 10:00"), refresh=False)
    assert digest["urges"] == {"open": 2, "by_department": [{"dept_code": "D1", "dept_name": "青岛市市南区市场监督管理局",
                                                              "open": 2}]}
    assert digest_figures(wh, at("2025-10-29 09:00"), refresh=False)["urges"] == {"open": 0, "by_department": []}
    assert "督办未回应 2 件" in digest_text(digest, None)

    figures, _ = gather(wh, "2025-10", clock=lambda: at("2025-11-20 10:00"))
    assert figures["urges"] == {"issued": 3, "repeated": 1, "open": 2, "by_department": [
        {"dept_code": "D1", "dept_name": "青岛市市南区市场监督管理局", "urges": 3, "repeated": 1, "open": 2}]}
    text = dict(sections(figures, "zh"))["督办"]
    assert "本月督办 3 件（其中再次督办 1 件）" in text and "部门未回应 2 件" in text
    assert "3 urges this month (1 repeated); 2 not answered" in dict(sections(figures, "en"))["Urges"]
    jinan, _ = gather(wh, "2025-10", "370100000000", clock=lambda: at("2025-11-20 10:00"), refresh=False)
    assert jinan["urges"]["issued"] == 0 and "督办" not in dict(sections(jinan, "zh"))
