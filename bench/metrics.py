"""Benchmark of the metrics engine on a demo month, against a straightforward pandas implementation.

    .venv/bin/python bench/metrics.py --cases 1000000

1. `hcp demo generate` a month (Parquet), hold back 1% of its events as late arrivals, `hcp ingest` the rest;
2. `hcp compute --full --profile` (time, peak memory of the process, where the time went);
3. the floor, in the same run: a bare read of the same events into Arrow (the job's ranges of case ids,
   the job's selection) and a bare write of the same number of fact rows (into a scratch copy of `case_facts`);
4. a read command right after the full run (`hcp metrics --period M --by dept --format json`: it must
   find nothing to redo);
5. `hcp ingest` the late 1%, `hcp compute --profile` (incremental; time), then `hcp compute` once more with
   nothing new (the fixed cost of any run: process start, imports, opening the warehouse, the job's state);
6. the pandas baseline (bench/pandas_reference.py) on the same data read from the warehouse, checked to
   give the same indicators (all and by department) as the engine, and timed: the ratio is printed
   (skipped with `--no-pandas`, and by default above 2 M cases).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.pandas_reference import DayWalker, case_facts, indicators, rating_facts  # noqa: E402
from bench.commands import hcp  # noqa: E402

KEYS = ["cases_completed", "on_time_rate", "avg_net_working_days", "same_day_rate", "zero_trip_rate",
        "max_one_trip_rate", "online_rate", "rating_coverage", "ratings", "good_rate", "bad_rate",
        "bad_rectified_rate", "bad_rectified_on_time_rate", "revisit_rate"]


def hold_back_events(data: Path, share: float, late_dir: Path) -> int:
    """Move a random share of the event rows into a separate file, to arrive after the first compute."""
    late_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(11)
    held = []
    for path in sorted(data.glob("case_events-*.parquet")):
        frame = pl.read_parquet(path)
        mask = rng.random(frame.height) < share
        held.append(frame.filter(pl.Series(mask)))
        frame.filter(~pl.Series(mask)).write_parquet(path)
    late = pl.concat(held)
    late.write_parquet(late_dir / "late_case_events.parquet")
    return late.height


def pandas_baseline(env: dict, month: str) -> tuple[float, pd.DataFrame, pd.DataFrame]:
    os.environ.update(env)
    from warehouse.queries.events import load_events
    from warehouse.queries.group_metrics import read_group_metrics
    from warehouse.queries.ratings import load_followups, load_ratings
    from warehouse.queries.reference import load_calendar, load_items
    from hcp.periods import Period
    from warehouse import open_warehouse

    wh = open_warehouse()
    try:
        events = load_events(wh).to_pandas()
        items = load_items(wh).to_pandas()
        ratings = load_ratings(wh).to_pandas()
        followups = load_followups(wh).to_pandas()
        calendar = load_calendar(wh)
        engine_all = read_group_metrics(wh, month, "all").to_pandas().set_index("group_code")
        engine_dept = read_group_metrics(wh, month, "dept").to_pandas().set_index("group_code")
    finally:
        wh.close()
    working = set(calendar.days.filter(pl.col("is_working") & (pl.col("locality") == ""))["day"].to_list())
    for frame, cols in ((events, ["event_time"]), (ratings, ["rated_at"]), (followups, ["action_time"])):
        for col in cols:
            frame[col] = frame[col].dt.tz_convert("Asia/Shanghai")
    items["valid_from"] = pd.to_datetime(items["valid_from"]).dt.date
    period = Period.parse(month)
    t0 = time.perf_counter()
    walker = DayWalker(working)
    facts = case_facts(events, items, walker)
    rfacts = rating_facts(ratings, followups, walker, rectify_days=15)
    by_all = indicators(facts, rfacts, period.start, period.end, "all")
    by_dept = indicators(facts, rfacts, period.start, period.end, "dept")
    seconds = time.perf_counter() - t0
    return seconds, compare(by_all, engine_all), compare(by_dept, engine_dept)


def compare(reference: pd.DataFrame, engine: pd.DataFrame) -> pd.DataFrame:
    """Rows where the pandas figures differ from the engine's (empty when they agree)."""
    groups = sorted(set(reference.index) | set(engine.loc[engine["cases_completed"] + engine["ratings"] > 0].index))
    ref = reference.reindex(groups)
    eng = engine.reindex(groups)
    diffs = []
    for key in KEYS:
        a = pd.to_numeric(ref[key], errors="coerce")
        if key in ("cases_completed", "ratings"):  # a group with no cases (or no ratings) in the reference: 0
            a = a.fillna(0)
        a = a.to_numpy(dtype=float)
        b = pd.to_numeric(eng[key], errors="coerce").to_numpy(dtype=float)
        same = np.isclose(a, b, rtol=0, atol=1e-9, equal_nan=True)
        for group in np.array(groups)[~same]:
            diffs.append({"group": group, "key": key, "pandas": ref.loc[group, key], "engine": eng.loc[group, key]})
    return pd.DataFrame(diffs)


