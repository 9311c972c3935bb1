"""Page render times of the dashboard on a demo month, against the same queries run bare.

    .venv/bin/python bench/dashboard.py --cases 1000000            # builds $HOME-less demo data first
    .venv/bin/python bench/dashboard.py --home /path/to/hcp-home   # an HCP_HOME already ingested and computed

1. Unless ``--home`` already holds computed metrics: `hcp init`, `hcp demo generate --cases N --format parquet`,
   `hcp ingest`, `hcp compute` into a fresh HCP_HOME (embedded warehouse).
2. One demo user per role (`dashboard.auth.create_demo_users`, in a private users file).
3. For every page and role, a headless render with Streamlit's AppTest (the whole script: login check,
   filters, scoped queries, charts, tables), timed **cold** (empty ``st.cache_data``) and **warm** (the
   cache keyed on the data version, as every render after the first one of a new metrics run).
4. Baseline, in the same run: the data-layer calls each page makes (:mod:`dashboard.data`) run bare
   against the warehouse, without Streamlit and without the cache.

Prints one line per (page, role): baseline, cold and warm render seconds and cold ÷ baseline, then the
slowest cold render. The target is every page under one second.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PAGES = ("overview", "ranking", "overdue", "ratings", "drill", "catalogue", "quality")


def hcp(*args: str, env: dict) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "hcp.cli", *args], cwd=REPO, env=env, capture_output=True, text=True)
    if done.returncode not in (0, 3):  # 3: some records quarantined (the demo injects malformed ones)
        raise SystemExit(f"hcp {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return time.perf_counter() - start


def build(home: Path, cases: int, month: str) -> None:
    env = {**os.environ, "HCP_HOME": str(home), "HCP_DASHBOARD_PORT": "off"}
    env.pop("HCP_WAREHOUSE", None)
    data = home / "demo"
    print(f"building {cases:,} cases in {home} …", flush=True)
    hcp("init", env=env)
    print(f"  generate {hcp('demo', 'generate', '--cases', str(cases), '--format', 'parquet', '--month', month, '--out', str(data), env=env):.1f} s", flush=True)
    print(f"  ingest   {hcp('ingest', *[str(p) for p in sorted(data.glob('*.parquet'))], env=env):.1f} s", flush=True)
    print(f"  compute  {hcp('compute', env=env):.1f} s", flush=True)


def bare_calls(page: str, scope, filters, as_of, wh, data) -> None:
    """The data-layer calls a page makes, run bare (what the page needs from the warehouse)."""
    from dataclasses import replace

    data.periods(wh)
    data.latest_instant(wh)
    data.data_stamp(wh)
    data.departments_in_scope(wh, scope)
    data.item_names(wh, scope)
    data.region_names(wh, scope)
    if page == "overview":
        data.unit_row(wh, scope, filters)
        data.unit_row(wh, scope, replace(filters, period=filters.parsed.previous_month().label))
        data.unit_trend(wh, scope, filters)
    elif page == "ranking":
        data.groups(wh, scope, filters, "dept")
    elif page == "quality":
        data.inconsistent_cases(wh, scope, filters)
    elif page == "overdue":
        data.open_flags(wh, scope, filters, as_of, 2)
        data.count_cases(wh, scope, filters, overdue_only=True)
        data.cases(wh, scope, filters, overdue_only=True, limit=1000)
    elif page == "ratings":
        now = (dt.datetime.now(data.SHANGHAI) + dt.timedelta(minutes=1)).replace(second=0, microsecond=0)
        data.unit_row(wh, scope, filters)
        data.bad_rectification(wh, scope, filters)
        data.loop_rows(wh, scope, filters, now, period_only=False)
    elif page == "drill":
        if scope.dept_code:
            data.unit_row(wh, scope, filters)
            data.groups(wh, scope, filters, "item")
        else:
            data.groups(wh, scope, filters, "region:city")
            data.groups(wh, scope, filters, "region:own")
            data.groups(wh, scope, filters, "dept")
    elif page == "catalogue":
        data.unit_row(wh, scope, filters)
        data.groups(wh, scope, filters, "dept")


def render(app_path: str, user: str, page: str, params: dict) -> float:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(app_path, default_timeout=300)
    at.session_state["username"] = user
    at.query_params.update(params)
    start = time.perf_counter()
    at.run()
    if page != "overview":
        at.switch_page(f"views/{page}.py")
        start = time.perf_counter()
        at.run()
    seconds = time.perf_counter() - start
    if at.exception:
        raise SystemExit(f"{page} for {user} failed: {at.exception[0].value}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, help="an HCP_HOME with computed metrics (default: build one)")
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--month", default="2025-10")
    parser.add_argument("--repeat", type=int, default=3, help="warm renders per page (median)")
    args = parser.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="hcp-bench-dashboard-"))
    os.environ["HCP_HOME"] = str(home)
    os.environ.pop("HCP_WAREHOUSE", None)
    os.environ["HCP_USERS"] = str(home / "bench-users.toml")
    if not (home / "warehouse").exists() or args.home is None:
        build(home, args.cases, args.month)

    import streamlit as st

    from dashboard import auth, data, ui
    from dashboard.data import Filters

    wh = ui.warehouse()
    cases = wh.query_value("SELECT count() FROM case_facts FINAL WHERE toYYYYMM(completed_at) = {m:UInt32}",
                           {"m": int(args.month.replace("-", ""))})
    events = wh.query_value("SELECT count() FROM case_events")
    print(f"warehouse {wh.display_dsn}: {cases:,} cases completed in {args.month}, {events:,} events in all")
    users = {u.username: u for u in auth.create_demo_users(wh, password="bench-pass")}
    filters = Filters(args.month)
    latest = data.latest_instant(wh)
    as_of = (latest + dt.timedelta(minutes=1)).replace(second=0, microsecond=0)  # as the overdue page does
    params = {"period": args.month}
    rows = []
    roles = [u for u in ("province", "city", "dept") if u in users]
    for page in PAGES:
        for user in roles:
            scope = auth.get_user(user).scope()
            start = time.perf_counter()
            bare_calls(page, scope, filters, as_of, wh, data)
            baseline = time.perf_counter() - start
            st.cache_data.clear()
            data._calendars.clear()
            cold = render(str(REPO / "dashboard" / "app.py"), user, page, params)
            warm = statistics.median(render(str(REPO / "dashboard" / "app.py"), user, page, params)
                                     for _ in range(args.repeat))
            rows.append((page, user, baseline, cold, warm))
            print(f"{page:10s} {user:9s} bare {baseline:6.3f} s   render cold {cold:6.3f} s   warm {warm:6.3f} s   "
                  f"cold/bare {cold / baseline:5.2f}", flush=True)
    # The live path: a channel filter recomputes every indicator from case facts and ratings.
    live = {**params, "channel": "online"}
    st.cache_data.clear()
    start = time.perf_counter()
    data.unit_row(wh, auth.get_user("province").scope(), Filters(args.month, channel="online"))
    baseline = time.perf_counter() - start
    st.cache_data.clear()
    cold = render(str(REPO / "dashboard" / "app.py"), "province", "overview", live)
    print(f"{'overview (channel filter, live)':30s} bare {baseline:6.3f} s   render cold {cold:6.3f} s")
    # Exactness at scale: the overdue page's cards are `hcp flags`'s.
    from metrics.flags import flags_as_of

    same = data.open_flags(wh, auth.get_user("province").scope(), filters, as_of, 2).to_dicts() == \
        flags_as_of(wh, as_of, 2).to_dicts()
    print(f"red/yellow cards as of {as_of:%Y-%m-%d %H:%M} equal to hcp flags: {same}")
    worst = max(rows, key=lambda r: r[3])
    print(f"slowest cold render: {worst[0]} for {worst[1]}, {worst[3]:.3f} s; slowest warm: "
          f"{max(r[4] for r in rows):.3f} s; every page under 1 s cold: {all(r[3] < 1 for r in rows)}")
    ui.close_warehouse()


if __name__ == "__main__":
    main()
