"""The attacks of issue 12 on the write path (findings 2, 3, 6, 8, 9), each replayed end to end.

Every test states what was sent and checks where each record went: stored + quarantined (+ refused,
for HTTP limits) = sent, nothing lost, nothing stored twice. The counts are printed (``pytest -s``).
Finding 1 (unauthenticated writes) is in tests/test_ingest_auth.py.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import time
import urllib.request

import polars as pl
import pytest

from tests.conftest import run_hcp
from tests.ingest_records import ID_NUMBER, PHONE, department, event, item, rating, write_jsonl
from tests.test_ingest_http import _ndjson, post, serve_in_thread

DEEP = '{"kind": "case_event", "event_id": "DEEP", "x": ' + "[" * 1500 + "]" * 1500 + "}"  # ~3 KB, 1,500 deep
TABLES = {"case_events": "event_id", "ratings": "rating_id", "departments": "dept_code"}


def accounted(wh, label: str, *, sent: int, refused: int = 0, note: str = "") -> dict:
    """Where the ``sent`` records went, from the warehouse itself (not from the loader's summary):
    distinct ids stored, rows stored more than once, quarantined records."""
    stored = sum(wh.query_value(f"SELECT count(DISTINCT {key}) FROM {table} FINAL") for table, key in TABLES.items())
    physical = sum(wh.query_value(f"SELECT count() FROM {table} FINAL") for table in TABLES)
    quarantined = wh.query_value("SELECT count() FROM quarantine FINAL")
    counts = {"sent": sent, "stored": stored, "quarantined": quarantined, "refused": refused,
              "lost": sent - stored - quarantined - refused, "duplicated": physical - stored}
    print(f"\n{label}: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + (f" ({note})" if note else ""))
    assert counts["lost"] == 0 and counts["duplicated"] == 0, counts
    return counts


def reasons(wh) -> list[tuple[str, str]]:
    return wh.query_rows("SELECT position, reason FROM quarantine FINAL ORDER BY length(position), position")


def _events(n: int, prefix: str = "E") -> list[dict]:
    return [event(f"{prefix}{k}", event_type="accepted") for k in range(n)]


@pytest.fixture
def ingest(warehouse):
    from hcp.pii import ensure_key
    from ingest.loader import Loader
    from ingest.run import ingest_path

    ensure_key()
    return lambda path, **kw: ingest_path(Loader(warehouse), str(path), **kw)


@pytest.fixture
def endpoint(warehouse):
    from hcp.pii import ensure_key
    from ingest.tokens import issue, parse_kinds

    ensure_key()
    token, _ = issue(warehouse, "platform", kinds=parse_kinds("all"))
    with contextlib.contextmanager(serve_in_thread)(warehouse, max_body_bytes=64_000, max_lines=2_000,
                                                   max_inflight_bytes=80_000, queue_rows=5_000) as (url, writer):
        yield f"{url}/ingest", writer, warehouse, token


# Finding 2: one deeply nested line stopped ingestion ------------------------------------------------


def test_a_deeply_nested_line_is_quarantined_and_the_batch_stored(hcp_home, tmp_path):
    """`hcp ingest` used to exit 1 with RecursionError, storing none of the batch."""
    run_hcp("init", check=True)
    deep_variants = [
        DEEP,
        "[" * 1500 + "]" * 1500,                                                        # not even an object
        json.dumps(event("DEEP2"))[:-1] + ', "applicant2": ' + "{\"a\":" * 600 + "1" + "}" * 600 + "}",
        '{"kind": "rating", "rating_id": "DEEP3", "tags": ' + "[" * 40 + "]" * 40 + "}",  # in a known field
    ]
    records = _events(500) + deep_variants + _events(500, "F")
    path = write_jsonl(tmp_path / "deep.jsonl", records)
    done = run_hcp("--lang", "en", "ingest", str(path), "--json")
    assert done.returncode == 3, done.stderr  # 3: some records quarantined, the rest stored
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert (summary["accepted"], summary["quarantined"]) == (1000, 4)
    from warehouse import open_warehouse

    with open_warehouse() as wh:
        assert reasons(wh) == [(str(k), "too_deep") for k in range(501, 505)]
        assert "nested 1501 levels deep" in wh.query_value("SELECT detail FROM quarantine FINAL WHERE position = '501'")
        accounted(wh, "attack 2 (deep nesting, hcp ingest)", sent=1004)


def test_a_deeply_nested_line_does_not_stop_follow(hcp_home, tmp_path):
    """`--follow` used to die at the same line on every restart."""
    from tests.test_ingest_follow import Follower

    run_hcp("init", check=True)
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in _events(10)) + DEEP + "\n"
                    + "".join(json.dumps(r) + "\n" for r in _events(10, "F")))
    follower = Follower(path)
    try:
        follower.wait_for(accepted=20, quarantined=1)
    finally:
        follower.stop()
    again = Follower(path)  # a restart resumes after the line, and finds nothing new
    try:
        with path.open("a") as fh:
            fh.write(json.dumps(event("G1", event_type="accepted")) + "\n")
        again.wait_for(accepted=1, quarantined=0)
    finally:
        again.stop()
    from warehouse import open_warehouse

    with open_warehouse() as wh:
        assert [r for _, r in reasons(wh)] == ["too_deep"]
        accounted(wh, "attack 2 (deep nesting, --follow)", sent=22)


def test_a_deeply_nested_record_over_http_is_one_bad_record(endpoint):
    """HTTP used to answer 500 and refuse the batch (NDJSON and JSON arrays alike)."""
    url, _writer, wh, token = endpoint
    status, _h, answer = post(url, _ndjson([*_events(3), DEEP, *_events(3, "F")]), token=token)
    assert (status, answer["accepted"], answer["quarantined"]) == (200, 6, 1), answer
    assert answer["rejects"][0]["line"] == 4 and answer["rejects"][0]["reason"] == "too_deep"
    array = ("[" + ",".join([json.dumps(event("A1", event_type="accepted")), DEEP.replace("DEEP", "DEEPA"),
                             "[" * 1200 + "]" * 1200, json.dumps(event("A2", event_type="accepted"))]) + "]").encode()
    status, _h, answer = post(url, array, content_type="application/json", token=token)
    assert (status, answer["accepted"], answer["quarantined"]) == (200, 2, 2), answer
    assert sorted((r["line"], r["reason"]) for r in answer["rejects"]) == [(2, "too_deep"), (3, "too_deep")]
    accounted(wh, "attack 2 (deep nesting, HTTP)", sent=11)


# Finding 3: GBK/GB18030 CSV stored as mojibake --------------------------------------------------------

COMMENTS = ["窗口工作人员态度很差", "办事效率高，点赞！", "材料要求说明不清楚", "𠀀𠀁 生僻字（GB18030 四字节）"]


def _rating_csv(encoding: str, comments=COMMENTS, bom: bool = False, prefix: str = "R") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["kind", "rating_id", "item_code", "dept_code", "region_code", "channel", "level", "comment",
                     "rated_at"])
    for k, comment in enumerate(comments):
        writer.writerow(["rating", f"{prefix}{k}", "370200-XK-0001", "D370200001", "370202000000", "pc", "2", comment,
                         "2025-10-10T08:00:00+08:00"])
    text = out.getvalue()
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding)


def _no_replacement_char_anywhere(wh) -> None:
    """U+FFFD is in no String column of any table."""
    columns = wh.query_rows("SELECT table, name FROM system.columns WHERE database = currentDatabase() "
                            "AND (type LIKE '%String%') AND table NOT LIKE 'ingest_stage_%'")
    for table, column in columns:
        hit = wh.query_value(f"SELECT count() FROM `{table}` WHERE position(toString(`{column}`), '\ufffd') > 0")
        assert hit == 0, (table, column)


@pytest.mark.parametrize("encoding", ["gbk", "gb18030"])
def test_a_gbk_csv_is_read_as_chinese(ingest, warehouse, tmp_path, encoding):
    comments = COMMENTS if encoding == "gb18030" else COMMENTS[:3]  # GBK has no four-byte characters
    path = tmp_path / "ratings.csv"
    path.write_bytes(_rating_csv(encoding, comments))
    summary = ingest(path)
    assert (summary.accepted, summary.quarantined) == (len(comments), 0)
    stored = warehouse.query_rows("SELECT comment FROM ratings FINAL ORDER BY rating_id")
    assert [c for (c,) in stored] == comments
    _no_replacement_char_anywhere(warehouse)
    accounted(warehouse, f"attack 3 ({encoding.upper()} CSV)", sent=len(comments))


def test_every_text_encoding_and_the_encoding_option(hcp_home, tmp_path):
    run_hcp("init", check=True)
    files = {
        "utf8.csv": _rating_csv("utf-8", COMMENTS[:1]),
        "bom.csv": _rating_csv("utf-8", COMMENTS[1:2], bom=True, prefix="RBOM"),
        "utf16.csv": _rating_csv("utf-16", COMMENTS[2:3], prefix="R16-"),
        "gb.jsonl": (json.dumps(rating("RJ", comment=COMMENTS[3], rater=None), ensure_ascii=False) + "\n").encode("gb18030"),
        "bom.jsonl": b"\xef\xbb\xbf" + (json.dumps(rating("RB", comment="好", rater=None), ensure_ascii=False) + "\n").encode(),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    done = run_hcp("--lang", "en", "ingest", *[str(tmp_path / n) for n in files], "--json", check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1])["accepted"] == 5
    # Named explicitly: a short GBK file that could pass for something else is read as GBK.
    (tmp_path / "named.csv").write_bytes(_rating_csv("gbk", ["差"], prefix="RN"))
    shown = run_hcp("--lang", "en", "ingest", str(tmp_path / "named.csv"), "--encoding", "gbk", check=True)
    assert "accepted 1" in shown.stdout
    from warehouse import open_warehouse

    with open_warehouse() as wh:
        comments = sorted(c for (c,) in wh.query_rows("SELECT comment FROM ratings FINAL"))
        assert comments == sorted([*COMMENTS, "好", "差"])
        _no_replacement_char_anywhere(wh)
        accounted(wh, "attack 3 (UTF-8, BOM, UTF-16, GB18030 JSONL, --encoding gbk)", sent=6)


def test_undecodable_bytes_are_quarantined_never_stored_as_replacement_chars(ingest, warehouse, tmp_path):
    """A UTF-8 file with one GBK row (and one literal U+FFFD): those rows are bad_encoding, the rest stored."""
    good = _rating_csv("utf-8", ["很好", "一般", "满意"]).decode()
    lines = good.splitlines()
    lines[2] = lines[2].replace("一般", "\ufffd已损坏")  # text mangled upstream
    data = ("\n".join(lines) + "\n").encode() + "rating,RG,370200-XK-0001,D370200001,370202000000,pc,1,态度差,2025-10-10T08:00:00+08:00\n".encode("gbk")
    (tmp_path / "mixed.csv").write_bytes(data)
    summary = ingest(tmp_path / "mixed.csv")
    assert (summary.accepted, summary.quarantined) == (2, 2)
    assert [r for _, r in reasons(warehouse)] == ["bad_encoding", "bad_encoding"]
    raw = warehouse.query_value("SELECT raw FROM quarantine FINAL WHERE position = '2'")
    assert "\\ufffd已损坏" in raw  # kept as the escape, so the operator sees where
    jsonl = tmp_path / "mixed.jsonl"
    jsonl.write_bytes(_ndjson([rating("J1", rater=None)]) + json.dumps(rating("J2", comment="好", rater=None),
                                                                       ensure_ascii=False).encode("gbk") + b"\n")
    summary = ingest(jsonl)
    assert (summary.accepted, summary.quarantined) == (1, 1)
    _no_replacement_char_anywhere(warehouse)
    accounted(warehouse, "attack 3 (undecodable rows)", sent=6)


# Finding 6: no size limits -----------------------------------------------------------------------------


def test_oversized_ids_codes_and_texts_are_quarantined(ingest, warehouse, tmp_path):
    from ingest.limits import MAX_RAW_CHARS

    path = write_jsonl(tmp_path / "big.jsonl", [
        event("E" * 8_000_000),                       # an 8 MB event_id: the line is over 1 MiB
        rating("R1", comment="差" * 3_000),            # a comment over 2,000 characters
        event("E" * 129),                             # an id over 128
        event("E2", dept_code="D" * 65),              # a code over 64
        rating("R2", tags=["快"] * 33),                # too many tags
        event("E3", applicant={"type": "person", "name": "张" * 101}),
        event("E4", event_type="accepted"),           # fine
    ])
    summary = ingest(path)
    assert (summary.accepted, summary.quarantined) == (1, 6)
    assert reasons(warehouse) == [("1", "too_long:line"), ("2", "too_long:comment"), ("3", "too_long:event_id"),
                                  ("4", "too_long:dept_code"), ("5", "too_long:tags"), ("6", "too_long:applicant.name")]
    # A 30 MB comment in a CSV cell (cells have no line limit): too long, and the quarantine keeps 64 KiB of it.
    frame = pl.DataFrame([rating("R30", comment="差" * 30_000_000, rater=None, tags=None)]).drop("tags", "rater")
    frame.write_csv(tmp_path / "huge.csv")
    summary = ingest(tmp_path / "huge.csv")
    assert (summary.accepted, summary.quarantined, dict(summary.reasons)) == (0, 1, {"too_long:comment": 1})
    longest = warehouse.query_value("SELECT max(length(raw)) FROM quarantine FINAL")
    assert longest <= 4 * MAX_RAW_CHARS + 100  # bytes of at most MAX_RAW_CHARS characters
    assert warehouse.query_value("SELECT count() FROM ratings") == 0
    accounted(warehouse, "attack 6 (size limits)", sent=8)


def test_bytes_in_flight_are_capped_with_503_and_retry_after(endpoint):
    """A body in flight (queued behind a held commit lock) plus a new one beyond the cap: 503, then fine."""
    from hcp.locks import job_lock
    from ingest.loader import commit_lock_name

    url, writer, wh, token = endpoint
    first = _ndjson(_events(150))   # ~52 KB each: one fits in the 80 KB cap, two do not
    second = _ndjson(_events(150, "F"))
    assert 40_000 < len(first) < 64_000 and len(first) + len(second) > 80_000
    with job_lock(commit_lock_name(wh)):
        status, _h, queued = post(url + "?wait=0", first, token=token)
        assert (status, queued["queued"]) == (202, 150)
        status, headers, busy = post(url, second, token=token)
        assert status == 503 and int(headers["Retry-After"]) >= 1 and "in flight" in busy["error"]
        with urllib.request.urlopen(url + "/health", timeout=30) as response:
            health = json.loads(response.read())
        assert health["inflight_bytes"] == len(first) and health["inflight_limit"] == 80_000
    deadline = time.monotonic() + 60  # the writer commits once the lock is free, and gives the bytes back
    while writer.pending_rows and time.monotonic() < deadline:
        time.sleep(0.05)
    status, _h, done = post(url, second, token=token)
    assert (status, done["accepted"]) == (200, 150)
    accounted(wh, "attack 6 (bytes in flight)", sent=300, note="the second body got 503 + Retry-After once, "
                                                                "nothing of it stored, and was sent again")


# Finding 8: format gaps -----------------------------------------------------------------------------


def test_a_bom_at_the_start_of_an_http_body_is_ignored(endpoint):
    url, _writer, wh, token = endpoint
    status, _h, answer = post(url, b"\xef\xbb\xbf" + _ndjson(_events(2)), token=token)
    assert (status, answer["accepted"], answer["quarantined"]) == (200, 2, 0), answer
    status, _h, answer = post(url, b"\xef\xbb\xbf" + json.dumps(_events(2, "A")).encode(), content_type="application/json",
                              token=token)
    assert (status, answer["accepted"]) == (200, 2), answer
    accounted(wh, "attack 8 (BOM in an HTTP body)", sent=4)


def test_ndjson_sent_as_application_json_is_accepted(endpoint):
    url, _writer, wh, token = endpoint
    status, _h, answer = post(url, _ndjson(_events(3)), content_type="application/json; charset=utf-8", token=token)
    assert (status, answer["accepted"], answer["quarantined"]) == (200, 3, 0), answer
    # One record written over several lines is still one record.
    pretty = json.dumps(event("P1", event_type="accepted"), ensure_ascii=False, indent=2).encode()
    status, _h, answer = post(url, pretty, content_type="application/json", token=token)
    assert (status, answer["accepted"]) == (200, 1), answer
    # A declared charset is honoured.
    status, _h, answer = post(url, json.dumps(rating("RG", comment="态度很差", rater=None), ensure_ascii=False).encode("gb18030"),
                              content_type="application/x-ndjson; charset=gb18030", token=token)
    assert (status, answer["accepted"]) == (200, 1), answer
    assert wh.query_value("SELECT comment FROM ratings FINAL") == "态度很差"
    accounted(wh, "attack 8 (NDJSON as application/json)", sent=5)


def test_merged_cells_in_excel_are_filled_from_the_cell_that_holds_them(ingest, warehouse, tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "department"
    sheet.append(["dept_code", "dept_name", "region_code"])
    for k in range(1, 5):
        sheet.append([f"D37020{k}", f"部门{k}", "370202000000" if k == 1 else None])
    sheet.append([None, None, None])
    sheet.append(["D370299", "另一个", "370203000000"])
    sheet.merge_cells("C2:C5")  # one region cell for the first four departments
    book.save(tmp_path / "departments.xlsx")
    summary = ingest(tmp_path / "departments.xlsx")
    assert (summary.accepted, summary.quarantined) == (5, 0)
    assert warehouse.query_rows("SELECT dept_code, region_code FROM departments FINAL ORDER BY dept_code") == [
        ("D370201", "370202000000"), ("D370202", "370202000000"), ("D370203", "370202000000"),
        ("D370204", "370202000000"), ("D370299", "370203000000")]
    accounted(warehouse, "attack 8 (merged cells in .xlsx)", sent=5)


def test_excel_positions_are_sheet_rows_even_after_blank_rows(ingest, warehouse, tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "case_event"
    sheet.append(["kind", "event_id"])
    sheet.append([None, None])
    sheet.append([None, None])
    sheet.append(["case_event", None])  # row 4: a record with nothing but its kind
    book.save(tmp_path / "events.xlsx")
    ingest(tmp_path / "events.xlsx")
    assert reasons(warehouse) == [("case_event!4", "missing_field:event_id")]


# Finding 9 (part): a plain-string applicant kept the name in clear in the quarantine -------------------


@pytest.mark.parametrize("shape", ["string", "list", "number", "object with other keys", "csv string"])
def test_quarantine_raw_masks_a_person_whatever_its_shape(ingest, warehouse, tmp_path, shape):
    value = {"string": f"张三丰 {ID_NUMBER} {PHONE}", "list": ["张三丰", ID_NUMBER, PHONE], "number": int(PHONE),
             "object with other keys": {"name": "张三丰", "address": "青岛市市南区香港中路", "mobile": PHONE},
             "csv string": f"张三丰 {PHONE}"}[shape]
    if shape == "csv string":
        frame = pl.DataFrame([{**{k: v for k, v in event("E1", event_type="exploded").items()
                                  if k not in ("applicant", "onsite")}, "applicant": value}])
        frame.write_csv(tmp_path / "in.csv")
        summary = ingest(tmp_path / "in.csv")
    else:
        # (a record quarantined for another reason: its person is kept, masked, for the replay)
        summary = ingest(write_jsonl(tmp_path / "in.jsonl", [event("E1", event_type="exploded", applicant=value)]))
    assert summary.quarantined == 1
    raw = warehouse.query_value("SELECT raw FROM quarantine FINAL")
    for secret in ("三丰", "香港中路", ID_NUMBER, PHONE):
        assert secret not in raw, (shape, raw)
    assert '"kind"' in raw and ("张" in raw or shape == "number")  # masked, not dropped: still recognisable
    accounted(warehouse, f"attack 9 (applicant as a {shape})", sent=1)


def test_items_and_departments_keep_working_with_the_catalogue(ingest, warehouse, tmp_path):
    """The reference path with the new history and limits still stores a plain catalogue load."""
    summary = ingest(write_jsonl(tmp_path / "ref.jsonl", [department(), item(), item(valid_from="2025-06-01")]))
    assert (summary.accepted, summary.quarantined) == (3, 0)
    assert warehouse.query_value("SELECT count() FROM reference_changes FINAL") == 3
