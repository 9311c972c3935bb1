"""Benchmark of the overdue-risk model on a demo month: training time and peak memory, and the time to
score every open case, against the red/yellow watch (``hcp flags``) on the same instant as the baseline.

    .venv/bin/python bench/models.py --cases 1000000            # builds the month in a temporary HCP_HOME
    .venv/bin/python bench/models.py --home /tmp/mdl1m          # reuse a home already built by this script

1. (not timed) ``hcp demo generate`` a month (Parquet), ``hcp init``, ``hcp ingest``, ``hcp compute``;
2. ``hcp models train risk --no-refresh`` in a child process: wall time and the child's peak RSS;
3. in one process, at an instant in the middle of the test month: ``models.risk.score`` (read the open
   cases, build their features, predict, explain) and ``metrics.flags.flags_as_of`` (the existing red/yellow
   computation over the same open cases), each the best of three; the ratio is printed;
4. ``hcp models risk --format json`` end to end (wall time of the command);
5. the rating-anomaly detector: ``hcp models train anomaly --no-refresh`` (wall time, peak RSS), scoring
   the month's unit-days in one process (``models.anomaly.score_window``: read the ratings, features,
   z-scores, rules, IsolationForest, evidence) against the existing rules of ``supervision.suspicious``
   over the same month as the baseline (best of three each), and ``hcp models anomalies --period`` end to
   end;
6. the complaint-cause classifier: ``hcp models train cause --no-refresh`` (wall time, peak RSS: reads the
   verified causes, time split, independent set, the model in use), and, in one process, classifying the
   month's bad ratings (``models.cause.predict`` on their texts, best of three) and a batch of 10,000 texts,
   against the keyword baseline (``models.cause.keyword_cause``) on the same 10,000; ``hcp models classify``
   end to end on the 10,000. ``--only risk|anomaly|cause`` runs one model's steps.

Aims (issue 14, 2-core machine): training ≤ 60 s, scoring ≤ 5 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.commands import hcp  # noqa: E402


def build(home: Path, cases: int, month: str, env: dict) -> None:
    data = home / "data"
    print(f"building {cases:,} cases of {month} in {home} (not timed) …", flush=True)
    hcp("demo", "generate", "--month", month, "--cases", str(cases), "--format", "parquet", "--out", str(data),
        "--malformed-share", "0", env=env)
    hcp("init", env=env)
    # The manifest lists the catalogue first (regions, departments, items), then the batches.
    files = [str(data / f["name"]) for f in json.loads((data / "manifest.json").read_text())["files"]]
    hcp("ingest", *files, env=env)
    hcp("compute", env=env)


def best_of(n: int, fn):
    times, result = [], None
    for _ in range(n):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--month", default="2026-03")
    parser.add_argument("--home", type=Path, help="an HCP_HOME built by an earlier run (skips step 1)")
    parser.add_argument("--only", choices=["risk", "anomaly", "cause"], help="one model's steps only")
    args = parser.parse_args()

    temporary = None
    if args.home is None:
        temporary = tempfile.TemporaryDirectory(prefix="hcp-bench-models-")
        home = Path(temporary.name)
    else:
        home = args.home.resolve()
    env = {**os.environ, "HCP_HOME": str(home)}
    env.pop("HCP_WAREHOUSE", None)
    if not (home / "warehouse").exists():
        build(home, args.cases, args.month, env)

    if args.only in (None, "risk"):
        bench_risk(home, env)
    if args.only in (None, "anomaly"):
        bench_anomaly(home, env, args.month)
    if args.only in (None, "cause"):
        bench_cause(home, env)
    if temporary is not None:
        temporary.cleanup()


def bench_cause(home: Path, env: dict) -> None:
    import polars as pl

    train_seconds, train_peak, _ = hcp("models", "train", "cause", "--no-refresh", env=env)
    os.environ.update(env)
    from models import cause, cause_data, store
    from warehouse import open_warehouse

    model, manifest = store.load("cause", cause.FEATURE_VERSION)
    wh = open_warehouse()
    try:
        ids = wh.query_df("SELECT rating_id FROM ratings FINAL WHERE level <= 2 AND NOT default_rating")["rating_id"].to_list()
        read_seconds, texts = best_of(3, lambda: cause_data.load_texts(wh, ids))
    finally:
        wh.close()
    month_seconds, _ = best_of(3, lambda: cause.predict(model, texts))
    pool = pl.concat([cause_data.load_seed().select("comment", "tags"), texts.select("comment", "tags")])
    batch = pool.sample(10_000, with_replacement=True, seed=0)
    batch_seconds, _ = best_of(3, lambda: cause.predict(model, batch))
    keyword_seconds, _ = best_of(3, lambda: batch.select(cause.keyword_cause(cause.document(pl.col("comment"), pl.col("tags")))))
    path = home / "bench-classify.jsonl"
    batch.with_row_index("id").select(pl.col("id").cast(pl.String), "comment", "tags").write_ndjson(path)
    cli_seconds, _, out = hcp("models", "classify", str(path), env=env)
    final = manifest["final"]
    print(f"\ncause: {final['seed_examples']:,} seed + {final['verified_examples']:,} verified examples, "
          f"vocabulary {manifest['model']['vocabulary']:,} n-grams")
    print(f"hcp models train cause      {train_seconds:7.1f} s   peak {train_peak:,} MiB   (aim ≤ 60 s)")
    print(f"read the bad ratings' texts {read_seconds:7.2f} s   {texts.height:,} bad ratings")
    print(f"classify them               {month_seconds:7.2f} s   (aim ≤ 5 s)")
    print(f"classify 10,000 texts       {batch_seconds:7.2f} s")
    print(f"baseline: keyword rule      {keyword_seconds:7.2f} s   on the same 10,000")
    print(f"hcp models classify (10,000 lines, whole command) {cli_seconds:.1f} s, {len(json.loads(out)):,} records")


def bench_anomaly(home: Path, env: dict, month: str) -> None:
    train_seconds, train_peak, _ = hcp("models", "train", "anomaly", "--no-refresh", env=env)
    os.environ.update(env)
    from models import anomaly, store
    from supervision.suspicious import suspicious_ratings
    from warehouse import open_warehouse

    model, manifest = store.load("anomaly", anomaly.FEATURE_VERSION)
    start, end = anomaly.window_for(period=month)
    wh = open_warehouse()
    try:
        score_seconds, scored = best_of(3, lambda: anomaly.score_window(wh, model, start, end))
        rules_seconds, findings = best_of(3, lambda: suspicious_ratings(wh, month))
    finally:
        wh.close()
    cli_seconds, _, out = hcp("models", "anomalies", "--period", month, "--format", "json", "--top", "50", env=env)
    final = manifest["final"]
    print(f"\nanomaly: {final['ratings']:,} ratings {final['ratings_from'][:10]} to {final['ratings_to'][:10]}, "
          f"{final['unit_days']:,} unit-days {final['unit_days_by_kind']}")
    print(f"hcp models train anomaly    {train_seconds:7.1f} s   peak {train_peak:,} MiB   (aim ≤ 60 s)")
    print(f"score the month's unit-days {score_seconds:7.2f} s   {scored.height:,} unit-days of {month} (aim ≤ 5 s)")
    print(f"baseline: suspicious rules  {rules_seconds:7.2f} s   {findings.height:,} findings")
    print(f"anomaly scoring ÷ rules     {score_seconds / rules_seconds:7.2f} ×")
    print(f"hcp models anomalies --period {month} --format json --top 50 (whole command) {cli_seconds:.1f} s, "
          f"{len(json.loads(out)):,} records")


def bench_risk(home: Path, env: dict) -> None:
    train_seconds, train_peak, _ = hcp("models", "train", "risk", "--no-refresh", env=env)
    manifest = json.loads((home / "models" / "risk" / f"v{json.loads((home / 'models' / 'risk' / 'current.json').read_text())['version']}" / "manifest.json").read_text())
    ev = manifest["evaluation"]
    test_month = dt.date.fromisoformat(ev["test_month"] + "-01")
    as_of = dt.datetime.combine(test_month + dt.timedelta(days=17), dt.time(10, 5), ZoneInfo("Asia/Shanghai"))

    os.environ.update(env)
    from metrics.flags import flags_as_of
    from models import risk, store
    from warehouse import open_warehouse

    model, _ = store.load("risk", risk.FEATURE_VERSION)
    wh = open_warehouse()
    try:
        score_seconds, scored = best_of(3, lambda: risk.score(wh, as_of, model))
        flags_seconds, flagged = best_of(3, lambda: flags_as_of(wh, as_of, 2))
    finally:
        wh.close()
    cli_seconds, _, out = hcp("models", "risk", "--as-of", as_of.isoformat(), "--format", "json", "--no-refresh", env=env)

    print(f"\ndata: {manifest['data_window']['cases']:,} accepted cases, watermark {manifest['data_watermark']}, "
          f"{manifest['snapshot_instants']} snapshot instants (every {manifest['snapshot_every_days']} day(s)), "
          f"{manifest['final']['rows']:,} labelled snapshot rows")
    print(f"hcp models train risk       {train_seconds:7.1f} s   peak {train_peak:,} MiB   (aim ≤ 60 s)")
    print(f"  model PR-AUC {ev['model']['pr_auc']:.4f} vs share used {ev['baselines']['share_used']['pr_auc']:.4f}, "
          f"item rate {ev['baselines']['item_overdue_rate']['pr_auc']:.4f} (test month {ev['test_month']})")
    print(f"score all open cases        {score_seconds:7.2f} s   {scored.height:,} open cases at {as_of:%Y-%m-%d %H:%M} (aim ≤ 5 s)")
    print(f"baseline: flags_as_of       {flags_seconds:7.2f} s   {flagged.height:,} red/yellow")
    print(f"risk scoring ÷ flags        {score_seconds / flags_seconds:7.2f} ×")
    print(f"hcp models risk --format json (whole command) {cli_seconds:.1f} s, {len(json.loads(out)):,} records")


if __name__ == "__main__":
    main()
