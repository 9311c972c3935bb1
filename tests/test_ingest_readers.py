"""Readers: CSV, Excel, Parquet and JSON Lines oddities, each with positions the quarantine can point at."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from tests.conftest import run_hcp
from tests.ingest_records import event, item, write_csv, write_jsonl


@pytest.fixture
def load(warehouse):
    from hcp.pii import ensure_key
    from ingest.loader import Loader
    from ingest.run import ingest_path

    ensure_key()
    loader = Loader(warehouse)
    return lambda path, **kw: ingest_path(loader, str(path), **kw)


def _quarantine(wh):
    return sorted(wh.query_rows("SELECT position, reason FROM quarantine FINAL"))


def test_csv_rows_and_their_positions(load, warehouse, tmp_path):
    path = write_csv(tmp_path / "mixed.csv", [item(), event("E1"), event("E2", event_type="accepted", region_code=""),
                                              event("E3", event_type="accepted", onsite="1")])
    s = load(path)
    assert (s.accepted, s.quarantined) == (3, 1)
    assert _quarantine(warehouse) == [("3", "missing_field:region_code")]  # data row 3 (after the header)
    assert warehouse.query_value("SELECT onsite FROM case_events FINAL WHERE event_id = 'E3'") is True


def test_excel_sheets_named_after_kinds(load, warehouse, tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    items = book.active
    items.title = "item"  # no kind column: the sheet's name says what it holds
    items.append(["item_code", "item_name", "dept_code", "item_type", "legal_limit_days", "promised_limit_days",
                  "online_depth", "max_trips", "valid_from"])
    items.append(["370200-XK-0001", "食品经营许可", "D1", "行政许可", 20, 5, 4, 0, dt.date(2025, 1, 1)])
    items.append(["370200-XK-0002", "酒类许可", "D1", "行政许可", 10, 15, 4, 0, dt.date(2025, 1, 1)])
    events = book.create_sheet("events")
    events.append(["kind", "event_id", "case_id", "event_type", "event_time", "item_code", "dept_code",
                   "region_code", "onsite"])
    events.append(["case_event", "E1", "C1", "accepted", dt.datetime(2025, 10, 9, 9, 30), "370200-XK-0001", "D1",
                   370202000000, True])
    path = tmp_path / "book.xlsx"
    book.save(path)
    s = load(path)
    assert (s.accepted, s.quarantined) == (2, 1)
    assert _quarantine(warehouse) == [("item!3", "promised_exceeds_legal")]
    row = warehouse.query_df("SELECT event_time, region_code, onsite, item_known FROM case_events FINAL").row(0)
    assert row[1:] == ("370202000000", True, True)
    assert row[0].replace(tzinfo=None) == dt.datetime(2025, 10, 9, 9, 30)


def test_typed_parquet_with_real_timestamps(load, warehouse, tmp_path):
    frame = pl.DataFrame({
        "kind": ["case_event", "case_event"], "event_id": ["P1", "P2"], "case_id": ["C1", "C1"],
        "event_type": ["accepted", "completed"],
        "event_time": [dt.datetime(2025, 10, 9, 1, 30, tzinfo=dt.timezone.utc)] * 2,
        "item_code": ["I1", "I1"], "dept_code": ["D1", "D1"], "region_code": ["370202000000"] * 2,
        "result": [None, "denied"], "onsite": [False, True], "extra_info": [1, None],
    })
    path = tmp_path / "typed.parquet"
    frame.write_parquet(path)
    s = load(path)
    assert (s.accepted, s.quarantined) == (2, 0)
    numeric = tmp_path / "numeric.parquet"
    frame.with_columns(pl.Series("case_id", [1, 2]), pl.Series("event_id", ["N1", "N2"])).write_parquet(numeric)
    s = load(numeric)
    assert s.reasons == {"wrong_type:case_id": 2}
    rows = warehouse.query_rows("SELECT event_id, formatDateTime(event_time, '%H:%i'), result, extra FROM case_events FINAL ORDER BY event_id")
    assert rows == [("P1", "09:30", "", '{"extra_info":1}'), ("P2", "09:30", "denied", "")]


def test_json_lines_that_are_not_utf8_or_not_objects(load, warehouse, tmp_path):
    path = tmp_path / "odd.jsonl"
    good = write_jsonl(tmp_path / "tmp.jsonl", [event("E1"), event("E2", event_type="accepted")]).read_bytes()
    path.write_bytes(good.replace(b"\n", b"\n\xff\xfe broken\n", 1) + b'"a string"\n{"kind": "case_event", "event_id": {"nested": 1}\n')
    s = load(path)
    assert (s.accepted, s.quarantined) == (2, 3)
    assert _quarantine(warehouse) == [("2", "bad_encoding"), ("4", "not_json"), ("5", "not_json")]
    details = warehouse.query_df("SELECT position, detail FROM quarantine FINAL ORDER BY position")["detail"].to_list()
    assert "UTF-8" in details[0]


def test_cli_progress_bar_and_formats(hcp_home, tmp_path):
    run_hcp("init", check=True)
    path = write_csv(tmp_path / "records.data", [event("E1")])
    refused = run_hcp("--lang", "en", "ingest", str(path))
    assert refused.returncode != 0 and "--format" in refused.stderr
    shown = run_hcp("--lang", "en", "ingest", str(path), "--format", "csv", "--progress", check=True)
    assert "records.data" in shown.stderr and "accepted 1" in shown.stdout
