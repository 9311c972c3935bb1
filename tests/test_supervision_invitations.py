"""Rating invitations (智能邀评): completed cases with no rating 3 days after completion, for one week, as of
Mon 2025-10-20 10:00 — completion dates Oct 11 … Oct 17 qualify. No personal data in clear, in any format."""

from __future__ import annotations

import csv
import io
import json

import polars as pl
import pytest

from hcp.scope import Scope
from metrics.jobs import MetricsJob
from supervision.invitations import invitation_list, invitations
from tests.builders import at, event, events_frame, lifecycle, rating, ratings_frame
from tests.conftest import run_hcp

AS_OF = at("2025-10-20 10:00")
NAME, ID_NUMBER, PHONE = "欧阳娜娜", "370202199001011234", "13812345678"


def people() -> dict[str, dict]:
    """Applicants of each case (clear data, as the platform sends it)."""
    base = {"name": NAME, "id_number": ID_NUMBER, "phone": PHONE}
    other = {"name": "张三", "id_number": "37020219850505123X", "phone": "13900001111"}
    return {c: (other if c == "i5" else base) for c in
            ("i1", "i2", "i3", "i4", "i5", "i6", "i7", "i8", "i10", "i11", "i12")} | {"i9": {**base, "phone": ""}}


def events() -> pl.DataFrame:
    rows = [
        *lifecycle("i1", "2025-10-13", completed="2025-10-14 15:00"),   # 6 days, unrated → invited
        *lifecycle("i2", "2025-10-16", completed="2025-10-17 23:00"),   # 3 days (boundary) → invited
        *lifecycle("i3", "2025-10-17", completed="2025-10-18 09:00"),   # 2 days → not yet
        *lifecycle("i4", "2025-10-09", completed="2025-10-10 10:00"),   # 10 days → the week is over
        *lifecycle("i5", "2025-10-10", completed="2025-10-11 10:00"),   # 9 days (Sat make-up day) → invited
        *lifecycle("i6", "2025-10-13", completed="2025-10-14 10:00"),   # rated Oct 15 → not invited
        *lifecycle("i7", "2025-10-13", completed="2025-10-14 11:00"),   # only a default rating → invited
        *lifecycle("i8", "2025-10-13", completed="2025-10-14 12:00"),   # rated Oct 21, after the as-of → invited
        *lifecycle("i9", "2025-10-13", completed="2025-10-14 13:00"),   # no phone → cannot be texted
        *lifecycle("i10", "2025-10-13"),                                # still open
        *lifecycle("i11", "2025-10-13"), event("i11", "withdrawn", "2025-10-14 10:00"),
        *lifecycle("i12", "2025-10-13"), event("i12", "rejected", "2025-10-14 10:00"),
    ]
    return events_frame(rows)


def interchange_lines() -> bytes:
    """The cases and ratings as the platform sends them: JSON Lines with the applicant in clear."""
    def clean(record: dict) -> dict:
        return {k: v for k, v in record.items() if v not in ("", None)}

    lines = []
    for e in events().iter_rows(named=True):
        record = {"kind": "case_event", **e, "event_time": e["event_time"].isoformat()}
        if e["event_type"] == "submitted":
            record["applicant"] = clean({"type": "person", **people()[e["case_id"]]})
        lines.append(clean(record))
    for x in ratings_frame([
        rating("ri6", "i6", 4, "2025-10-15 10:00"),
        rating("ri7", "i7", 5, "2025-10-17 00:00", default=True, channel="sms"),
        rating("ri8", "i8", 5, "2025-10-21 10:00"),
    ]).iter_rows(named=True):
        lines.append(clean({"kind": "rating", **x, "rated_at": x["rated_at"].isoformat()}))
    return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()


@pytest.fixture
def home(warehouse, hcp_home):
    """Loaded through the real ingest (pseudonyms and masks made there), then the case facts computed."""
    from hcp.pii import ensure_key
    from ingest.loader import Loader
    from ingest.run import ingest_bytes

    summary = ingest_bytes(Loader(warehouse, key=ensure_key()), interchange_lines(), source="platform.jsonl",
                           batch_id="b1")
    assert (summary.accepted, summary.quarantined) == (38, 0)  # 35 events, 3 ratings
    MetricsJob(warehouse).run(full=True)  # case facts: which cases were completed, and when
    return hcp_home