def floor(env: dict) -> dict:
    """The physical floor of a full run, measured on the bench warehouse: read every event once into Arrow
    (in the job's ranges of case ids, with the job's selection) and write as many fact rows once."""
    os.environ.update(env)
    from warehouse.queries.events import EVENT_COLUMNS, case_bounds, case_range
    from warehouse.queries.facts import load_case_facts, write_case_facts_to
    from metrics.jobs import EVENTS_PER_BUCKET
    from warehouse import open_warehouse

    wh = open_warehouse()
    try:
        total = int(wh.query_value("SELECT count() FROM case_events") or 0)
        bounds = case_bounds(wh, max(1, -(-total // EVENTS_PER_BUCKET)))
        ranges = [case_range(lo, hi) for lo, hi in zip([None, *bounds], [*bounds, None])]
        read_s, events = 0.0, 0
        for cases in ranges:
            t0 = time.perf_counter()
            table = wh.query_arrow(f"SELECT {', '.join(EVENT_COLUMNS)} FROM case_events FINAL WHERE {cases.sql()}",
                                   cases.params)
            read_s += time.perf_counter() - t0
            events += table.num_rows
            del table
        wh.command("DROP TABLE IF EXISTS bench_floor_facts")
        wh.command("CREATE TABLE bench_floor_facts AS case_facts")
        write_s, rows = 0.0, 0
        for cases in ranges:
            facts = load_case_facts(wh, cases)
            t0 = time.perf_counter()
            rows += write_case_facts_to(wh, "bench_floor_facts", facts, 1)
            write_s += time.perf_counter() - t0
            del facts
        wh.command("DROP TABLE bench_floor_facts")
    finally:
        wh.close()
    return {"floor_read_seconds": round(read_s, 1), "floor_events": events,
            "floor_write_seconds": round(write_s, 1), "floor_fact_rows": rows,
            "floor_seconds": round(read_s + write_s, 1)}


def profile_table(output: str) -> str:
    """The `step | calls | seconds` lines of `hcp compute --profile`."""
    return "\n".join(line for line in output.splitlines() if line.count(" | ") == 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--month", default="2025-10")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--pandas", action=argparse.BooleanOptionalAction, default=None,
                        help="run the pandas baseline (default: up to 2 M cases)")
    args = parser.parse_args()
    run_pandas = args.pandas if args.pandas is not None else args.cases <= 2_000_000
    work = args.workdir or Path(tempfile.mkdtemp(prefix="hcp-bench-metrics-"))
    # The default safety margin (120 s): the read command right after the full run must find nothing to redo.
    config = work / "bench-config.toml"
    work.mkdir(parents=True, exist_ok=True)
    config.write_text("[metrics]\n")
    env = {**os.environ, "HCP_HOME": str(work / "home"), "HCP_WAIT": "60", "HCP_CONFIG": str(config)}
    env.pop("HCP_WAREHOUSE", None)
    data = work / "demo"

    print(f"workdir {work}")
    gen_s, gen_peak, _ = hcp("demo", "generate", "--month", args.month, "--cases", str(args.cases),
                             "--seed", str(args.seed), "--out", str(data), "--format", "parquet",
                             "--malformed-share", "0", env=env)
    print(f"generate {args.cases:,} cases: {gen_s:.1f} s (peak {gen_peak:,} MiB)", flush=True)
    late_rows = hold_back_events(data, 0.01, work / "late")
    hcp("init", env=env)
    files = sorted(str(p) for p in data.glob("*.parquet"))
    ingest_s, ingest_peak, _ = hcp("ingest", *files, env=env)
    print(f"ingest: {ingest_s:.1f} s (peak {ingest_peak:,} MiB)", flush=True)

    full_s, full_peak, full_out = hcp("compute", "--full", "--profile", env=env)
    print(f"compute --full: {full_s:.1f} s (peak {full_peak:,} MiB)\n{profile_table(full_out)}", flush=True)
    floor_figures = floor(env)
    print(f"floor: {floor_figures}", flush=True)
    read_s, read_peak, _ = hcp("metrics", "--period", args.month, "--by", "dept", "--format", "json", env=env)
    print(f"hcp metrics right after the full run: {read_s:.1f} s (peak {read_peak:,} MiB)", flush=True)
    hcp("ingest", str(work / "late" / "late_case_events.parquet"), env=env)
    incr_s, incr_peak, incr_out = hcp("compute", "--profile", env=env)
    print(f"compute (incremental): {incr_s:.1f} s (peak {incr_peak:,} MiB)\n{profile_table(incr_out)}", flush=True)
    idle_s, _, _ = hcp("compute", env=env)
    print(f"compute with nothing new (the fixed cost of a run: process, imports, state): {idle_s:.1f} s", flush=True)

    result = {
        "cases": args.cases, "late_events": late_rows,
        "generate_seconds": round(gen_s, 1), "generate_peak_mib": gen_peak,
        "ingest_seconds": round(ingest_s, 1), "ingest_peak_mib": ingest_peak,
        "full_seconds": round(full_s, 1), "full_peak_mib": full_peak,
        **floor_figures,
        "full_over_floor": round(full_s / max(floor_figures["floor_seconds"], 0.1), 1),
        "read_after_full_seconds": round(read_s, 1), "read_after_full_peak_mib": read_peak,
        "incremental_seconds": round(incr_s, 1), "incremental_peak_mib": incr_peak,
        "incremental_over_full": round(incr_s / full_s, 2),
        "nothing_new_seconds": round(idle_s, 1),
    }
    diff_all = diff_dept = pd.DataFrame()
    if run_pandas:
        pandas_s, diff_all, diff_dept = pandas_baseline(env, args.month)
        result.update(pandas_seconds=round(pandas_s, 1), pandas_over_full=round(pandas_s / full_s, 1),
                      equal_results=bool(diff_all.empty and diff_dept.empty))
    print(json.dumps(result, indent=2))
    if not result.get("equal_results", True):
        print("differences (all):\n", diff_all.head(20), "\ndifferences (dept):\n", diff_dept.head(20))
        raise SystemExit(1)


if __name__ == "__main__":
    main()
