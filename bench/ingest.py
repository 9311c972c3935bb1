"""Benchmark: ingest throughput for 1M case events, from Parquet and from JSON Lines, and HTTP pushes.

Each format is measured end to end through the real ingest path (read → validate → pseudonymise →
dedupe against the ledger → insert data and ledger) and beside it, in the same run, a bare chDB
``insert_arrow`` of the very rows the ingest wrote (into a same-schema table), so the ratio shows what
the ingest costs on top of the insert itself. The ratio that counts is against a bare insert with the
settings the ingest inserts with (``optimize_on_insert = 0``); the one against ClickHouse's default insert
(which also collapses same-key rows at insert time, ~40 % dearer) is printed beside it.

The HTTP scenario runs a real ``hcp serve-ingest`` whose warehouse holds the city's catalogue (the
departments and items the events name, as a platform pushing for its own items finds it) and
``--http-clients`` (8) client threads, each pushing ``--http-batches`` NDJSON batches of ``--http-batch``
(200) records with a city token on a keep-alive connection (bodies encoded beforehand) and waiting for
each answer (200 = stored), first with one commit per request (``--group-rows 0``), then with group
commit (the default), in the same run. Each prints records/s, commits, the server's CPU and the clients'
own, requests per commit, and where the server's CPU went: the writer's preparer, check and committer
threads (``writer_cpu_seconds`` of ``/ingest/health``; with one commit per request the committer prepares too)
and the rest (ClickHouse's and Polars' threads, the event loop, token checks).

``--stages`` times the steps of a group commit in process (token look-up, decoding, scope check,
validation and conversion, ledger and insert) for groups of ``--http-clients`` × ``--http-batch`` records:
where the HTTP scenario's time goes, and the most the pipelined writer (commit beside the next group's
preparation) could do with a core per side. Run it with ``--skip-files --skip-http`` for a warehouse of
its own.

    .venv/bin/python bench/ingest.py [--rows 1000000] [--keep DIR] [--skip-files] [--skip-http] [--stages]

The events are synthetic (a vectorised generator here, so the bench does not depend on the demo).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def synthetic_events(n: int, seed: int = 7) -> pl.DataFrame:
    """``n`` case_event records in interchange form (6 events per case, one applicant per case)."""
    rng = np.random.default_rng(seed)
    cases = n // 6 + 1
    case_idx = np.arange(n) // 6
    types = np.array(["submitted", "accepted", "suspended", "resumed", "completed", "delivered"])
    channels = np.array(["online", "mobile", "hall", "self_service", "mail", "agent"])
    start = np.datetime64("2025-10-01T08:00:00") + (rng.integers(0, 30 * 86400, cases)).astype("timedelta64[s]")
    event_time = start[case_idx] + (np.arange(n) % 6 * 3600).astype("timedelta64[s]")
    ids = rng.integers(10**17, 10**18 - 1, cases, dtype=np.int64)
    phones = rng.integers(13_000_000_000, 13_999_999_999, cases, dtype=np.int64)
    frame = pl.DataFrame({
        "kind": pl.repeat("case_event", n, eager=True),
        "event_id": pl.Series(np.arange(n)).cast(pl.String).str.zfill(10).str.replace("^", "E"),
        "case_id": pl.Series(case_idx).cast(pl.String).str.zfill(9).str.replace("^", "C"),
        "event_type": types[np.arange(n) % 6],
        "event_time": pl.Series(event_time.astype("datetime64[ms]")).dt.to_string("%Y-%m-%dT%H:%M:%S") + "+08:00",
        "item_code": pl.Series(rng.integers(0, 2000, n)).cast(pl.String).str.zfill(5).str.replace("^", "370200-XK-"),
        "dept_code": pl.Series(rng.integers(0, 80, n)).cast(pl.String).str.zfill(3).str.replace("^", "D370200"),
        "region_code": pl.Series(rng.integers(0, 12, n) + 370202).cast(pl.String) + "000000",
        "channel": pl.Series(channels[rng.integers(0, 6, n)]),
        "onsite": rng.random(n) < 0.1,
        "result": pl.repeat("approved", n, eager=True),
        "staff_id": pl.Series(rng.integers(0, 3000, n)).cast(pl.String).str.replace("^", "S"),
    })
    applicant = pl.DataFrame({
        "type": pl.repeat("person", cases, eager=True),
        "name": pl.Series(np.array(["张三", "李四", "王五", "欧阳娜娜"])[rng.integers(0, 4, cases)]),
        "id_number": pl.Series(ids).cast(pl.String),
        "phone": pl.Series(phones).cast(pl.String),
    }).select(pl.struct(pl.all()).alias("applicant"))["applicant"]
    step = pl.Series(np.arange(n) % 6)
    return frame.with_columns(
        pl.when(step == 0).then(pl.col("channel")).alias("channel"),
        pl.when(step == 4).then(pl.col("result")).alias("result"),
        applicant.gather(pl.Series(case_idx)),
    )


def run(rows: int, workdir: Path) -> list[tuple[str, float, float]]:
    """The file formats: ingest beside the bare insert of the same rows, then a resend."""
    os.environ["HCP_HOME"] = str(workdir / "home")
    from hcp.pii import ensure_key
    from ingest.loader import Loader
    from ingest.run import ingest_path
    from warehouse import open_warehouse
    from warehouse.migrations import ensure_schema

    ensure_key()
    events = synthetic_events(rows)
    parquet = workdir / "events.parquet"
    jsonl = workdir / "events.jsonl"
    events.write_parquet(parquet)
    events.write_ndjson(jsonl)
    print(f"{rows:,} events: Parquet {parquet.stat().st_size / 1e6:.0f} MB, JSON Lines {jsonl.stat().st_size / 1e6:.0f} MB")

    wh = open_warehouse()
    ensure_schema(wh)
    results = []
    try:
        for label, path in (("parquet", parquet), ("jsonl", jsonl)):
            wh.command("TRUNCATE TABLE case_events")
            wh.command("TRUNCATE TABLE received_ids")
            loader = Loader(wh)
            c0, t0 = time.process_time(), time.perf_counter()
            summary = ingest_path(loader, str(path))
            ingest_s, ingest_cpu = time.perf_counter() - t0, time.process_time() - c0
            assert summary.accepted == rows, summary.as_dict()
            # The bare baseline: the same rows, as the ingest wrote them, inserted with insert_arrow.
            written = wh.query_arrow("SELECT * EXCEPT (received_at) FROM case_events")
            # Two bare inserts: with ClickHouse's default settings, and with the settings the ingest itself
            # inserts with (optimize_on_insert = 0: a batch holds one row per id) — the honest floor, and
            # the ratio that counts. Each three times, the median taken: a few seconds of insert move more
            # with the machine's load than the ingest around them does.
            bare_default_s, bare_default_cpu = bare_insert(wh, written, None)
            bare_s, bare_cpu = bare_insert(wh, written, {"optimize_on_insert": 0})
            results.append((label, rows / ingest_s, rows / bare_s))
            print(f"{label:8} ingest {rows / ingest_s:>10,.0f} rows/s ({ingest_s:.2f} s, CPU of all threads "
                  f"{ingest_cpu:.1f} s)", flush=True)
            print(f"{'':8} bare insert_arrow as the ingest inserts (optimize_on_insert = 0, median of 3) "
                  f"{rows / bare_s:>10,.0f} rows/s ({bare_s:.2f} s, CPU {bare_cpu:.1f} s): ratio "
                  f"{bare_s / ingest_s:.2f}", flush=True)
            print(f"{'':8} bare insert_arrow with default settings (median of 3) {rows / bare_default_s:>10,.0f} rows/s "
                  f"({bare_default_s:.2f} s, CPU {bare_default_cpu:.1f} s): ratio {bare_default_s / ingest_s:.2f}",
                  flush=True)
            if label == "jsonl":
                decode_s, floor_s = decode_figures(jsonl)
                print(f"{'':8} of which to compare: reading and decoding alone {decode_s:.2f} s "
                      f"({decode_s / bare_s:.1f}x the bare insert); Polars' read_ndjson of the file, the parser's "
                      f"floor, {floor_s:.2f} s ({floor_s / bare_s:.1f}x)", flush=True)
        # Idempotency at scale: sending the Parquet file again accepts nothing.
        t0 = time.perf_counter()
        again = ingest_path(Loader(wh), str(parquet))
        resend_s = time.perf_counter() - t0
        print(f"resend   {rows / resend_s:>10,.0f} rows/s ({resend_s:.2f} s): accepted {again.accepted}, "
              f"duplicates {again.duplicates:,}")
    finally:
        wh.close()
    return results


def bare_insert(wh, rows, settings: dict | None) -> tuple[float, float]:
    """Median wall and CPU seconds of three bare ``insert_arrow`` of ``rows`` into a fresh copy of
    ``case_events`` with these insert settings."""
    timings = []
    for _ in range(3):
        wh.command("DROP TABLE IF EXISTS bench_bare")
        wh.command("CREATE TABLE bench_bare AS case_events")
        c0, t0 = time.process_time(), time.perf_counter()
        wh.insert_arrow("bench_bare", rows, settings=settings)
        timings.append((time.perf_counter() - t0, time.process_time() - c0))
        wh.command("DROP TABLE bench_bare")
    return sorted(timings)[1]


def decode_figures(path: Path) -> tuple[float, float]:
    """Seconds to read and decode ``path`` as the ingest does (:func:`ingest.readers.read_source`, nothing
    validated or stored), and seconds for a bare ``pl.read_ndjson`` of it."""
    from ingest.readers import DEFAULT_BATCH_ROWS, DEFAULT_CHUNK_BYTES, read_source  # as run()'s: after HCP_HOME is set
    from ingest.run import PIPELINE_CHUNK_BYTES  # as run()'s

    t0 = time.perf_counter()
    # what ingest_path reads JSON Lines in
    chunk_bytes = max(1 << 16, min(DEFAULT_CHUNK_BYTES, DEFAULT_BATCH_ROWS * 512, PIPELINE_CHUNK_BYTES))
    for _chunk in read_source(str(path), "jsonl", batch_rows=DEFAULT_BATCH_ROWS, chunk_bytes=chunk_bytes):
        pass
    decode_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    pl.read_ndjson(path)
    return decode_s, time.perf_counter() - t0


REPO = Path(__file__).resolve().parents[1]


def _hcp(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hcp.cli", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, check=True)


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _push(url: str, token: str, bodies: list[bytes], errors: list) -> None:
    """One client: its batches one after the other on a keep-alive connection, each answer awaited."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=300)
    headers = {"Content-Type": "application/x-ndjson", "Authorization": f"Bearer {token}"}
    try:
        for body in bodies:
            conn.request("POST", parts.path, body=body, headers=headers)
            response = conn.getresponse()
            answer = json.loads(response.read())
            if response.status != 200 or answer["accepted"] != answer["received"]:
                errors.append((response.status, answer))
    finally:
        conn.close()


