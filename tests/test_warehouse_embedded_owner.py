"""One process owns an embedded warehouse; every other process works through it — tested for real."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import HCP, REPO, run_hcp

HOLDER = """
import sys, time
from warehouse import open_warehouse
wh = open_warehouse()
print("holding", flush=True)
time.sleep(float(sys.argv[1]))
wh.close()
"""

WRITER = """
import sys, polars as pl
from warehouse import open_warehouse
from warehouse.migrations import ensure_schema
wh = open_warehouse()
ensure_schema(wh)
n = int(sys.argv[1])
wh.insert_df("departments", pl.DataFrame({"dept_code": [f"D{sys.argv[2]}-{i}" for i in range(n)],
                                          "dept_name": ["部门"] * n, "region_code": ["370200000000"] * n}))
print(type(wh).__name__, wh.query_value("SELECT count() FROM departments WHERE startsWith(dept_code, {p:String})",
                                        {"p": f"D{sys.argv[2]}-"}))
wh.close()
"""


def _start_serve(hcp_home):
    """`hcp serve` as the warehouse owner only: no dashboard child, no scheduler (they are tested elsewhere)."""
    config = hcp_home / "owner-only.toml"
    config.write_text("[dashboard]\nserve = false\n[reports]\nscheduler_in_serve = false\n")
    env = {**os.environ, "HCP_CONFIG": str(config)}
    proc = subprocess.Popen([*HCP, "serve", "--port", "0"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    owner_file = hcp_home / "warehouse" / "hcp-owner.json"
    deadline = time.monotonic() + 60
    while not owner_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"hcp serve did not start: {proc.stderr.read()}")
        time.sleep(0.1)
    return proc, json.loads(owner_file.read_text())


def test_commands_share_the_warehouse_through_the_running_owner(hcp_home):
    proc, owner = _start_serve(hcp_home)
    try:
        assert owner["pid"] == proc.pid
        assert oct((hcp_home / "warehouse" / "hcp-owner.json").stat().st_mode & 0o777) == "0o600"

        def writer(i):
            return subprocess.run([sys.executable, "-c", WRITER, "50", str(i)], cwd=REPO, capture_output=True,
                                  text=True, timeout=120)

        def status(_):
            return run_hcp("status", timeout=120)

        with ThreadPoolExecutor(max_workers=6) as pool:
            writes = list(pool.map(writer, range(4)))
            statuses = list(pool.map(status, range(4)))
        for result in writes:
            assert result.returncode == 0, result.stderr
            assert result.stdout.split() == ["OwnerWarehouse", "50"]
        for result in statuses:
            assert result.returncode == 0, result.stderr
            assert "架构版本" in result.stdout
        total = run_hcp("--lang", "en", "status", check=True).stdout
        assert "departments" in total and "200" in total
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert not (hcp_home / "warehouse" / "hcp-owner.json").exists()
    # With the owner gone, a command opens the directory itself.
    assert run_hcp("status", check=True).returncode == 0


def test_a_busy_warehouse_gives_a_clear_message_and_exit_75(hcp_home):
    run_hcp("init", check=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, "30"], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        result = run_hcp("status", env={"HCP_WAIT": "0"}, timeout=120)
        assert result.returncode == 75
        assert "Traceback" not in result.stderr
        assert f"pid {holder.pid}" in result.stderr and "hcp serve" in result.stderr
    finally:
        holder.kill()
        holder.wait()


def test_a_killed_owner_leaves_nothing_that_blocks_the_next_process(hcp_home):
    proc, _ = _start_serve(hcp_home)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (hcp_home / "warehouse" / "hcp-owner.json").exists()  # stale announcement left behind
    result = run_hcp("status", timeout=120)
    assert result.returncode == 0, result.stderr


def test_a_second_owner_is_refused(hcp_home):
    proc, _ = _start_serve(hcp_home)
    try:
        second = run_hcp("serve", "--port", "0", timeout=60)
        assert second.returncode == 75
        assert "already open" in second.stderr and "Traceback" not in second.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def test_the_proxy_returns_what_a_direct_connection_returns(hcp_home):
    import datetime as dt

    import polars as pl

    from warehouse import open_warehouse
    from warehouse.client import WarehouseError
    from warehouse.owner import OwnerWarehouse

    proc, _ = _start_serve(hcp_home)
    try:
        wh = open_warehouse()
        assert isinstance(wh, OwnerWarehouse)
        events = pl.DataFrame({
            "event_id": ["e1"], "case_id": ["c1"], "event_type": ["accepted"],
            "event_time": [dt.datetime(2025, 10, 11, 9, 30, 15, 123000)], "item_code": ["I"], "dept_code": ["D"],
            "region_code": ["370202000000"], "onsite": [True],
        }).with_columns(pl.col("event_time").dt.replace_time_zone("Asia/Shanghai"))
        assert wh.insert_df("case_events", events) == 1
        back = wh.query_df(
            "SELECT event_id, event_time, onsite, [channel] AS chans, toDate(event_time) AS d, CAST(NULL, 'Nullable(Int32)') AS n "
            "FROM case_events WHERE event_time >= {t:DateTime64(3, 'Asia/Shanghai')}",
            {"t": dt.datetime(2025, 10, 11, 9, 30)},
        )
        assert back.row(0) == ("e1", events["event_time"][0], True, [""], dt.date(2025, 10, 11), None)
        with pytest.raises(WarehouseError, match="UNKNOWN_IDENTIFIER|Unknown expression"):
            wh.query_df("SELECT no_such_column FROM case_events")
        wh.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
