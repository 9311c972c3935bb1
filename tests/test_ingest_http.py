"""The HTTP push endpoint, served for real by uvicorn on loopback (every push with a token: see
tests/test_ingest_auth.py for what a token may and may not write)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from tests.conftest import HCP, REPO, run_hcp
from tests.ingest_records import event, item, rating


def _ndjson(records) -> bytes:
    return "".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in records).encode()


def post(url: str, body: bytes, *, content_type: str = "application/x-ndjson", headers: dict | None = None,
         token: str | None = None):
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": content_type, **auth, **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.headers, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, json.loads(exc.read() or b"{}")


@contextlib.contextmanager
def serving(writer, **limits):
    """POST /ingest of ``writer`` served by uvicorn in a thread of this process: yields its URL; stops the
    server and the writer after."""
    import uvicorn
    from starlette.applications import Starlette

    from ingest.http import make_routes

    app = Starlette(routes=make_routes(writer, **limits))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)
        writer.stop()
        sock.close()


def serve_in_thread(warehouse, **limits):
    """POST /ingest served by uvicorn in this process: yields (url, writer); stops it after."""
    from ingest.http import IngestWriter

    writer = IngestWriter(warehouse, queue_rows=limits.pop("queue_rows", 15))
    with serving(writer, **{"max_body_bytes": 20_000, "max_lines": 60, **limits}) as url:
        yield url, writer


@pytest.fixture
def endpoint(warehouse):
    """The endpoint over the test's warehouse, and a token for every kind in every region."""
    import contextlib

    from hcp.pii import ensure_key
    from ingest.tokens import issue, parse_kinds

    ensure_key()
    token, _grant = issue(warehouse, "test-platform", kinds=parse_kinds("all"))
    with contextlib.contextmanager(serve_in_thread)(warehouse) as (url, writer):
        yield url, writer, warehouse, token


def test_batches_get_counts_and_reasons_per_line(endpoint):
    url, _writer, wh, token = endpoint
    body = _ndjson([item(), event("E1"), event("E2", event_type="accepted"), "not json",
                    rating("R1", level=0)])
    status, _h, answer = post(f"{url}/ingest?source=hall-7", body, token=token)
    assert status == 200, answer
    assert (answer["received"], answer["accepted"], answer["duplicates"], answer["quarantined"]) == (5, 3, 0, 2)
    assert sorted((r["line"], r["reason"]) for r in answer["rejects"]) == [(4, "not_json"), (5, "level_out_of_range")]
    # The same batch again (a client retry): nothing new, and the quarantine is not doubled.
    status, _h, again = post(f"{url}/ingest?source=hall-7", body, token=token)
    assert (status, again["accepted"], again["duplicates"], again["quarantined"]) == (200, 0, 3, 2)
    assert wh.query_value("SELECT count() FROM quarantine FINAL") == 2
    # The source names the token (who pushed) and what the platform says it is.
    assert set(wh.query_df("SELECT source FROM quarantine FINAL")["source"]) == {"http:test-platform/hall-7"}
    # A JSON array is accepted too.
    status, _h, arr = post(f"{url}/ingest", json.dumps([event("E3", event_type="accepted")]).encode(),
                           content_type="application/json", token=token)
    assert (status, arr["accepted"]) == (200, 1)
    assert wh.query_value("SELECT count() FROM case_events FINAL") == 3


def test_malformed_and_oversized_bodies(endpoint):
    url, _writer, wh, token = endpoint
    for body, ctype in [(b"", "application/x-ndjson"), (b"[{\"kind\": ", "application/json"),
                        (b"[\xff\xfe{}]", "application/json"), (b"42", "application/json")]:
        status, _h, answer = post(f"{url}/ingest", body, content_type=ctype, token=token)
        assert status == 400, (body, answer)
        assert answer["error"]
    # A line of NDJSON that is not UTF-8 is a bad line, not a bad request: quarantined, the rest stored.
    status, _h, answer = post(f"{url}/ingest", b"\xc3\x28{}\n" + _ndjson([event("U1")]), token=token)
    assert (status, answer["accepted"], answer["quarantined"]) == (200, 1, 1)
    assert answer["rejects"][0]["reason"] == "bad_encoding"
    status, _h, answer = post(f"{url}/ingest", b"x" * 20_001, token=token)
    assert status == 413 and "20,000" in answer["error"]
    status, _h, answer = post(f"{url}/ingest", b"{}\n" * 61, token=token)
    assert status == 413 and "61" in answer["error"]
    assert wh.query_value("SELECT count() FROM case_events FINAL") == 1


