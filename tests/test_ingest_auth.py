"""Authenticated ingest: who may push what (tokens, scopes), and the history of reference data.

Issue 12, finding 1: one unauthenticated ``POST /ingest`` of a ``department`` record moved a Qingdao
department into Jinan, and the Jinan office then saw its figures. Every test here runs the real endpoint
(uvicorn on loopback) over the real embedded warehouse.
"""

from __future__ import annotations

import contextlib
import json

import pytest

from tests.conftest import run_hcp
from tests.ingest_records import department, event, item, rating, region, write_jsonl
from tests.test_ingest_http import _ndjson, post, serve_in_thread

QINGDAO, JINAN = "370200000000", "370100000000"
QD_DISTRICT = "370202000000"


@pytest.fixture
def qingdao(warehouse, tmp_path):
    """A warehouse where the operator has loaded Qingdao's department D370200001 and 3 of its ratings,
    and the endpoint serving it."""
    from hcp.pii import ensure_key
    from ingest.loader import Loader
    from ingest.run import ingest_path

    ensure_key()
    path = write_jsonl(tmp_path / "reference.jsonl", [
        region(QINGDAO, region_name="青岛市", parent_code="370000000000"), region(QD_DISTRICT),
        department("D370200001"), item(), *[rating(f"R{k}") for k in range(3)]])
    assert ingest_path(Loader(warehouse), str(path)).accepted == 7
    with contextlib.contextmanager(serve_in_thread)(warehouse) as (url, _writer):
        yield f"{url}/ingest", warehouse


def _state(wh) -> dict:
    """Everything a push could have changed."""
    return {
        "departments": wh.query_rows("SELECT dept_code, region_code FROM departments FINAL ORDER BY dept_code"),
        "case_events": wh.query_value("SELECT count() FROM case_events"),
        "ratings": wh.query_value("SELECT count() FROM ratings"),
        "followups": wh.query_value("SELECT count() FROM followups"),
        "regions": wh.query_rows("SELECT region_code, parent_code FROM regions FINAL ORDER BY region_code"),
        "items": wh.query_rows("SELECT item_code, dept_code FROM items FINAL"),
        "ledger": wh.query_value("SELECT count() FROM received_ids"),
        "quarantine": wh.query_value("SELECT count() FROM quarantine"),
        "history": wh.query_value("SELECT count() FROM reference_changes"),
    }


def _jinan_sees(wh) -> int:
    """Ratings a Jinan office sees: those of departments whose region is in Jinan's subtree."""
    return wh.query_value(
        "SELECT count() FROM ratings AS r FINAL INNER JOIN (SELECT dept_code, region_code FROM departments FINAL) AS d "
        "ON r.dept_code = d.dept_code WHERE startsWith(d.region_code, '3701')")


def test_the_department_move_attack_is_refused(qingdao):
    """The attack of finding 1, replayed: records sent 1, stored 0, quarantined 0, lost 0, duplicated 0 —
    refused as a whole, with or without a token, by every token that may not make that change."""
    from ingest.tokens import issue

    url, wh = qingdao
    before = _state(wh)
    assert _jinan_sees(wh) == 0
    attack = _ndjson([department("D370200001", region_code=JINAN)])
    # 1. No credential at all (the attack as it was): 401.
    status, headers, answer = post(url, attack)
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer") and "token" in answer["error"]
    # 2. Jinan's own reference-data token: the department is Qingdao's, so Jinan cannot take it.
    jinan, _ = issue(wh, "jinan-platform", kinds=("department", "case_event", "rating"), region_code=JINAN)
    status, _h, answer = post(url, attack, token=jinan)
    assert status == 403, answer
    assert [(r["line"], r["reason"]) for r in answer["refused"]] == [(1, "department_outside_scope")]
    assert "nothing of this request was stored" in answer["error"]
    # 3. Qingdao's facts token may not write departments at all.
    qd_facts, _ = issue(wh, "qingdao-hall", kinds=("case_event", "rating"), region_code=QINGDAO)
    status, _h, answer = post(url, attack, token=qd_facts)
    assert (status, answer["refused"][0]["reason"]) == (403, "kind_not_allowed")
    # 4. Qingdao's reference token may not move its department out of Qingdao either.
    qd_ref, _ = issue(wh, "qingdao-catalogue", kinds=("department",), region_code=QINGDAO)
    status, _h, answer = post(url, attack, token=qd_ref)
    assert (status, answer["refused"][0]["reason"]) == (403, "region_outside_scope")
    # Nothing moved, nothing stored, nothing quarantined; Jinan sees nothing of Qingdao's.
    sent, stored, quarantined = 1, _state(wh)["ledger"] - before["ledger"], _state(wh)["quarantine"] - before["quarantine"]
    assert (sent, stored, quarantined, sent - stored - quarantined) == (1, 0, 0, 1)  # 1 = refused, by design
    assert _state(wh) == before
    assert _jinan_sees(wh) == 0
    print(f"\nattack 1 (department move): sent {sent}, stored {stored}, quarantined {quarantined}, "
          f"refused {sent - stored - quarantined}, lost 0, duplicated 0")


