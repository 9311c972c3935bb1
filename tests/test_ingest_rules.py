"""Every interchange rule of INTERCHANGE.md: one bad record each, quarantined with its reason code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest

from tests.ingest_records import (
    department,
    event,
    followup,
    item,
    rating,
    region,
    without,
    write_jsonl,
)

REPO = Path(__file__).resolve().parents[1]

# (reason code, the bad record) — each record breaks exactly the one rule named.
BAD = [
    ("not_json", 'this is not json {"kind": "case_event"'),
    ("not_json", "[1, 2, 3]"),
    ("missing_field:kind", without(event("B-kind"), "kind")),
    ("unknown_kind", {**event("B-unknown-kind"), "kind": "widget"}),
    # case_event
    *[(f"missing_field:{f}", without(event(f"B-ev-{f}"), f))
      for f in ("case_id", "event_type", "event_time", "item_code", "dept_code", "region_code")],
    ("missing_field:event_id", without(event("x"), "event_id")),
    ("bad_event_type", event("B-ev-type", event_type="finished")),
    ("bad_time", event("B-ev-time", event_time="2025-13-45T99:00:00")),
    ("bad_time", event("B-ev-offset", event_time="2025-10-09T09:30:00+25:00")),  # an impossible offset
    ("bad_region_code", event("B-ev-region", region_code="3702")),
    ("missing_field:channel", without(event("B-ev-nochannel"), "channel")),
    ("bad_channel", event("B-ev-channel", channel="fax")),
    ("missing_field:result", event("B-ev-noresult", event_type="completed", result=None)),
    ("bad_result", event("B-ev-result", event_type="completed", result="maybe")),
    ("wrong_type:onsite", event("B-ev-onsite", onsite="sometimes")),
    ("wrong_type:applicant", event("B-ev-applicant", applicant="张三 370202199001011234")),
    ("bad_applicant_type", event("B-ev-applicant-type", applicant={"type": "robot", "name": "张三"})),
    ("wrong_type:event_time", event("B-ev-time-number", event_time=1760000000)),
    ("wrong_type:region_code", event("B-ev-region-number", region_code=370202000000)),
    # rating
    *[(f"missing_field:{f}", without(rating(f"B-rt-{f}"), f))
      for f in ("item_code", "dept_code", "region_code", "channel", "level", "rated_at")],
    ("missing_field:rating_id", without(rating("x"), "rating_id")),
    ("bad_channel", rating("B-rt-channel", channel="online")),
    ("bad_region_code", rating("B-rt-region", region_code="37020200000X")),
    ("wrong_type:level", rating("B-rt-level-type", level="five")),
    ("level_out_of_range", rating("B-rt-level", level=7)),
    ("bad_stage", rating("B-rt-stage", stage="halfway")),
    ("wrong_type:tags", rating("B-rt-tags", tags={"a": 1})),
    ("bad_time", rating("B-rt-time", rated_at="yesterday")),
    ("bad_time", rating("B-rt-offset", rated_at="2025-10-10T08:00:00-14:30")),
    ("wrong_type:real_name", rating("B-rt-real", real_name="perhaps")),
    ("wrong_type:default_rating", rating("B-rt-default", default_rating=3)),
    ("wrong_type:rater", rating("B-rt-rater", rater=["13812345678"])),
    # followup
    *[(f"missing_field:{f}", without(followup(f"B-fu-{f}"), f))
      for f in ("rating_id", "action", "action_time", "actor")],
    ("missing_field:followup_id", without(followup("x"), "followup_id")),
    ("bad_action", followup("B-fu-action", action="ignored")),
    ("bad_time", followup("B-fu-time", action_time="2025-10-11 25:61")),
    ("bad_time", followup("B-fu-offset", action_time="2025-10-11T09:00:00+0860")),
    ("wrong_type:actor", followup("B-fu-actor", actor=1234)),
    # item
    *[(f"missing_field:{f}", without(item(f"B-it-{f}"), f))
      for f in ("item_name", "dept_code", "legal_limit_days", "promised_limit_days", "online_depth", "max_trips",
                "valid_from")],
    ("missing_field:item_code", without(item("x"), "item_code")),
    ("wrong_type:legal_limit_days", item("B-it-legal-type", legal_limit_days="twenty")),
    ("out_of_range:online_depth", item("B-it-depth", online_depth=5)),
    ("out_of_range:max_trips", item("B-it-trips", max_trips=-1)),
    ("out_of_range:promised_limit_days", item("B-it-promised", promised_limit_days=-2, legal_limit_days=0)),
    ("promised_exceeds_legal", item("B-it-promised-legal", legal_limit_days=10, promised_limit_days=15)),
    ("bad_date", item("B-it-date", valid_from="2025/01/01")),
    # department, region
    *[(f"missing_field:{f}", without(department(f"B-dp-{f}"), f)) for f in ("dept_name", "region_code")],
    ("missing_field:dept_code", without(department("x"), "dept_code")),
    ("bad_region_code", department("B-dp-region", region_code="37")),
    ("missing_field:region_name", without(region("370203000000"), "region_name")),
    ("missing_field:region_code", without(region("x"), "region_code")),
    ("bad_region_code", region("37020400000")),
    ("bad_parent_code", region("370205000000", parent_code="3702")),
    # limits (docs/ingest.md, Limits), encodings
    ("too_long:event_id", event("E" * 129)),
    ("too_long:comment", rating("B-lim-comment", comment="差" * 2001)),
    ("too_long:dept_name", department("B-lim-dept", dept_name="局" * 257)),
    ("too_long:applicant.name", event("B-lim-name", applicant={"type": "person", "name": "张" * 101})),
    ("too_long:tags", rating("B-lim-tags", tags=["快"] * 33)),
    ("too_long:extra", event("B-lim-extra", remark="x" * 17_000)),
    ("too_deep", '{"kind": "case_event", "event_id": "B-deep", "x": ' + "[" * 17 + "]" * 17 + "}"),
    ("bad_encoding", rating("B-enc-fffd", comment="已\ufffd损坏")),
    ("bad_encoding", '{"kind": "rating", "rating_id": "B-enc-surrogate", "comment": "\\ud800"}'),
]

GOOD = [region(), department(), item(), event("E1"), event("E2", event_type="accepted"),
        event("E3", event_type="completed", onsite=True), rating("R1"), followup("F1")]


def _load(wh, records, tmp_path, **loader_kw):
    from ingest.loader import Loader
    from ingest.run import ingest_path

    path = write_jsonl(tmp_path / "records.jsonl", records)
    return ingest_path(Loader(wh, **loader_kw), str(path)), str(path)


def test_every_rule_quarantines_with_its_reason_and_the_rest_is_stored(warehouse, tmp_path):
    from hcp.pii import ensure_key

    ensure_key()
    records = GOOD + [bad for _, bad in BAD] + [event("E1", event_type="accepted")]  # last: E1 again, changed
    summary, source = _load(warehouse, records, tmp_path)
    assert summary.accepted == len(GOOD)
    assert summary.quarantined == len(BAD) + 1
    stored = warehouse.query_df("SELECT position, reason, kind, source, raw, status FROM quarantine FINAL")
    by_line = dict(zip(stored["position"].cast(pl.Int64).to_list(), stored["reason"].to_list()))
    for offset, (reason, _) in enumerate(BAD):
        line = len(GOOD) + offset + 1
        assert by_line.get(line) == reason, f"line {line}: expected {reason}, got {by_line.get(line)}"
    assert by_line[len(records)] == "duplicate_id_conflict"
    assert set(stored["source"]) == {source} and set(stored["status"]) == {"open"}
    # Good records are all there, once, and the changed resend of E1 did not replace it.
    assert warehouse.query_value("SELECT count() FROM case_events FINAL") == 3
    assert warehouse.query_value("SELECT event_type FROM case_events FINAL WHERE event_id = 'E1'") == "submitted"
    for table in ("ratings", "followups", "items", "departments", "regions"):
        assert warehouse.query_value(f"SELECT count() FROM {table} FINAL") == 1, table


def test_every_reason_code_is_documented():
    doc = (REPO / "docs" / "ingest.md").read_text(encoding="utf-8")
    codes = {reason.split(":")[0] + (":" if ":" in reason else "") for reason, _ in BAD}
    codes |= {"duplicate_id_conflict", "unknown_item"}
    for code in codes:
        assert f"`{code}" in doc, f"reason {code} is not documented in docs/ingest.md"


def test_values_are_typed_as_the_interchange_says(warehouse, tmp_path):
    from hcp.pii import ensure_key

    ensure_key()
    records = [
        item(), event("T1", event_time="2025-10-09T01:30:00Z"), event("T2", event_time="2025-10-09 09:30:00"),
        event("T3", event_time="2025-10-09T09:30:00.250+08:00", event_type="accepted", onsite="true"),
        rating("RT", level="4", tags=[], rater=None, real_name=False, comment="电话 13812345678 联系我",
               new_field={"x": 1}, another="y"),
        event("T4", item_code="UNKNOWN-ITEM", event_type="accepted"),
    ]
    summary, _ = _load(warehouse, records, tmp_path)
    assert summary.accepted == 6 and summary.quarantined == 0 and summary.flagged_unknown_items == 1
    times = dict(warehouse.query_rows(
        "SELECT event_id, formatDateTime(event_time, '%Y-%m-%d %H:%i:%S.%f') FROM case_events FINAL"))
    assert times["T1"] == times["T2"] == "2025-10-09 09:30:00.000000"  # Z → Shanghai; no offset = Shanghai
    assert times["T3"] == "2025-10-09 09:30:00.250000"
    known = dict(warehouse.query_rows("SELECT event_id, item_known FROM case_events FINAL"))
    assert known["T4"] is False and known["T1"] is True
    row = warehouse.query_df("SELECT level, tags, real_name, comment, extra, rater_key FROM ratings FINAL").row(0, named=True)
    assert row["level"] == 4 and row["tags"] == [] and row["real_name"] is False and row["rater_key"] == ""
    assert row["comment"] == "电话 138****5678 联系我"  # phone-like digits in free text are masked too
    assert json.loads(row["extra"]) == {"another": "y", "new_field": {"x": 1}}


def test_offsets_up_to_14_hours_are_converted_and_impossible_ones_are_quarantined(warehouse, tmp_path):
    """DOMAIN.md: an offset beyond ±14:00 is impossible, bad input, quarantined (never shifted)."""
    from hcp.pii import ensure_key

    ensure_key()
    good = {  # event_time as sent → Shanghai local time, worked by hand
        "O1": ("2025-10-09T09:30:00+14:00", "2025-10-09 03:30:00"),  # 19:30 UTC on the 8th
        "O2": ("2025-10-09T09:30:00-12:00", "2025-10-10 05:30:00"),  # 21:30 UTC on the 9th
        "O3": ("2025-10-09T09:30:00+05:45", "2025-10-09 11:45:00"),  # 03:45 UTC
        "O4": ("2025-10-09T09:30:00-14:00", "2025-10-10 07:30:00"),  # the limit itself, westward
        "O5": ("2025-10-09T01:30:00Z", "2025-10-09 09:30:00"),
        "O6": ("2025-10-09T09:30:00+0800", "2025-10-09 09:30:00"),
        "O7": ("2025-10-09T06:30:00+05", "2025-10-09 09:30:00"),
    }
    impossible = {"X1": "2025-10-09T09:30:00+14:01", "X2": "2025-10-09T09:30:00+25:00",
                  "X3": "2025-10-09T09:30:00+08:60", "X4": "2025-10-09T09:30:00+99:99",
                  "X5": "2025-10-09T09:30:00-1430", "X6": "2025-10-09T09:30:00+15"}
    records = [item()] + [event(i, event_time=t) for i, (t, _) in good.items()] + [
        event(i, event_time=t) for i, t in impossible.items()] + [
        rating("RX", rated_at="2025-10-10T08:00:00+25:00"), followup("FX", action_time="2025-10-11T09:00:00+99:99")]
    summary, _ = _load(warehouse, records, tmp_path)
    assert summary.accepted == 1 + len(good)
    assert summary.reasons == {"bad_time": len(impossible) + 2}
    times = dict(warehouse.query_rows(
        "SELECT event_id, formatDateTime(event_time, '%Y-%m-%d %H:%i:%S') FROM case_events FINAL"))
    assert times == {i: local for i, (_, local) in good.items()}
    rows = warehouse.query_df("SELECT record_id, reason, detail FROM quarantine FINAL")
    details = dict(zip(rows["record_id"].to_list(), rows["detail"].to_list()))
    assert set(rows["reason"]) == {"bad_time"}
    for i, t in impossible.items():
        assert details[i] == f"event_time '{t}' has an impossible offset (beyond ±14:00, or minutes over 59)"
    assert details["RX"].startswith("rated_at '2025-10-10T08:00:00+25:00' has an impossible offset")
    assert details["FX"].startswith("action_time '2025-10-11T09:00:00+99:99' has an impossible offset")


def test_unknown_items_can_be_quarantined_and_replayed_after_the_catalogue_update(warehouse, tmp_path):
    from hcp.pii import ensure_key
    from ingest.loader import Loader
    from ingest.quarantine import list_quarantine
    from ingest.replay import replay
    from ingest.run import ingest_path

    ensure_key()
    first = write_jsonl(tmp_path / "events.jsonl", [event("E1"), event("E2", event_type="accepted"),
                                                     rating("R1"), event("E9", item_code="370200-XK-0001",
                                                                         event_type="halted")])
    summary = ingest_path(Loader(warehouse, unknown_items="quarantine"), str(first))
    assert summary.accepted == 0 and summary.reasons == {"unknown_item": 3, "bad_event_type": 1}
    # The catalogue arrives; replaying stores what now passes and leaves the rest open.
    ingest_path(Loader(warehouse), str(write_jsonl(tmp_path / "catalogue.jsonl", [item()])))
    result = replay(warehouse, unknown_items="quarantine")
    assert result == {"replayed_from": 4, "accepted": 3, "duplicates": 0, "marked_replayed": 3, "still_open": 1}
    assert warehouse.query_value("SELECT count() FROM case_events FINAL WHERE item_known") == 2
    open_rows = list_quarantine(warehouse, status="open")
    assert open_rows["reason"].to_list() == ["bad_event_type"]
    replayed = list_quarantine(warehouse, status="replayed")
    assert replayed.height == 3 and replayed["replayed_at"].null_count() == 0
    assert warehouse.query_value("SELECT count() FROM quarantine FINAL") == 4
    # The replayed person is the same person: the pseudonym carried through the quarantine links them.
    keys = warehouse.query_df("SELECT DISTINCT applicant_key FROM case_events FINAL")["applicant_key"].to_list()
    from hcp.pii import current_key
    from tests.ingest_records import ID_NUMBER

    assert keys == [current_key().pseudonym(ID_NUMBER)]
    # Replaying again changes nothing.
    assert replay(warehouse)["replayed_from"] == 1
    assert warehouse.query_value("SELECT count() FROM case_events FINAL") == 2


def test_many_bad_records_after_good_ones_in_one_batch_are_each_quarantined(warehouse, tmp_path):
    """Regression: Polars 2.1's pl.format panicked on the failing rows' long texts, stopping the batch."""
    from hcp.pii import ensure_key

    ensure_key()
    events = [event(f"E{i}") for i in range(5)] + [event(f"BC{i}", channel="fax-machine-at-the-hall") for i in range(3)]
    summary, _ = _load(warehouse, events, tmp_path)
    assert (summary.accepted, summary.reasons) == (5, {"bad_channel": 3})
    times = [event(f"T{i}") for i in range(3)] + [
        event(f"BT{i}", event_time=f"2025-10-09T09:30:0{i}+08:00 tomorrow") for i in range(3)]
    summary, _ = _load(warehouse, times, tmp_path)
    assert (summary.accepted, summary.reasons) == (3, {"bad_time": 3})
    details = warehouse.query_df("SELECT record_id, detail FROM quarantine FINAL")
    by_id = dict(zip(details["record_id"].to_list(), details["detail"].to_list()))
    assert by_id["BC0"].startswith("channel 'fax-machine-at-the-hall' is not one of online, mobile")
    assert by_id["BT2"] == ("event_time '2025-10-09T09:30:02+08:00 tomorrow' is not an ISO 8601 time "
                            "(e.g. 2025-10-09T09:30:00+08:00)")


@pytest.mark.parametrize("line", ["", "   ", "\r"])
def test_blank_lines_are_not_records(warehouse, tmp_path, line):
    from hcp.pii import ensure_key

    ensure_key()
    summary, _ = _load(warehouse, [event("E1"), line, event("E2", event_type="accepted")], tmp_path)
    assert (summary.received, summary.accepted, summary.quarantined) == (2, 2, 0)


def test_reason_codes_are_snake_case():
    for reason, _ in BAD:
        assert re.fullmatch(r"[a-z_]+(:[a-z_]+(\.[a-z_]+)?)?", reason), reason


def test_the_reason_is_the_first_broken_rule_and_the_detail_names_every_one():
    """docs/ingest.md: rules go field by field (missing, wrong type, value); the detail lists them all."""
    from ingest.readers import decode_jsonl
    from ingest.validate import validate

    records = [without(event("B-two", event_type="finished"), "item_code"),  # event_type comes before item_code
               without(event("B-three", event_time="soon", region_code="37"), "case_id")]
    frame = decode_jsonl(("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n").encode())
    checked = validate("case_event", frame)
    assert checked.reason.to_list() == ["bad_event_type", "missing_field:case_id"]
    two, three = checked.detail.to_list()
    assert two.startswith("event_type 'finished' is not one of") and two.endswith("; item_code is required")
    assert three.split("; ") == ["case_id is required",
                                 "event_time 'soon' is not an ISO 8601 time (e.g. 2025-10-09T09:30:00+08:00)",
                                 "region_code must be 12 digits, got '37'"]


def test_records_of_a_kind_whose_id_column_is_absent_get_their_own_reason(warehouse):
    """Found by the property tests: an id read from a column the batch does not have was one null for
    the whole batch instead of one per record, and the quarantine could not be built (ShapeError)."""
    from hcp.pii import ensure_key
    from ingest.loader import Loader

    ensure_key()
    frame = pl.DataFrame({"kind": ["followup", "followup", "case_event", "case_event"],
                          "rating_id": ["R1", None, None, None], "_pos": ["1", "2", "3", "4"]})
    prepared = Loader(warehouse)._prepare(frame, "test", "operator:test")  # without the last net (halving)
    reasons = pl.concat(prepared.quarantine).sort("position")["reason"].to_list()
    assert reasons == ["missing_field:followup_id", "missing_field:followup_id", "missing_field:event_id",
                       "missing_field:event_id"]


@pytest.mark.parametrize("kind,records", [
    ("case_event", [event("E-blank", staff_id="", channel="  ", item_code=" x "), without(event("E-none"), "channel"),
                    event("E-pii", applicant={"type": "person", "name": "", "id_number": " ", "phone": "13800000000"}),
                    {**event("E-json-text"), "applicant": '{"type": "person", "name": "", "phone": " 1 "}'},
                    {**event("E-bool"), "onsite": "yes"}, {**event("E-bool2"), "onsite": ""}]),
    ("rating", [rating("R-blank", comment="", rater={"type": "", "name": " "}), rating("R-x")]),
])
def test_empty_text_is_missing_alike_for_small_and_large_frames(monkeypatch, kind, records):
    """Empty text becomes a missing value with either of the two equal expressions the frame's height picks
    (:data:`ingest.validate.REPLACE_FROM_ROWS`): the typed values, reasons and details are identical."""
    from ingest import validate as rules
    from ingest.readers import decode_jsonl

    frame = decode_jsonl(("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n").encode())
    small = rules.validate(kind, frame)
    monkeypatch.setattr(rules, "REPLACE_FROM_ROWS", 0)
    large = rules.validate(kind, frame)
    assert small.typed.equals(large.typed) and small.reason.equals(large.reason) and small.detail.equals(large.detail)
    assert small.typed.null_count().sum_horizontal().item() > 0  # the empty texts did become missing values