def test_the_invitation_list(home, warehouse):
    frame = invitations(warehouse, AS_OF)
    assert frame["case_id"].to_list() == ["i5", "i7", "i8", "i1", "i2"]  # oldest completion first
    rows = {r["case_id"]: r for r in frame.iter_rows(named=True)}
    assert {c: r["days_since_completion"] for c, r in rows.items()} == {"i5": 9, "i7": 6, "i8": 6, "i1": 6, "i2": 3}
    assert [c for c, r in rows.items() if r["default_rated"]] == ["i7"]
    assert rows["i1"]["applicant_phone_masked"] == "138****5678"
    assert rows["i1"]["applicant_key"].startswith("k1:") and rows["i1"]["applicant_key"] == rows["i2"]["applicant_key"]
    assert rows["i5"]["applicant_key"] != rows["i1"]["applicant_key"]
    assert set(frame.columns) == {"case_id", "dept_code", "region_code", "item_code", "completed_at",
                                  "days_since_completion", "default_rated", "applicant_key", "applicant_phone_masked"}
    # N is a parameter: with N = 9 the week runs from 9 to 15 days, i5 (9) and i4 (10); with N = 2, i3 joins
    assert invitations(warehouse, AS_OF, days=9)["case_id"].to_list() == ["i4", "i5"]
    assert "i3" in invitations(warehouse, AS_OF, days=2)["case_id"].to_list()
    # scoped to a department / region in the query
    assert invitations(warehouse, AS_OF, scope=Scope.of_dept("D9")).height == 0
    assert invitations(warehouse, AS_OF, scope=Scope.of_region("370200000000")).height == 5


def test_a_rating_given_later_removes_the_case_from_later_lists(home, warehouse):
    assert "i8" not in invitations(warehouse, at("2025-10-22 10:00"))["case_id"].to_list()


def test_no_clear_personal_data_in_any_output(home, warehouse, tmp_path):
    warehouse.close()
    outputs = [run_hcp("loop", "invitations", "--as-of", "2025-10-20T10:00:00+08:00", "--format", fmt,
                       *(["--no-refresh"] if fmt != "json" else []), check=True).stdout
               for fmt in ("json", "csv", "table")]
    xlsx = tmp_path / "invite.xlsx"
    run_hcp("loop", "invitations", "--as-of", "2025-10-20T10:00:00+08:00", "--format", "xlsx", "--out", str(xlsx),
            "--no-refresh", check=True)
    from openpyxl import load_workbook

    cells = [str(v) for row in load_workbook(xlsx).active.values for v in row if v is not None]
    outputs.append("\n".join(cells))
    raw = [NAME, ID_NUMBER, PHONE, "张三", "37020219850505123X", "13900001111", "1234567", "0101"]
    for text in outputs:
        assert "138****5678" in text
        for value in raw:
            assert value not in text, value
        assert "欧*" not in text and "3702****" not in text  # not even the masked name or id number
    records = json.loads(outputs[0])
    assert [r["case_id"] for r in records] == ["i5", "i7", "i8", "i1", "i2"]
    assert list(csv.DictReader(io.StringIO(outputs[1])))[0]["applicant_phone_masked"] == "139****1111"


def test_the_rule_itself_is_pure(home, warehouse):
    """The pure rule on frames: a case completed after the as-of instant is never invited."""
    completed = pl.DataFrame({"case_id": ["late"], "dept_code": ["D1"], "region_code": ["370202000000"],
                              "item_code": ["X"], "completed_at": [at("2025-10-20 11:00")]})
    applicants = pl.DataFrame({"case_id": ["late"], "applicant_key": ["k1:x"], "applicant_phone_masked": ["138****5678"]})
    none = ratings_frame([]).select("case_id", "rated_at", "default_rating")
    assert invitation_list(completed, none, applicants, AS_OF, after_days=0).height == 0
    assert invitation_list(completed, none, applicants, at("2025-10-20 12:00"), after_days=0).height == 1
