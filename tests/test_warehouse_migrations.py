"""Migrations are versioned, idempotent, and bring an older warehouse forward without losing data."""

from __future__ import annotations

import datetime as dt

import polars as pl

from tests.conftest import run_hcp
from warehouse import open_warehouse
from warehouse.migrations import LATEST_VERSION, MIGRATIONS, migrate, schema_version


def _columns(wh):
    return wh.query_rows(
        "SELECT table, name, type FROM system.columns WHERE database = currentDatabase() ORDER BY table, position"
    )


def _write_v1_data(wh):
    wh.insert_df("regions", pl.DataFrame({"region_code": ["370000000000", "370200000000"], "region_name": ["山东省", "青岛市"]}))
    wh.insert_df("case_events", pl.DataFrame({
        "event_id": ["e1", "e2"], "case_id": ["c1", "c1"], "event_type": ["submitted", "accepted"],
        "event_time": [dt.datetime(2025, 9, 26, 9), dt.datetime(2025, 9, 26, 10)],
        "item_code": ["I1", "I1"], "dept_code": ["D1", "D1"], "region_code": ["370202000000"] * 2,
    }).with_columns(pl.col("event_time").dt.replace_time_zone("Asia/Shanghai")))
    wh.command("INSERT INTO quarantine (quarantine_id, received_at, source, position, kind, reason, raw) "
               "VALUES (generateUUIDv4(), now64(3), 'f.jsonl', '3', 'rating', 'level_out_of_range', '{}')")


def test_init_on_a_previous_version_migrates_in_place(hcp_home):
    assert LATEST_VERSION >= 2
    previous = LATEST_VERSION - 1
    wh = open_warehouse()
    migrate(wh, target=previous)
    assert schema_version(wh) == previous
    _write_v1_data(wh)
    before = {t: wh.query_value(f"SELECT count() FROM {t}") for t in ("regions", "case_events", "quarantine")}
    wh.close()

    first = run_hcp("init", check=True)
    assert f"{previous} → {LATEST_VERSION}" in first.stdout
    second = run_hcp("init", check=True)
    assert "无需变更" in second.stdout

    wh = open_warehouse()
    try:
        assert schema_version(wh) == LATEST_VERSION
        after = {t: wh.query_value(f"SELECT count() FROM {t}") for t in before}
        assert after == before == {"regions": 2, "case_events": 2, "quarantine": 1}
        assert wh.query_value("SELECT level FROM regions WHERE region_code = '370200000000'") == 2
        migrated_columns = _columns(wh)
        applied = wh.query_rows("SELECT version FROM schema_migrations ORDER BY version")
        assert applied == [(m.version,) for m in MIGRATIONS]
    finally:
        wh.close()
    assert (hcp_home / "keys" / "pii-1.key").exists()

    # A warehouse created fresh at the latest version has exactly the same tables and columns.
    fresh = open_warehouse(f"chdb://{hcp_home / 'fresh'}")
    try:
        migrate(fresh)
        assert _columns(fresh) == migrated_columns
    finally:
        fresh.close()


def test_migrate_is_a_no_op_when_current(warehouse):
    report = migrate(warehouse)
    assert report.applied == [] and report.before == report.after == LATEST_VERSION
    assert warehouse.query_value("SELECT count() FROM schema_migrations") == len(MIGRATIONS)