def test_credentials_401(qingdao):
    from ingest.tokens import issue, revoke

    url, wh = qingdao
    body = _ndjson([event("E1")])
    token, _ = issue(wh, "qingdao-hall", kinds=("case_event",), region_code=QINGDAO)
    for headers in ({}, {"Authorization": token}, {"Authorization": f"Basic {token}"},
                    {"Authorization": "Bearer hcp_not-a-token"}, {"Authorization": f"Bearer {token}x"},
                    {"Authorization": "Bearer "}):
        status, _h, answer = post(url, body, headers=headers)
        assert status == 401, (headers, answer)
    assert post(url, body, token=token)[0] == 200
    revoke(wh, "qingdao-hall")
    # The endpoint still remembers the token as found valid a moment ago, which lets a body be read; what
    # refuses it is the look-up right before anything is stored: the writer's, for the group an NDJSON body
    # joins; the request's own, for a body decoded on its own path (a JSON array, ?wait=0).
    for pushed, content_type, query in ((_ndjson([event("E2", event_type="accepted")]), "application/x-ndjson", ""),
                                        (json.dumps([event("E3")]).encode(), "application/json", ""),
                                        (_ndjson([event("E4")]), "application/x-ndjson", "?wait=0")):
        status, headers, answer = post(url + query, pushed, token=token, content_type=content_type)
        assert (status, headers["WWW-Authenticate"]) == (401, 'Bearer realm="hcp-ingest"'), (content_type, query, answer)
        assert "valid token is required" in answer["error"]
    assert wh.query_value("SELECT count() FROM case_events FINAL") == 1
    assert wh.query_value("SELECT count() FROM quarantine") == 0


def test_scope_403_names_every_record_outside_and_stores_nothing(qingdao):
    """One record outside the grant refuses the whole request; the answer lists each one and why."""
    from ingest.tokens import issue

    url, wh = qingdao
    issue(wh, "jinan-ref", kinds=("department",), region_code=JINAN)  # (a Jinan department, stored by the operator)
    from ingest.loader import Loader
    from ingest.run import ingest_bytes

    ingest_bytes(Loader(wh), _ndjson([department("D370100001", region_code=JINAN)]), source="op", batch_id="b")
    before = _state(wh)
    token, _ = issue(wh, "qingdao-all", kinds=("case_event", "rating", "followup", "region", "item"), region_code=QINGDAO)
    body = _ndjson([
        event("E1"),                                                       # 1 fine
        event("E2", region_code="370102000000"),                            # 2 region outside
        rating("R9", dept_code="D370100001"),                               # 3 Jinan's department
        {"kind": "followup", "followup_id": "F1", "rating_id": "R1", "action": "verified",
         "action_time": "2025-10-11T09:00:00+08:00", "actor": "x"},         # 4 fine: R1 is Qingdao's
        {"kind": "followup", "followup_id": "F2", "rating_id": "nope", "action": "verified",
         "action_time": "2025-10-11T09:00:00+08:00", "actor": "x"},         # 5 unknown rating
        department("D370200002"),                                           # 6 kind not allowed
        region("370202000000", parent_code=JINAN),                          # 7 parent outside
        region(QINGDAO, parent_code="370000000000"),                        # 8 fine: the province is an ancestor
        item("X-1", dept_code="D370100001"),                                # 9 Jinan's department
        item("X-2", dept_code="D-UNKNOWN"),                                 # 10 department unknown
        event("E3", region_code="not-a-code"),                              # 11 quarantined by validation, not refused
        "not json",                                                         # 12 likewise
    ])
    status, _h, answer = post(url, body, token=token)
    assert status == 403, answer
    assert [(r["line"], r["reason"]) for r in answer["refused"]] == [
        (2, "region_outside_scope"), (3, "department_outside_scope"), (5, "rating_unknown"), (6, "kind_not_allowed"),
        (7, "region_outside_scope"), (9, "department_outside_scope"), (10, "department_unknown")]
    assert answer["refused_count"] == 7 and all(r["detail"] for r in answer["refused"])
    assert _state(wh) == before
    # Without the refused records the same request is stored (bad records quarantined as usual).
    fine = [line for k, line in enumerate(body.decode().splitlines(), 1) if k in (1, 4, 8, 11, 12)]
    status, _h, answer = post(url, ("\n".join(fine) + "\n").encode(), token=token)
    assert (status, answer["accepted"], answer["quarantined"]) == (200, 3, 2), answer


