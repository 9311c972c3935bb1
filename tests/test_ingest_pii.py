"""Personal data never reaches the warehouse in clear — not in the data, not in the quarantine."""

from __future__ import annotations

import os

from tests.conftest import run_hcp
from tests.ingest_records import (
    ID_NUMBER,
    PHONE,
    RATER_ID,
    RATER_PHONE,
    event,
    item,
    rating,
    write_csv,
    write_jsonl,
    write_parquet,
    write_xlsx,
)

CONTROL = "CASE-440301199912312345"  # stored in clear (a case number), shaped like an ID number
SECRETS = [ID_NUMBER, PHONE, RATER_ID, RATER_PHONE, "13700001111", "110101198001010011"]


def _records():
    return [
        item(),
        event("E1", case_id=CONTROL), event("E2", event_type="accepted", applicant={"type": "person", "name": "欧阳娜娜",
                                                                  "id_number": "110101198001010011",
                                                                  "phone": "13700001111"}),
        rating("R1"),
        rating("R2", rater={"phone": RATER_PHONE}, comment=f"请回电 {RATER_PHONE}"),
        # Quarantined records that carry personal data:
        event("Q1", event_type="exploded"),
        rating("Q2", level=9),
        event("Q3", applicant=f"张三 {ID_NUMBER} {PHONE}"),
    ]


def test_raw_id_numbers_and_phones_never_reach_the_warehouse_files(hcp_home, tmp_path):
    run_hcp("init", check=True)
    records = _records()
    files = [write_jsonl(tmp_path / "p.jsonl", records + [f'{{"kind": "case_event", "applicant": {{"id_number": "{ID_NUMBER}"', 
                                                           f"garbage {PHONE} {ID_NUMBER}"]),
             write_csv(tmp_path / "p.csv", records), write_xlsx(tmp_path / "p.xlsx", records),
             write_parquet(tmp_path / "p.parquet", records[:-1])]  # typed Parquet cannot hold Q3's text applicant
    for path in files:
        result = run_hcp("ingest", str(path))
        assert result.returncode == 3, result.stderr
    from warehouse import open_warehouse

    with open_warehouse() as wh:
        assert wh.query_value("SELECT count() FROM case_events FINAL") == 2
        assert wh.query_value("SELECT count() FROM quarantine FINAL") == 3 * 3 + 2 + 2
        masks = wh.query_rows("SELECT applicant_name_masked, applicant_id_masked, applicant_phone_masked "
                              "FROM case_events FINAL ORDER BY event_id")
        assert masks == [("张*", "3702**********1234", "138****5678"), ("欧***", "1101**********0011", "137****1111")]
        raws = [r[0] for r in wh.query_rows("SELECT raw FROM quarantine FINAL")]
        assert any("3702**********1234" in r for r in raws) and any("张*" in r for r in raws)
        wh.command("OPTIMIZE TABLE quarantine FINAL")  # also flush everything to the parts on disk
    leaked, control = [], False
    for root, _dirs, names in os.walk(hcp_home / "warehouse"):
        for name in names:
            data = (os.path.join(root, name))
            with open(data, "rb") as fh:
                content = fh.read()
            for secret in SECRETS:
                if secret.encode() in content:
                    leaked.append((data, secret))
            control = control or CONTROL.encode() in content
    assert not leaked, leaked
    assert control, "a clear value of the same shape is found on disk, so a clear ID number would have been too"



def test_pseudonyms_link_a_person_across_records_and_rotate(warehouse, tmp_path):
    from hcp.pii import current_key, ensure_key, rotate_key
    from ingest.loader import Loader
    from ingest.run import ingest_path

    ensure_key()
    same_person = rating("R1", rater={"name": "张三", "id_number": ID_NUMBER, "phone": PHONE})
    ingest_path(Loader(warehouse), str(write_jsonl(tmp_path / "a.jsonl", [event("E1"), same_person])))
    key1 = current_key()
    applicant = warehouse.query_value("SELECT applicant_key FROM case_events FINAL")
    rater = warehouse.query_value("SELECT rater_key FROM ratings FINAL")
    assert applicant == rater == key1.pseudonym(ID_NUMBER) and applicant.startswith("k1:")
    assert ID_NUMBER not in applicant
    rotate_key()
    s = ingest_path(Loader(warehouse), str(write_jsonl(tmp_path / "b.jsonl", [event("E1"), event("E2", event_type="accepted")])))
    assert (s.accepted, s.duplicates, s.quarantined) == (1, 1, 0)  # an identical resend is still a duplicate
    keys = dict(warehouse.query_rows("SELECT event_id, applicant_key FROM case_events FINAL"))
    assert keys["E1"].startswith("k1:") and keys["E2"].startswith("k2:") and keys["E1"] != keys["E2"]


def test_keys_rotate_command(hcp_home):
    run_hcp("init", check=True)
    out = run_hcp("--lang", "en", "keys", "rotate", check=True).stdout
    assert "version 2" in out
    assert "version 2" in run_hcp("--lang", "en", "keys", "status", check=True).stdout
    assert sorted(p.name for p in (hcp_home / "keys").iterdir()) == ["pii-1.key", "pii-2.key"]
    assert not (hcp_home / "warehouse" / "keys").exists()
