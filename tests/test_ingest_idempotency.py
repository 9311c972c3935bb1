"""The same id sent twice — in one file, across files, sources, formats and restarts — counts once."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_hcp
from tests.ingest_records import (
    department,
    event,
    followup,
    item,
    rating,
    region,
    write_csv,
    write_jsonl,
    write_parquet,
    write_xlsx,
)

RECORDS = [region(), department(), item(), event("E1"), event("E2", event_type="accepted", onsite=True),
           event("E3", event_type="completed"), rating("R1"), rating("R2", level=1, tags=["慢", "态度差"], stage="completed"),
           followup("F1")]
TABLES = {"case_events": "event_id", "ratings": "rating_id", "followups": "followup_id", "items": "item_code",
          "departments": "dept_code", "regions": "region_code"}


def _counts(wh) -> dict:
    """Rows per table read as downstream reads them (FINAL) and as physically stored, and distinct ids."""
    out = {}
    for table, key in TABLES.items():
        out[table] = (wh.query_value(f"SELECT count() FROM {table} FINAL"),
                      wh.query_value(f"SELECT uniqExact({key}) FROM {table}"))
    return out


@pytest.fixture(params=["ids sent with the query", "ids staged in a table", "ids staged for their bytes"])
def loader(request, warehouse, monkeypatch):
    """A loader; the ledger is looked up both ways (:func:`warehouse.queries.state.ledger_hashes`): the ids
    as a query parameter (a batch this small always), and through a stage table (what a batch above
    ``LEDGER_LOOKUP_BY_VALUE`` ids, or ``LEDGER_LOOKUP_BY_VALUE_BYTES`` of them, takes), which must be gone
    after each batch."""
    from hcp.pii import ensure_key
    from ingest.loader import STAGE_PREFIX, Loader
    from warehouse.queries import state

    ensure_key()
    if request.param == "ids staged in a table":
        monkeypatch.setattr(state, "LEDGER_LOOKUP_BY_VALUE", 0)
    if request.param == "ids staged for their bytes":
        monkeypatch.setattr(state, "LEDGER_LOOKUP_BY_VALUE_BYTES", 0)
    yield Loader(warehouse)
    assert state.stage_tables(warehouse, STAGE_PREFIX) == []


def test_within_one_file_and_across_files(loader, warehouse, tmp_path):
    from ingest.run import ingest_path

    a = write_jsonl(tmp_path / "a.jsonl", RECORDS + RECORDS[3:5])  # E1, E2 twice in the same file
    first = ingest_path(loader, str(a))
    assert (first.accepted, first.duplicates, first.quarantined) == (len(RECORDS), 2, 0)
    b = write_jsonl(tmp_path / "b.jsonl", RECORDS[3:] + [event("E4", event_type="accepted")])
    second = ingest_path(loader, str(b))
    assert (second.accepted, second.duplicates, second.quarantined) == (1, len(RECORDS) - 3, 0)
    expected = {"case_events": (4, 4), "ratings": (2, 2), "followups": (1, 1), "items": (1, 1),
                "departments": (1, 1), "regions": (1, 1)}
    assert _counts(warehouse) == expected
    # Nothing was stored twice at all: the ledger kept the resends out before any insert.
    assert warehouse.query_value("SELECT count() FROM case_events") == 4
    assert warehouse.query_value("SELECT count() FROM received_ids") == len(RECORDS) + 1


def test_across_formats_and_sources_the_same_record_is_the_same(loader, warehouse, tmp_path):
    """JSON Lines, CSV, Excel and typed Parquet of the same records convert to identical content."""
    from ingest.run import ingest_path

    files = [write_jsonl(tmp_path / "r.jsonl", RECORDS), write_csv(tmp_path / "r.csv", RECORDS),
             write_xlsx(tmp_path / "r.xlsx", RECORDS), write_parquet(tmp_path / "r.parquet", RECORDS)]
    summaries = [ingest_path(loader, str(f)) for f in files]
    assert summaries[0].accepted == len(RECORDS)
    for path, s in zip(files[1:], summaries[1:]):
        assert (s.received, s.accepted, s.duplicates, s.quarantined) == (len(RECORDS), 0, len(RECORDS), 0), path
    assert warehouse.query_value("SELECT count() FROM case_events") == 3


def test_a_conflicting_resend_is_quarantined_and_reference_data_is_replaced(loader, warehouse, tmp_path):
    from ingest.run import ingest_path

    ingest_path(loader, str(write_jsonl(tmp_path / "a.jsonl", RECORDS)))
    changed = [event("E1", dept_code="D-OTHER"), rating("R1", level=2), item(item_name="食品经营许可（新）"),
               department(dept_name="市场监管局"), region(), item(valid_from="2026-01-01", promised_limit_days=3)]
    s = ingest_path(loader, str(write_jsonl(tmp_path / "b.jsonl", changed)))
    assert s.reasons == {"duplicate_id_conflict": 2}
    assert (s.accepted, s.duplicates) == (3, 1)  # item and department replaced, a new item version; region identical
    assert warehouse.query_value("SELECT dept_code FROM case_events FINAL WHERE event_id = 'E1'") == "D370200001"
    assert warehouse.query_value("SELECT level FROM ratings FINAL WHERE rating_id = 'R1'") == 5
    assert warehouse.query_rows("SELECT valid_from, item_name, promised_limit_days FROM items FINAL ORDER BY valid_from") == [
        (__import__("datetime").date(2025, 1, 1), "食品经营许可（新）", 5),
        (__import__("datetime").date(2026, 1, 1), "食品经营许可", 3),
    ]
    assert warehouse.query_value("SELECT dept_name FROM departments FINAL") == "市场监管局"
    # The conflicting versions are kept in the quarantine, not lost; sending them again adds nothing.
    again = ingest_path(loader, str(write_jsonl(tmp_path / "b.jsonl", changed)))
    assert again.reasons == {"duplicate_id_conflict": 2}
    assert warehouse.query_value("SELECT count() FROM quarantine FINAL") == 2
    assert warehouse.query_value("SELECT count() FROM quarantine") == 2


def test_across_restarts_and_stdin(hcp_home, tmp_path):
    """Real processes: the same file twice, then the same records through stdin."""
    run_hcp("init", check=True)
    path = write_jsonl(tmp_path / "records.jsonl", RECORDS + ["not json"])
    first = run_hcp("ingest", str(path), "--json")
    assert first.returncode == 3  # some input was quarantined
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    assert (summary["accepted"], summary["quarantined"]) == (len(RECORDS), 1)
    second = json.loads(run_hcp("ingest", str(path), "--json").stdout.strip().splitlines()[-1])
    assert (second["accepted"], second["duplicates"], second["quarantined"]) == (0, len(RECORDS), 1)
    third = run_hcp("ingest", "-", "--json", input=path.read_text(encoding="utf-8"))
    last = json.loads(third.stdout.strip().splitlines()[-1])
    assert (last["accepted"], last["duplicates"]) == (0, len(RECORDS))
    human = run_hcp("--lang", "en", "ingest", str(path))
    assert "duplicates 9" in human.stdout and "rows/s" in human.stdout and "quarantined not_json: 1" in human.stdout
    listed = json.loads(run_hcp("quarantine", "--format", "json", check=True).stdout)
    # The bad line from the file once, and from stdin once: two sources, never twice for one position.
    assert sorted((q["source"], q["position"], q["reason"]) for q in listed) == [
        (str(path), "10", "not_json"), ("stdin", "10", "not_json")]
    for q in listed:
        assert {"quarantine_id", "reason", "raw", "source", "position", "kind", "detail", "status",
                "received_at"} <= set(q)
        assert q["raw"] == "not json"
    from warehouse import open_warehouse

    with open_warehouse() as wh:
        assert _counts(wh)["case_events"] == (3, 3)
        assert wh.query_value("SELECT count() FROM case_events") == 3


def test_a_changed_hash_function_does_not_turn_resends_into_conflicts(loader, warehouse, tmp_path):
    """If a Polars upgrade changed the content hash, the stored row is compared before crying conflict."""
    from ingest.run import ingest_path

    path = write_jsonl(tmp_path / "a.jsonl", RECORDS)
    ingest_path(loader, str(path))
    # Pretend every ledger hash was computed by another hash function.
    warehouse.command("INSERT INTO received_ids (kind, record_id, content_hash) "
                      "SELECT kind, record_id, content_hash + 1 FROM received_ids")
    again = ingest_path(loader, str(path))
    assert (again.accepted, again.quarantined) == (3, 0)  # reference data re-inserted: identical, harmless
    assert again.duplicates == len(RECORDS) - 3
    changed = ingest_path(loader, str(write_jsonl(tmp_path / "b.jsonl", [event("E1", case_id="C9")])))
    assert changed.reasons == {"duplicate_id_conflict": 1}
    assert _counts(warehouse)["items"] == (1, 1)