def test_a_token_for_every_region_checks_kinds_only(qingdao):
    from ingest.tokens import issue

    url, wh = qingdao
    token, _ = issue(wh, "province-platform", kinds=("case_event",))
    assert post(url, _ndjson([event("E1", region_code="370102000000")]), token=token)[0] == 200
    status, _h, answer = post(url, _ndjson([rating("R7")]), token=token)
    assert (status, answer["refused"][0]["reason"]) == (403, "kind_not_allowed")


def test_reference_changes_are_kept_with_who_when_before_and_after(qingdao, tmp_path):
    """A change within scope is stored and recorded; the dashboard's query finds who moved a department."""
    from warehouse.queries.state import department_region_changes, reference_history
    from ingest.tokens import issue

    url, wh = qingdao
    token, _ = issue(wh, "qingdao-catalogue", kinds=("department",), region_code=QINGDAO)
    status, _h, answer = post(url + "?source=catalogue-sync", _ndjson([department("D370200001", region_code=QD_DISTRICT)]),
                              token=token)
    assert (status, answer["accepted"]) == (200, 1)
    # Sending the same again is no change (a duplicate), and leaves no second history row.
    status, _h, answer = post(url, _ndjson([department("D370200001", region_code=QD_DISTRICT)]), token=token)
    assert (status, answer["duplicates"]) == (200, 1)
    moves = department_region_changes(wh)
    assert moves.select("dept_code", "region_before", "region_after", "actor", "source").rows() == [
        ("D370200001", QINGDAO, QD_DISTRICT, "token:qingdao-catalogue", "http:qingdao-catalogue/catalogue-sync")]
    assert department_region_changes(wh, region_prefix="3701").height == 0  # Jinan's office: not its business
    assert department_region_changes(wh, region_prefix="370202").height == 1
    history = reference_history(wh, kind="department", record_id="D370200001")
    assert history["action"].to_list() == ["created", "changed"]
    created, changed = history.rows(named=True)
    assert created["actor"].startswith("operator:") and created["before"] == ""
    assert json.loads(changed["before"])["region_code"] == QINGDAO and json.loads(changed["after"])["region_code"] == QD_DISTRICT
    assert changed["before_source"] == created["source"]
    assert {r["kind"] for r in reference_history(wh).rows(named=True)} == {"region", "department", "item"}


def test_history_survives_a_crash_between_history_data_and_ledger(warehouse, tmp_path):
    """Re-reading a file after a crash at either point records each change once, and none is missed."""
    from hcp.pii import ensure_key
    from ingest import history
    from ingest.loader import Loader
    from ingest.readers import decode_jsonl
    from ingest.run import ingest_path, with_positions
    from warehouse.queries.state import reference_history

    ensure_key()
    first = write_jsonl(tmp_path / "v1.jsonl", [department("D1", region_code=QINGDAO)])
    moved = write_jsonl(tmp_path / "v2.jsonl", [department("D1", region_code=QD_DISTRICT)])
    ingest_path(Loader(warehouse), str(first))
    # A crash after v2's data insert, before its ledger insert: the ledger does not know v2; the restart
    # reads v2 again and stores it again (harmless: FINAL) — but it is no new change.
    ingest_path(Loader(warehouse), str(moved))
    warehouse.command("TRUNCATE TABLE received_ids")
    assert ingest_path(Loader(warehouse), str(moved)).accepted == 1
    # A crash after v3's history insert, before its data: the restart stores the data, and the change once.
    third = write_jsonl(tmp_path / "v3.jsonl", [department("D1", dept_name="市场监管局", region_code=QD_DISTRICT)])
    loader = Loader(warehouse)
    prepared = loader.prepare(with_positions(decode_jsonl(third.read_bytes())), str(third.resolve()))
    history.store(warehouse, history.change_rows(warehouse, "department", prepared.accepted["department"],
                                                 actor=loader.actor))
    ingest_path(Loader(warehouse), str(third))
    changes = reference_history(warehouse, kind="department", record_id="D1")
    assert changes.select("action", "source").rows() == [
        ("created", str(first.resolve())), ("changed", str(moved.resolve())), ("changed", str(third.resolve()))]
    assert warehouse.query_value("SELECT count() FROM reference_changes") == 3