def catalogue_records(path: Path) -> None:
    """The departments and items :func:`synthetic_events` names, as NDJSON reference records."""
    depts = pl.DataFrame({"dept_code": [f"D370200{d:03d}" for d in range(80)]}).with_columns(
        pl.lit("department").alias("kind"), ("部门" + pl.col("dept_code")).alias("dept_name"),
        pl.lit("370200000000").alias("region_code"))
    items = pl.DataFrame({"item_code": [f"370200-XK-{i:05d}" for i in range(2000)]}).with_columns(
        pl.lit("item").alias("kind"), ("事项" + pl.col("item_code")).alias("item_name"),
        pl.format("D370200{}", (pl.int_range(0, 2000) % 80).cast(pl.String).str.zfill(3)).alias("dept_code"),
        pl.lit("行政许可").alias("item_type"), pl.lit(20).alias("legal_limit_days"), pl.lit(5).alias("promised_limit_days"),
        pl.lit(4).alias("online_depth"), pl.lit(1).alias("max_trips"), pl.lit("2025-01-01").alias("valid_from"))
    pl.concat([depts, items], how="diagonal").write_ndjson(path)


def _health(url: str) -> dict:
    conn = http.client.HTTPConnection(urlsplit(url).hostname, urlsplit(url).port, timeout=60)
    try:
        conn.request("GET", "/ingest/health")
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def http_scenario(workdir: Path, *, clients: int, batches: int, batch: int) -> list[tuple[str, float, int]]:
    """``clients`` threads pushing ``batches`` batches of ``batch`` new records each to a real
    ``hcp serve-ingest``: one commit per request, then group commit. Returns (label, records/s, commits)."""
    home = workdir / "http-home"
    env = {**os.environ, "HCP_HOME": str(home)}
    env.pop("HCP_WAREHOUSE", None)
    _hcp("init", env=env)
    # The city's catalogue, as a platform's pushes find it: every department and item the events name.
    catalogue = workdir / "catalogue.jsonl"
    catalogue_records(catalogue)
    _hcp("ingest", str(catalogue), env=env)
    # A city's token, as a hall platform would hold: each request is checked against its subtree.
    token = json.loads(_hcp("tokens", "issue", "bench-platform", "--kinds", "case_event", "--region", "370200000000",
                            "--json", env=env).stdout)["token"]
    total = clients * batches * batch
    events = synthetic_events(2 * total + 2, seed=11)
    lines = events.select(pl.struct(pl.all()).struct.json_encode()).to_series()
    results = []
    for run_index, (label, extra) in enumerate((("one commit per request", ["--group-rows", "0"]),
                                                ("group commit", []))):
        offset = run_index * total  # new ids for each run
        bodies = [[("\n".join(lines.slice(offset + (c * batches + b) * batch, batch).to_list()) + "\n").encode()
                   for b in range(batches)] for c in range(clients)]
        proc = subprocess.Popen([sys.executable, "-m", "hcp.cli", "--lang", "en", "serve-ingest", "--port", "0", *extra],
                                cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline()
            if "listening on" not in line:
                raise RuntimeError(f"serve-ingest did not start: {line}{proc.stderr.read()}")
            url = line.strip().split()[-1]
            _push(url, token, [(lines[2 * total + run_index] + "\n").encode()], [])  # warm up: one record of its own
            before = _health(url)
            errors: list = []
            threads = [threading.Thread(target=_push, args=(url, token, bodies[c], errors)) for c in range(clients)]
            cpu0, client0 = _cpu_seconds(proc.pid), time.process_time()
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            seconds = time.perf_counter() - t0
            cpu, client_cpu = _cpu_seconds(proc.pid) - cpu0, time.process_time() - client0
            health = _health(url)
        finally:
            proc.terminate()
            proc.wait(timeout=120)
            proc.stdout.close()
            proc.stderr.close()
        if errors:
            raise RuntimeError(f"{label}: {len(errors)} requests failed, e.g. {errors[0]}")
        commits = health["commits"] - before["commits"]
        writer_cpu = {step: health["writer_cpu_seconds"][step] - before["writer_cpu_seconds"][step]
                      for step in health.get("writer_cpu_seconds", {})}  # (an older tree's endpoint: none)
        results.append((label, total / seconds, commits))
        # The server's CPU per record does not depend on what else the machine runs: records per CPU
        # second is what one core of a quiet machine would sustain.
        print(f"http     {label:24} {total / seconds:>10,.0f} records/s ({seconds:.2f} s, {total:,} records in "
              f"{clients * batches} requests of {batch}, {commits} commits; server CPU {cpu:.2f} s = "
              f"{total / max(cpu, 1e-9):,.0f} records per CPU second; the {clients} clients' CPU {client_cpu:.2f} s)",
              flush=True)
        # Where the server's CPU went: the writer's threads on their own, the rest (ClickHouse's threads —
        # queries, inserts, background merges —, Polars' pool, the event loop, token checks) together.
        checking = f"checking {writer_cpu['check']:.2f} s (tokens, scope), " if "check" in writer_cpu else ""
        split = (f"; server CPU: preparing {writer_cpu['prepare']:.2f} s (decode, validate, convert), {checking}"
                 f"committing {writer_cpu['commit']:.2f} s (its Python thread), the rest "
                 f"{cpu - sum(writer_cpu.values()):.2f} s (ClickHouse's and Polars' threads, HTTP, token checks)"
                 if writer_cpu else "")
        print(f"{'':8} {'':24} {clients * batches / max(commits, 1):.1f} requests per commit{split}", flush=True)
    return results


def group_stages(workdir: Path, *, clients: int, batch: int, groups: int = 10) -> dict[str, float]:
    """Where a group commit's time goes, in process (no HTTP): ``groups`` groups of ``clients`` NDJSON bodies of
    ``batch`` new records, each through the writer's steps — the token look-up, decoding the bodies together,
    the scope check, validating and converting (``prepare``), the commit (ledger, insert). Milliseconds per
    group, the first (warm-up) group left out."""
    os.environ["HCP_HOME"] = str(workdir / "stages-home")
    # imported here like run()'s: after HCP_HOME is set
    from hcp.pii import ensure_key
    from ingest import scope, tokens
    from ingest.fields import GROUP
    from ingest.http import decode_bodies
    from ingest.loader import Loader
    from ingest.run import ingest_path, with_positions
    from warehouse import open_warehouse
    from warehouse.migrations import ensure_schema

    ensure_key()
    wh = open_warehouse()
    ensure_schema(wh)
    try:
        catalogue_records(workdir / "stages-catalogue.jsonl")
        ingest_path(Loader(wh), str(workdir / "stages-catalogue.jsonl"))
        secret, token = tokens.issue(wh, "bench-stages", kinds=("case_event",), region_code="370200000000")
        size = clients * batch
        lines = synthetic_events((groups + 1) * size, seed=5).select(pl.struct(pl.all()).struct.json_encode()).to_series()
        loader = Loader(wh, keep_rejects=True)
        spent: dict[str, float] = {}

        def timed(name: str, fn, *args):
            t0 = time.perf_counter()
            out = fn(*args)
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - t0
            return out

        for g in range(groups + 1):
            if g == 1:
                spent.clear()
            bodies = [("\n".join(lines.slice(g * size + c * batch, batch).to_list()) + "\n").encode()
                      for c in range(clients)]
            timed("token look-up (one per group)", tokens.grants, wh, [tokens.digest(secret)])
            frames = timed("decode", decode_bodies, bodies)
            together = pl.concat([f.drop("_line") for f in frames], how="diagonal_relaxed").with_columns(
                pl.int_range(1, size + 1).alias("_line"))
            timed("scope check", scope.violations, wh, token, together)
            frame = pl.concat([with_positions(f, "batch", f"g{g}c{i}").with_columns(
                pl.lit(i, dtype=pl.UInt32).alias(GROUP), pl.lit("http:bench-stages").alias("_source"))
                for i, f in enumerate(frames)], how="diagonal_relaxed")
            prepared = timed("prepare (validate, convert)", loader.prepare, frame, "")
            summary = timed("commit (ledger, insert)", loader.commit, prepared)
            assert summary.accepted == size, summary.as_dict()
    finally:
        wh.close()
    per_group = {name: 1000 * seconds / groups for name, seconds in spent.items()}
    total = sum(per_group.values())
    print(f"group of {clients} x {batch} records, in process: {total:.1f} ms per group = "
          f"{size / total * 1000:,.0f} records/s on one thread; " + ", ".join(f"{k} {v:.1f} ms" for k, v in per_group.items()),
          flush=True)
    # The endpoint's writer runs the commit of one group beside the preparation of the next (two threads):
    # with a core for each, a group costs the longer of the two sides.
    commit_ms = per_group["commit (ledger, insert)"]
    print(f"{'':8} pipelined (the next group prepared while this one commits, a core each): "
          f"{size / max(total - commit_ms, commit_ms) * 1000:,.0f} records/s at most (prepare side "
          f"{total - commit_ms:.1f} ms, commit side {commit_ms:.1f} ms)", flush=True)
    return per_group


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    parser.add_argument("--skip-files", action="store_true", help="only the HTTP scenario")
    parser.add_argument("--skip-http", action="store_true", help="only the file formats")
    parser.add_argument("--http-clients", type=int, default=8)
    parser.add_argument("--http-batches", type=int, default=10, help="batches per client")
    parser.add_argument("--http-batch", type=int, default=200, help="records per batch")
    parser.add_argument("--stages", action="store_true",
                        help="also time the steps of one group commit in process (where the HTTP time goes)")
    args = parser.parse_args()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="hcp-bench-ingest-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        if not args.skip_files:
            run(args.rows, workdir)
        if not args.skip_http:
            http_scenario(workdir, clients=args.http_clients, batches=args.http_batches, batch=args.http_batch)
        if args.stages:
            group_stages(workdir, clients=args.http_clients, batch=args.http_batch)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
