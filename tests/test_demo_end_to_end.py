"""`hcp demo`: the main job end to end on the embedded warehouse, and safe to run twice."""

from __future__ import annotations

import json

from tests.conftest import run_hcp
from warehouse import open_warehouse

TABLES = {"case_event": ("case_events", "event_id"), "rating": ("ratings", "rating_id"),
          "followup": ("followups", "followup_id"), "item": ("items", "(item_code, valid_from)"),
          "department": ("departments", "dept_code"), "region": ("regions", "region_code")}


def warehouse_counts() -> dict[str, int]:
    wh = open_warehouse()
    try:
        return {kind: wh.query_value(f"SELECT count(DISTINCT {key}) FROM {table} FINAL") for kind, (table, key) in TABLES.items()}
    finally:
        wh.close()


def test_demo_runs_the_whole_pipeline_and_a_rerun_changes_nothing(hcp_home):
    args = ("demo", "--month", "2025-10", "--cases", "1500", "--no-serve")
    first = run_hcp(*args, timeout=600, check=True)
    manifest = json.loads((hcp_home / "demo" / "2025-10" / "manifest.json").read_text())
    # Every distinct valid record is stored once; every injected malformed record is in quarantine.
    assert warehouse_counts() == manifest["counts"]
    quarantined = json.loads(run_hcp("quarantine", "--format", "json", check=True).stdout)
    assert len(quarantined) == manifest["injected"]["malformed"]["total"]
    assert all(q["reason"] and q["raw"] for q in quarantined)

    october = json.loads(run_hcp("metrics", "--period", "2025-10", "--format", "json", check=True).stdout)[0]
    assert october["cases_completed"] > 0 and 0 < october["on_time_rate"] <= 1
    # The demo's deliberately inconsistent cases (completion mistyped before acceptance) are found as such.
    assert october["inconsistent_cases"] == manifest["injected"]["inconsistent_cases"] == 1
    assert f"{october['cases_completed']:,}" in first.stdout  # the headline printed by the demo
    bulletin = hcp_home / "reports" / "monthly" / "2025-10" / "all" / "v1"
    assert {p.suffix for p in bulletin.iterdir()} >= {".pdf", ".xlsx", ".html"}
    assert "province" in first.stdout and (hcp_home / "users.toml").exists()
    # The models are trained (or say why not) so the dashboard can show them at once.
    assert "▶ 训练模型" in first.stdout and "risk:" in first.stdout

    second = run_hcp(*args, timeout=600, check=True)
    assert "入库 0 条" in second.stdout  # every record of the re-run is a re-send
    assert warehouse_counts() == manifest["counts"]
    assert len(json.loads(run_hcp("quarantine", "--format", "json", check=True).stdout)) == len(quarantined)
    assert json.loads(run_hcp("metrics", "--period", "2025-10", "--format", "json", check=True).stdout)[0] == october
    assert not (bulletin.parent / "v2").exists()  # same data: the published bulletin stands