def test_tokens_cli_issue_list_revoke_and_only_the_hash_is_kept(hcp_home):
    run_hcp("init", check=True)
    shown = run_hcp("--lang", "en", "tokens", "issue", "qingdao-hall", "--kinds", "case_event,rating",
                    "--region", QINGDAO, check=True)
    token = next(line.strip() for line in shown.stdout.splitlines() if line.strip().startswith("hcp_"))
    assert "shown this once" in shown.stdout and "Authorization: Bearer" in shown.stdout
    refused = run_hcp("--lang", "en", "tokens", "issue", "qingdao-hall", "--region", QINGDAO)
    assert refused.returncode == 2 and "revoke it first" in refused.stderr
    assert run_hcp("tokens", "issue", "x", "--kinds", "nonsense", "--region", QINGDAO).returncode == 2
    assert run_hcp("tokens", "issue", "y", "--kinds", "case_event").returncode == 2  # a region (or --all-regions)
    listed = json.loads(run_hcp("tokens", "list", "--json", check=True).stdout)
    assert listed == [{"name": "qingdao-hall", "kinds": ["case_event", "rating"], "region_code": QINGDAO,
                       "status": "active", "issued_at": listed[0]["issued_at"], "revoked_at": None, "note": ""}]
    assert token not in run_hcp("tokens", "list", check=True).stdout
    run_hcp("tokens", "revoke", "qingdao-hall", check=True)
    assert json.loads(run_hcp("tokens", "list", "--json", check=True).stdout)[0]["status"] == "revoked"
    assert run_hcp("tokens", "revoke", "qingdao-hall").returncode == 2
    from ingest.tokens import digest
    from warehouse import open_warehouse

    with open_warehouse() as wh:
        stored = wh.query_df("SELECT * FROM ingest_tokens")
        assert set(stored["token_hash"]) == {digest(token)}
    # Not in clear anywhere on disk either.
    blobs = b"".join(p.read_bytes() for p in (hcp_home / "warehouse").rglob("*") if p.is_file())
    assert token.encode() not in blobs and digest(token).encode() in blobs


def test_hcp_ingest_history_cli(hcp_home, tmp_path):
    run_hcp("init", check=True)
    run_hcp("ingest", str(write_jsonl(tmp_path / "a.jsonl", [department("D1", region_code=QINGDAO)])), check=True)
    run_hcp("ingest", str(write_jsonl(tmp_path / "b.jsonl", [department("D1", region_code=JINAN)])), check=True)
    shown = run_hcp("--lang", "en", "ingest", "history", "--dept", "D1", check=True).stdout
    assert "created" in shown and f"region_code {QINGDAO} → {JINAN}" in shown and "operator:" in shown
    moves = json.loads(run_hcp("ingest", "history", "--moves", "--format", "json", check=True).stdout)
    assert [(m["dept_code"], m["region_before"], m["region_after"]) for m in moves] == [("D1", QINGDAO, JINAN)]
    assert json.loads(run_hcp("ingest", "history", "--moves", "--within", "370300000000", "--format", "json",
                              check=True).stdout) == []
    assert run_hcp("ingest", "history", "--within", "37").returncode == 2
    # `hcp ingest FILE` still ingests files (the group passes anything but a subcommand to it).
    assert run_hcp("--lang", "en", "ingest", "--help", check=True).stdout.startswith("Usage: hcp ingest [OPTIONS] PATHS")