def test_a_full_writer_queue_answers_503_with_retry_after(endpoint):
    """Another ingest holds the commit lock, so the writer falls behind; its queue (15 rows) fills up."""
    from hcp.locks import job_lock
    from ingest.loader import commit_lock_name

    url, writer, wh, token = endpoint
    first = _ndjson([event(f"A{k}", event_type="accepted") for k in range(10)])
    second = _ndjson([event(f"B{k}", event_type="accepted") for k in range(10)])
    with job_lock(commit_lock_name(wh)):
        status, _h, queued = post(f"{url}/ingest?wait=0", first, token=token)
        assert (status, queued["queued"]) == (202, 10)
        status, headers, busy = post(f"{url}/ingest", second, token=token)
        assert status == 503 and int(headers["Retry-After"]) >= 1 and busy["retry_after"] >= 1
        with urllib.request.urlopen(f"{url}/ingest/health", timeout=30) as response:
            health = json.loads(response.read())
        assert health["status"] == "ok" and health["queue_rows"] == 10 and health["queue_limit"] == 15
    deadline = time.monotonic() + 60  # the writer catches up once the lock is free
    while writer.pending_rows and time.monotonic() < deadline:
        time.sleep(0.05)
    status, _h, done = post(f"{url}/ingest", second, token=token)
    assert (status, done["accepted"]) == (200, 10)
    assert wh.query_value("SELECT count() FROM case_events FINAL") == 20
    assert writer.pending_rows == 0


def issue_token(*args: str) -> str:
    """`hcp tokens issue … --json` (a subprocess, as an office would run it): the token."""
    return json.loads(run_hcp("tokens", "issue", *args, "--json", check=True).stdout)["token"]


def test_hcp_serve_hosts_the_endpoint(hcp_home):
    run_hcp("init", check=True)
    token = issue_token("hall-7", "--kinds", "case_event", "--region", "370200000000")
    env = {**os.environ, "HCP_DASHBOARD_PORT": "off"}
    proc = subprocess.Popen([*HCP, "serve", "--port", "0"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    owner_file = hcp_home / "warehouse" / "hcp-owner.json"
    try:
        deadline = time.monotonic() + 90
        while not owner_file.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() is not None else "slow start"
            time.sleep(0.1)
        url = json.loads(owner_file.read_text())["url"]
        status, _h, answer = post(f"{url}/ingest", _ndjson([event("S1"), event("S2", event_type="accepted")]))
        assert status == 401, answer  # no token
        status, _h, answer = post(f"{url}/ingest", _ndjson([event("S1"), event("S2", event_type="accepted")]),
                                  token=token)
        assert (status, answer["accepted"]) == (200, 2), answer
        # A token issued while hcp serve runs (through the owner) works at once; a revoked one no longer.
        other = issue_token("hall-8", "--kinds", "case_event", "--region", "370200000000")
        assert post(f"{url}/ingest", _ndjson([event("S3", event_type="accepted")]), token=other)[0] == 200
        run_hcp("tokens", "revoke", "hall-8", check=True)
        assert post(f"{url}/ingest", _ndjson([event("S4", event_type="accepted")]), token=other)[0] == 401
        with urllib.request.urlopen(f"{url}/ingest/health", timeout=30) as response:
            assert json.loads(response.read())["writer_alive"] is True
        # Another command works through the owner meanwhile, and sees the pushed records.
        listed = run_hcp("ingest", "-", "--json", input=_ndjson([event("S1")]).decode())
        assert json.loads(listed.stdout.strip().splitlines()[-1])["duplicates"] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        proc.stdout.close()
        proc.stderr.close()


def test_serve_ingest_command(hcp_home):
    run_hcp("init", check=True)
    token = issue_token("hall-7", "--kinds", "case_event,rating", "--region", "370200000000")
    proc = subprocess.Popen([*HCP, "--lang", "en", "serve-ingest", "--port", "0", "--max-lines", "5"], cwd=REPO,
                            env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on" in line, proc.stderr.read() if proc.poll() is not None else line
        url = line.strip().split()[-1]
        assert "hcp tokens issue" in proc.stdout.readline()  # how a platform gets a token
        status, _h, answer = post(url, _ndjson([event("S1"), "{\"kind\": \"rating\"}"]), token=token)
        assert (status, answer["accepted"], answer["quarantined"]) == (200, 1, 1)
        assert answer["rejects"][0]["reason"] == "missing_field:rating_id"
        status, _h, answer = post(url, b"{}\n" * 6, token=token)
        assert status == 413
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        proc.stdout.close()
        proc.stderr.close()
    from warehouse import open_warehouse

    with open_warehouse() as wh:
        assert wh.query_value("SELECT count() FROM case_events FINAL") == 1
