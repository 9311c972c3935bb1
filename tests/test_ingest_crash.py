"""kill -9 at random moments, restart, and nothing is lost or doubled — tested with real processes."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time

import numpy as np
import polars as pl

from tests.conftest import HCP, REPO, run_hcp

N = 100_000
BATCH = 4_000


def _write_stream(path) -> tuple[int, int]:
    """N valid events, 1% repeated lines (identical resends) and 0.5% bad lines, shuffled in. Returns
    (distinct valid ids, bad lines)."""
    rng = np.random.default_rng(11)
    types = np.array(["submitted", "accepted", "suspended", "resumed", "completed", "delivered"])
    i = np.arange(N)
    frame = pl.DataFrame({
        "kind": ["case_event"] * N,
        "event_id": [f"E{k:07d}" for k in i],
        "case_id": [f"C{k // 6:06d}" for k in i],
        "event_type": types[i % 6],
        "event_time": "2025-10-09T09:30:00+08:00",
        "item_code": "370200-XK-0001", "dept_code": "D1", "region_code": "370202000000",
        "channel": np.where(i % 6 == 0, "hall", None).tolist(),
        "result": np.where(i % 6 == 4, "approved", None).tolist(),
    })
    lines = frame.select(pl.struct(pl.all()).struct.json_encode()).to_series().to_list()
    repeats = [lines[k] for k in rng.choice(N, N // 100, replace=False)]
    bad = [f'{{"kind":"case_event","event_id":"BAD{k}","event_type":"exploded"}}' if k % 2 else f"garbage {k}"
           for k in range(N // 200)]
    everything = lines + repeats + bad
    order = rng.permutation(len(everything))
    path.write_text("\n".join(everything[k] for k in order) + "\n", encoding="utf-8")
    return N, len(bad)


def _ingest_until_killed(path, batches_before_kill: int, extra_delay: float) -> bool:
    """Run `hcp ingest`; SIGKILL it once it has reported ``batches_before_kill`` batches (+ a delay)."""
    proc = subprocess.Popen([*HCP, "ingest", str(path), "--json", "--batch-rows", str(BATCH)], cwd=REPO,
                            env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = 0
    assert proc.stdout is not None
    for line in proc.stdout:
        if json.loads(line).get("event") == "batch":
            seen += 1
            if seen >= batches_before_kill:
                time.sleep(extra_delay)
                break
    killed = proc.poll() is None
    if killed:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    proc.stdout.close()
    proc.stderr.close()
    return killed


def test_kill_9_mid_stream_then_restart_loses_nothing_and_doubles_nothing(hcp_home, tmp_path):
    run_hcp("init", check=True)
    path = tmp_path / "stream.jsonl"
    distinct, bad = _write_stream(path)
    total_batches = -(-(distinct + distinct // 100 + bad) // BATCH)
    rng = random.Random(5)
    kills = 0
    for attempt in range(4):
        at = rng.randint(1, total_batches - 2)
        kills += _ingest_until_killed(path, at, rng.uniform(0.0, 0.25))
    assert kills >= 3, "the ingest was meant to be killed mid-stream several times"
    final = run_hcp("ingest", str(path), "--json", "--batch-rows", str(BATCH), timeout=600)
    assert final.returncode == 3, final.stderr  # the bad lines are (still) quarantined
    summary = json.loads(final.stdout.strip().splitlines()[-1])
    assert summary["received"] == distinct + distinct // 100 + bad

    from warehouse import open_warehouse

    with open_warehouse() as wh:
        # Downstream reads (FINAL) see every valid id exactly once.
        assert wh.query_value("SELECT count() FROM case_events FINAL") == distinct
        assert wh.query_value("SELECT uniqExact(event_id) FROM case_events") == distinct
        assert wh.query_value("SELECT count() FROM received_ids FINAL WHERE kind = 'case_event'") == distinct
        # The quarantine holds each bad line once: one row per source position, FINAL or not.
        assert wh.query_value("SELECT count() FROM quarantine FINAL") == bad
        assert wh.query_value("SELECT count() FROM quarantine") == bad
        assert wh.query_value("SELECT uniqExact(source, position) FROM quarantine") == bad
