"""Benchmark: the demo province generator.

    .venv/bin/python bench/demo_generate.py [--cases 1000000] [--format jsonl|parquet] [--keep DIR]

Reports the generator's wall time, records and events per second and peak RSS, and, as a baseline in
the same run, the time Polars needs to write the same number of rows of a trivial frame to NDJSON
(in the same chunking), so the ratio says how much the simulation costs on top of plain writing.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hcp.demo.generator import DemoParams, generate  # noqa: E402


def peak_rss_mb() -> float:
    """Peak resident set size of this process (Linux: ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def baseline(rows: int, chunk_rows: int, out: Path) -> float:
    """Seconds to write ``rows`` rows of a trivial frame to NDJSON files of ``chunk_rows`` rows."""
    started = time.perf_counter()
    done, k = 0, 0
    while done < rows:
        n = min(chunk_rows, rows - done)
        frame = pl.DataFrame({"kind": "x", "id": pl.int_range(done, done + n, eager=True), "value": "abc"})
        frame.write_ndjson(out / f"baseline-{k:05d}.jsonl")
        done, k = done + n, k + 1
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--month", default="2025-10")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--format", dest="fmt", choices=["jsonl", "parquet"], default="jsonl")
    parser.add_argument("--keep", type=Path, help="write here and keep the output (default: a temp dir, removed)")
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="hcp-demo-bench-"))
    try:
        rss_before = peak_rss_mb()
        started = time.perf_counter()
        manifest = generate(DemoParams(month=args.month, out=work / "demo", cases=args.cases, seed=args.seed,
                                       fmt=args.fmt))
        seconds = time.perf_counter() - started
        rss = peak_rss_mb()
        counts = manifest["counts"]
        records = sum(counts.values())
        events = counts["case_event"]
        size = sum(f["bytes"] for f in manifest["files"])

        (work / "baseline").mkdir(parents=True, exist_ok=True)
        chunks = max(1, len([f for f in manifest["files"] if f["kind"] == "case_event"]))
        base = baseline(records, max(1, records // chunks), work / "baseline")

        result = {
            "cases": args.cases,
            "format": args.fmt,
            "records": records,
            "case_events": events,
            "events_per_case": round(events / args.cases, 3),
            "bytes": size,
            "mb_per_s": round(size / 1e6 / seconds, 1),
            "seconds": round(seconds, 2),
            "cases_per_s": round(args.cases / seconds),
            "events_per_s": round(events / seconds),
            "records_per_s": round(records / seconds),
            "peak_rss_mb": round(rss, 1),
            "rss_before_mb": round(rss_before, 1),
            "baseline_trivial_ndjson_seconds": round(base, 2),
            "ratio_vs_baseline": round(seconds / base, 2),
        }
        print(json.dumps(result, indent=2))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
