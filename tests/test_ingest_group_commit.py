"""Group commit of the HTTP push endpoint: concurrent requests committed together, each answered with
its own counts only once its records are stored — real uvicorn, real threads, real chDB, and for the
crash a real `hcp serve-ingest` process killed with SIGKILL."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from tests.conftest import HCP, REPO, run_hcp
from tests.ingest_records import event, item, rating
from tests.test_ingest_http import _ndjson, issue_token, post, serving


@contextlib.contextmanager
def grouped_endpoint(warehouse, *, group_rows: int, group_wait: float = 60.0):
    """The endpoint (uvicorn in this process) with a writer that waits for ``group_rows`` queued rows
    (or ``group_wait`` seconds) before it commits — so requests sent together are committed together."""
    from hcp.pii import ensure_key
    from ingest.http import IngestWriter
    from ingest.tokens import issue, parse_kinds

    ensure_key()
    token, _grant = issue(warehouse, "test-platform", kinds=parse_kinds("all"))
    writer = IngestWriter(warehouse, queue_rows=100_000, group_rows=group_rows, group_wait=group_wait)
    with serving(writer, max_body_bytes=10 << 20, max_lines=10_000) as url:
        yield url, writer, token


def _events(prefix: str, n: int) -> list[dict]:
    return [event(f"{prefix}{k:04d}", event_type="accepted") for k in range(n)]


def _send_together(url: str, token: str, bodies: list[bytes], *, first_queued=None) -> list[tuple[int, dict]]:
    """Send ``bodies`` concurrently; with ``first_queued`` (the writer), the first body is sent alone
    until it is queued, so it is the first of the group in arrival order."""
    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        futures = [pool.submit(post, f"{url}/ingest", bodies[0], token=token)]
        while first_queued is not None and first_queued.pending_rows == 0 and not futures[0].done():
            time.sleep(0.01)
        futures += [pool.submit(post, f"{url}/ingest", body, token=token) for body in bodies[1:]]
        return [(f.result()[0], f.result()[2]) for f in futures]


def test_concurrent_requests_are_committed_together_and_each_counted_once(warehouse):
    with grouped_endpoint(warehouse, group_rows=8 * 50) as (url, writer, token):
        answers = _send_together(url, token, [_ndjson(_events(f"G{c}-", 50)) for c in range(8)])
        assert [status for status, _ in answers] == [200] * 8, answers
        for _status, answer in answers:  # each request its own counts, not the group's
            assert (answer["received"], answer["accepted"], answer["duplicates"], answer["quarantined"]) == (50, 50, 0, 0)
            assert answer["rejects"] == []
        assert writer.commits == 1 and writer.committed_batches == 8  # one commit for the eight requests
        assert writer.pending_rows == 0
    assert warehouse.query_value("SELECT count() FROM case_events FINAL") == 400
    assert warehouse.query_value("SELECT count() FROM case_events") == 400  # not even a replaced copy
    assert warehouse.query_value("SELECT count() FROM received_ids WHERE kind = 'case_event'") == 400


def test_a_resent_batch_is_counted_once_also_within_one_group(warehouse):
    batch = _ndjson(_events("R-", 40))
    with grouped_endpoint(warehouse, group_rows=3 * 40) as (url, writer, token):
        # A client retries while its first attempt is still queued: both land in the same group.
        answers = _send_together(url, token, [batch, batch, _ndjson(_events("S-", 40))])
        assert [status for status, _ in answers] == [200] * 3
        assert writer.commits == 1
        first, retry, other = (a for _, a in answers)
        assert sorted([(first["accepted"], first["duplicates"]), (retry["accepted"], retry["duplicates"])]) == [(0, 40), (40, 0)]
        assert (other["accepted"], other["duplicates"]) == (40, 0)
        writer.group_wait = 0  # from here on, one request at a time
        status, _h, again = post(f"{url}/ingest", batch, token=token)
        assert (status, again["accepted"], again["duplicates"]) == (200, 0, 40)
    assert warehouse.query_value("SELECT count() FROM case_events FINAL") == 80
    assert warehouse.query_value("SELECT count() FROM case_events") == 80
    assert warehouse.query_value("SELECT count() FROM received_ids") == 80


def test_a_bad_record_is_quarantined_for_its_own_request_only(warehouse):
    good = [_ndjson(_events(f"OK{c}-", 30)) for c in range(3)]
    bad = _ndjson([*_events("BAD-", 28), "not json", rating("RX", level=9)])
    conflict = _ndjson([event("OK0-0000", event_type="accepted", staff_id="other"), *_events("C-", 29)])
    with grouped_endpoint(warehouse, group_rows=5 * 30) as (url, writer, token):
        # good0 is queued first, so its version of OK0-0000 is the one kept.
        answers = _send_together(url, token, [good[0], bad, good[1], conflict, good[2]], first_queued=writer)
        assert [status for status, _ in answers] == [200] * 5
        assert writer.commits == 1
        by_body = dict(zip(["good0", "bad", "good1", "conflict", "good2"], (a for _, a in answers)))
        for name in ("good0", "good1", "good2"):
            assert (by_body[name]["accepted"], by_body[name]["quarantined"], by_body[name]["rejects"]) == (30, 0, [])
        assert (by_body["bad"]["accepted"], by_body["bad"]["quarantined"]) == (28, 2)
        assert by_body["bad"]["quarantined_by_reason"] == {"level_out_of_range": 1, "not_json": 1}
        assert sorted((r["line"], r["reason"]) for r in by_body["bad"]["rejects"]) == [(29, "not_json"), (30, "level_out_of_range")]
        assert all(r["position"].startswith(answers[1][1]["batch_id"] + ":") for r in by_body["bad"]["rejects"])
        # Same id, other content, in a neighbour of the group: quarantined for that request only.
        assert (by_body["conflict"]["accepted"], by_body["conflict"]["quarantined"]) == (29, 1)
        assert by_body["conflict"]["quarantined_by_reason"] == {"duplicate_id_conflict": 1}
    assert warehouse.query_value("SELECT count() FROM case_events FINAL") == 30 * 3 + 28 + 29
    assert warehouse.query_value("SELECT count() FROM quarantine FINAL") == 3
    assert warehouse.query_value("SELECT staff_id FROM case_events FINAL WHERE event_id = 'OK0-0000'") == ""


def test_reference_data_is_committed_on_its_own_with_its_actor(warehouse):
    """A catalogue push beside fact pushes: the item is committed alone (the history names its actor),
    the facts beside it are grouped."""
    from warehouse.queries.state import reference_history

    with grouped_endpoint(warehouse, group_rows=3 * 20, group_wait=0.5) as (url, writer, token):
        answers = _send_together(url, token, [_ndjson([item()]), _ndjson(_events("F1-", 20)),
                                              _ndjson(_events("F2-", 20))])
        assert [(s, a["accepted"]) for s, a in answers] == [(200, 1), (200, 20), (200, 20)]
        assert writer.committed_batches == 3 and writer.commits >= 2
    history = reference_history(warehouse, kind="item")
    assert history.height == 1 and history["actor"][0] == "token:test-platform"


def test_requests_after_a_catalogue_push_see_its_items(warehouse):
    """The writer prepares the next group while the one before commits; a group holding reference data
    is the exception: what is queued after a catalogue push is validated against the catalogue as that
    push left it (its events' item is known, not flagged), in the same group or the next."""
    with grouped_endpoint(warehouse, group_rows=3 * 20, group_wait=0.5) as (url, writer, token):
        answers = _send_together(url, token, [_ndjson([item("370200-XK-0777")]),
                                              _ndjson(_events("N1-", 20)).replace(b"370200-XK-0001", b"370200-XK-0777"),
                                              _ndjson(_events("N2-", 20)).replace(b"370200-XK-0001", b"370200-XK-0777")],
                                 first_queued=writer)
        assert [(s, a["accepted"], a["flagged_unknown_items"]) for s, a in answers] == [(200, 1, 0), (200, 20, 0), (200, 20, 0)]
    assert warehouse.query_value("SELECT countIf(NOT item_known) FROM case_events FINAL") == 0


# --- a crash between queueing and commit -------------------------------------------------------------------

CLIENTS, BATCH = 8, 100


def _start_server(config) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "HCP_CONFIG": str(config)}
    proc = subprocess.Popen([*HCP, "--lang", "en", "serve-ingest", "--port", "0"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert "listening on" in line, proc.stderr.read() if proc.poll() is not None else line
    return proc, line.strip().split()[-1]


def _batch(client: int, number: int) -> bytes:
    return _ndjson(_events(f"K{client}-{number:03d}-", BATCH))


def test_a_kill_between_queueing_and_commit_loses_nothing_acknowledged(hcp_home, tmp_path):
    """Eight clients push until the server is killed (SIGKILL) while requests are queued and commits in
    flight. Every batch answered 200 is in the warehouse after the restart; sending every batch again
    then stores each record exactly once."""
    run_hcp("init", check=True)
    token = issue_token("crash-platform", "--kinds", "case_event", "--region", "370200000000")
    config = tmp_path / "config.toml"
    config.write_text("[ingest]\ngroup_max_rows = 50000\ngroup_wait_ms = 50\n", encoding="utf-8")
    proc, url = _start_server(config)
    acknowledged: list[tuple[int, int]] = []
    sent: list[tuple[int, int]] = []
    wrong: list[dict] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(c: int) -> None:
        number = 0
        while not stop.is_set():
            with lock:
                sent.append((c, number))
            try:
                status, _h, answer = post(url, _batch(c, number), token=token)
            except OSError:  # the server is gone
                return
            if status == 200:
                with lock:
                    acknowledged.append((c, number))
                    if answer["accepted"] + answer["duplicates"] != BATCH:
                        wrong.append(answer)
            number += 1

    threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in range(CLIENTS)]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 240
        while len(acknowledged) < 3 * CLIENTS and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(acknowledged) >= 3 * CLIENTS, "the server answered too few batches"
        time.sleep(0.137)  # a moment later than an answer: requests are queued, a commit is in flight
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        stop.set()
        for t in threads:
            t.join(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=60)
        proc.stdout.close()
        proc.stderr.close()
    assert wrong == []
    assert len(sent) > len(acknowledged)  # some requests were cut off by the kill
    from warehouse import open_warehouse

    with open_warehouse() as wh:
        stored = set(wh.query_df("SELECT DISTINCT event_id FROM case_events FINAL")["event_id"].to_list())
    missing = [(c, n) for c, n in acknowledged if not all(f"K{c}-{n:03d}-{k:04d}" in stored for k in range(BATCH))]
    assert missing == [], f"acknowledged batches lost by the kill: {missing[:5]}"

    # Restart and send everything again (what a client does with unanswered batches, and more).
    proc, url = _start_server(config)
    try:
        every = sorted(set(sent))
        status_answers = []
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            for status, _h, answer in pool.map(lambda cn: post(url, _batch(*cn), token=token), every):
                status_answers.append((status, answer))
        assert all(status == 200 for status, _ in status_answers), status_answers[:3]
        acked = set(acknowledged)
        for (c, n), (_status, answer) in zip(every, status_answers):
            assert answer["accepted"] + answer["duplicates"] == BATCH
            if (c, n) in acked:
                assert answer["duplicates"] == BATCH  # stored before the kill, not stored twice
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        proc.stdout.close()
        proc.stderr.close()
    with open_warehouse() as wh:
        assert wh.query_value("SELECT count() FROM case_events FINAL") == len(every) * BATCH
        assert wh.query_value("SELECT uniqExact(event_id) FROM case_events") == len(every) * BATCH
        assert wh.query_value("SELECT count() FROM received_ids FINAL") == len(every) * BATCH


def test_requests_queued_during_a_commit_join_one_group_after_it(warehouse):
    """While a commit is in flight the writer does not take a group smaller than ``group_rows``: the
    requests queued meanwhile are committed together once it is done (prepared beside the commit, the
    first of them would have made a group of its own: three commits here instead of two)."""
    import json

    with grouped_endpoint(warehouse, group_rows=10_000, group_wait=0.01) as (url, writer, token):
        entered, release = threading.Event(), threading.Event()
        commit = writer.loader.commit

        def held_first(prepared):
            if not entered.is_set():
                entered.set()
                release.wait(60)
            return commit(prepared)

        writer.loader.commit = held_first
        with ThreadPoolExecutor(max_workers=4) as pool:
            first = pool.submit(post, f"{url}/ingest", _ndjson(_events("A", 5)), token=token)
            assert entered.wait(60)  # the first request's commit is in flight, and held
            rest = []
            for k in range(3):
                rest.append(pool.submit(post, f"{url}/ingest", _ndjson(_events(f"B{k}", 5)), token=token))
                deadline = time.monotonic() + 60
                while writer.pending_rows < 5 * (k + 2) and time.monotonic() < deadline:
                    time.sleep(0.005)
                time.sleep(0.05)  # time enough for a writer that prepares ahead to take it alone
            assert writer.commits == 1
            release.set()
            answers = [f.result() for f in [first, *rest]]
    assert [(status, answer["accepted"]) for status, _h, answer in answers] == [(200, 5)] * 4, json.dumps(answers[0][2])
    assert writer.commits == 2
    assert warehouse.query_value("SELECT count() FROM case_events FINAL") == 20


def test_a_request_outside_its_grant_is_refused_alone_within_its_group(warehouse):
    """The tokens and scope of a group are checked beside its preparation, which assumes every request
    may be stored; a request refused (403) is left out and the rest prepared again without it: the others
    are stored as if it had not been sent, and nothing of it is."""
    from ingest.tokens import issue

    with grouped_endpoint(warehouse, group_rows=15) as (url, writer, token):
        qingdao, _grant = issue(warehouse, "qingdao-hall", kinds=("case_event",), region_code="370200000000")
        outside = [event("J1", event_type="accepted", region_code="370102000000")]
        sent = [(_ndjson(_events("G", 5)), token), (_ndjson(_events("Q", 4) + outside), qingdao),
                (_ndjson(_events("H", 5)), token)]
        with ThreadPoolExecutor(max_workers=3) as pool:
            futures = [pool.submit(post, f"{url}/ingest", body, token=t) for body, t in sent]
            answers = [f.result() for f in futures]
    statuses = [status for status, _h, _a in answers]
    assert statuses == [200, 403, 200], answers
    assert answers[1][2]["refused_count"] == 1 and answers[1][2]["refused"][0]["record_id"] == "J1"
    assert answers[1][2]["refused"][0]["line"] == 5 and answers[1][2]["refused"][0]["reason"] == "region_outside_scope"
    assert [answers[i][2]["accepted"] for i in (0, 2)] == [5, 5]
    assert writer.commits == 1
    stored = warehouse.query_df("SELECT event_id FROM case_events FINAL ORDER BY event_id")["event_id"].to_list()
    assert stored == [f"G{k:04d}" for k in range(5)] + [f"H{k:04d}" for k in range(5)]
    assert warehouse.query_value("SELECT count() FROM received_ids") == 10
    assert warehouse.query_value("SELECT count() FROM quarantine") == 0


def test_after_a_commit_the_writer_waits_only_for_the_clients_it_answered(warehouse):
    """Having answered three requests, the writer takes the next group as soon as three are queued again,
    not after ``group_wait`` (60 s here) nor only once ``group_rows`` rows are queued: eight clients pushing
    in turn are all back ~2 ms after their answers, and a wait of its own would be dead time on each."""
    with grouped_endpoint(warehouse, group_rows=30) as (url, writer, token):
        first = _send_together(url, token, [_ndjson(_events(f"A{k}", 10)) for k in range(3)])
        assert [status for status, _a in first] == [200] * 3 and writer.commits == 1
        # Three again, of 5 records each: 15 rows, half of group_rows. A writer waiting for group_rows or
        # group_wait would answer none of them within the clients' timeout.
        with ThreadPoolExecutor(max_workers=3) as pool:
            futures = [pool.submit(post_within, f"{url}/ingest", _ndjson(_events(f"B{k}", 5)), token, 20) for k in range(3)]
            again = [f.result() for f in futures]
    assert [(status, answer["accepted"]) for status, answer in again] == [(200, 5)] * 3
    assert writer.commits == 2


def post_within(url: str, body: bytes, token: str, timeout: float) -> tuple[int, dict]:
    """POST with a client timeout (raises if no answer comes within it)."""
    import json
    import urllib.request

    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/x-ndjson", "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, json.loads(response.read())


def test_a_failure_while_decoding_a_group_stores_none_of_its_bodies(warehouse, monkeypatch):
    """Should decoding a group fail after some of its bodies were decoded (a fault no rule foresaw), the
    check of their tokens and scope never ran: none of them is stored (500 each, to be sent again), not even
    one already decoded — here one holds a record outside its token's subtree, one is within it."""
    import ingest.http as http
    from ingest.tokens import issue

    calls = []
    real = http.holds_reference_data

    def failing_second(frame):
        calls.append(frame.height)
        if len(calls) == 2:
            raise RuntimeError("a fault no rule foresaw")
        return real(frame)

    with grouped_endpoint(warehouse, group_rows=10) as (url, writer, _token):
        qingdao, _grant = issue(warehouse, "qingdao-hall", kinds=("case_event",), region_code="370200000000")
        monkeypatch.setattr(http, "holds_reference_data", failing_second)
        outside = _ndjson([event("J1", event_type="accepted", region_code="370102000000"), *_events("Q", 4)])
        answers = _send_together(url, qingdao, [outside, _ndjson(_events("P", 5))])
    assert [status for status, _answer in answers] == [500, 500], answers
    assert all("a fault no rule foresaw" in answer["error"] for _status, answer in answers)
    assert warehouse.query_value("SELECT count() FROM case_events") == 0
    assert warehouse.query_value("SELECT count() FROM received_ids") == 0
