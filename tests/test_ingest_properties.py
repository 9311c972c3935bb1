"""No input stops ingest (issue 12): property tests over every reader with arbitrary and adversarial input.

For any bytes, every record a reader finds is stored, a duplicate, or quarantined with a reason —
never an exception: ``accepted + duplicates + quarantined = records``. For JSON Lines the records are
the non-blank lines, counted here independently of the reader; for CSV, Excel and Parquet the rows
written. Adversarial lines: deep nesting, huge numbers, invalid UTF-8, NUL bytes, lone surrogates,
byte-order marks, overlong fields, truncated records. No U+FFFD ever reaches a table.

One warehouse for the whole module (each example uses its own source name); examples are capped to keep
the module at about a minute.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import uuid

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.ingest_records import event, followup, item, rating

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                           HealthCheck.too_slow,
                                                                           HealthCheck.data_too_large])
BLANKS = b" \t\r\f\v"


@pytest.fixture(scope="module")
def wh(tmp_path_factory):
    """One embedded warehouse (and personal-data key) for every example of the module."""
    from hcp.pii import ensure_key
    from warehouse import open_warehouse
    from warehouse.migrations import ensure_schema

    saved = {k: os.environ.get(k) for k in ("HCP_HOME", "HCP_WAREHOUSE")}
    os.environ["HCP_HOME"] = str(tmp_path_factory.mktemp("hcp-home"))
    os.environ.pop("HCP_WAREHOUSE", None)
    try:
        warehouse = open_warehouse()
        ensure_schema(warehouse)
        ensure_key()
        yield warehouse
        warehouse.close()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


_LOADERS: dict[int, object] = {}


def _load(wh, frame: pl.DataFrame, style: str = "line"):
    from ingest.loader import Loader
    from ingest.run import with_positions

    loader = _LOADERS.setdefault(id(wh), Loader(wh))
    source = f"prop:{uuid.uuid4().hex}"
    summary = loader.load(with_positions(frame, style, "b") if frame.height else frame, source)
    return summary, source


def _check(wh, summary, source: str, records: int) -> None:
    assert summary.received == records
    assert summary.accepted + summary.duplicates + summary.quarantined == records, summary.as_dict()
    # The warehouse agrees: one quarantine row per quarantined record of this source.
    assert wh.query_value("SELECT count() FROM quarantine FINAL WHERE source = {s:String}", {"s": source}) \
        == summary.quarantined
    for table in ("case_events", "ratings", "followups", "quarantine"):
        column = "raw" if table == "quarantine" else "extra"
        text = wh.query_value(
            f"SELECT count() FROM {table} WHERE source = {{s:String}} AND (position({column}, '\ufffd') > 0"
            + (" OR position(comment, '\ufffd') > 0 OR position(rater_name_masked, '\ufffd') > 0"
               if table == "ratings" else "") + ")", {"s": source})
        assert text == 0, table


# Lines ------------------------------------------------------------------------------------------------

ids = st.sampled_from(["A", "B", "C", "E1", "R1", "x" * 200])  # few ids: duplicates and conflicts happen
texts = st.text(max_size=30)


def _valid(kind: str, rid: str, text: str) -> dict:
    return {"event": lambda: event(rid, remark=text),
            "rating": lambda: rating(rid, comment=text),
            "followup": lambda: followup(rid, note=text),
            "item": lambda: item(rid[:60], item_name=text or "x")}[kind]()


def _json(value) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


valid_lines = st.builds(lambda k, i, t: _json(_valid(k, i, t)),
                        st.sampled_from(["event", "rating", "followup", "item"]), ids, texts)
deep_lines = st.builds(lambda n, opener, inside: (
    (_json(event("D"))[:-1] + b', "x": ' + opener * n + b"1" + (b"]" if opener == b"[" else b"}") * n + b"}")
    if inside else opener * n), st.integers(10, 3000), st.sampled_from([b"[", b'{"a":']), st.booleans())
huge_numbers = st.builds(lambda field, number: _json(rating("N"))[:-1] + b', "' + field + b'": ' + number + b"}",
                         st.sampled_from([b"level", b"x", b"comment", b"legal_limit_days"]),
                         st.sampled_from([b"9" * 5000, b"1e999999", b"-1e-999999", b"123456789012345678901234567890",
                                          b"NaN", b"Infinity", b"-0", b"1.0000000000000000001"]))
surrogates = st.builds(lambda esc, where: _json(rating("S"))[:-1] + b', "' + where + b'": "a' + esc + b'b"}',
                       st.sampled_from([rb"\ud800", rb"\udfff", rb"\ud83d", rb"\ude00x", rb"\ud83d\ude00",
                                        rb"\\ud800", rb"\u0000", rb"\ufffd"]),
                       st.sampled_from([b"comment", b"rating_id", b"extra_field"]))
with_nul = st.builds(lambda line, at: line[:at] + b"\x00" + line[at:], valid_lines, st.integers(0, 400))
truncated = st.builds(lambda line, at: line[:at], valid_lines, st.integers(1, 400))
not_utf8 = st.builds(lambda line, junk: line[:20] + junk + line[20:], valid_lines,
                     st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\xb4\xb0\xbf\xda"]))
bom_inside = st.builds(lambda line: b"\xef\xbb\xbf" + line, valid_lines)
arbitrary = st.binary(max_size=200)
unicode_lines = st.text(max_size=80).map(lambda t: t.encode("utf-8"))
gbk_lines = st.builds(lambda t: _json(rating("G", comment=t)).decode().encode("gb18030", errors="replace"),
                      st.text(alphabet="窗口工作人员态度很差好满意", min_size=1, max_size=20))
any_line = st.one_of(valid_lines, valid_lines, deep_lines, huge_numbers, surrogates, with_nul, truncated, not_utf8,
                     bom_inside, arbitrary, unicode_lines, gbk_lines, st.just(b""), st.just(b"   "), st.just(b"{}"))


@st.composite
def jsonl_files(draw) -> bytes:
    lines = draw(st.lists(any_line, min_size=1, max_size=25))
    ending = draw(st.sampled_from([b"\n", b"\r\n"]))
    data = ending.join(lines)
    if draw(st.booleans()):
        data += ending
    return data


def expected_records(data: bytes) -> int:
    """Non-blank lines (blank: only spaces, tabs, CR, FF, VT), a UTF-8 BOM at the very start ignored."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if data.endswith(b"\n"):
        data = data[:-1]
    return sum(1 for line in data.split(b"\n") if line.strip(BLANKS))


@SETTINGS
@given(data=jsonl_files())
def test_any_json_lines_are_stored_or_quarantined(wh, data):
    from ingest.readers import decode_jsonl

    frame = decode_jsonl(data)
    summary, source = _load(wh, frame)
    _check(wh, summary, source, expected_records(data))


@SETTINGS
@given(data=jsonl_files(), chunk=st.integers(64, 4096), encoding=st.sampled_from(["auto", "utf-8", "gb18030"]))
def test_any_stream_is_read_in_chunks_without_losing_a_line(wh, data, chunk, encoding):
    """The file reader (chunks of bytes, encoding detection or a named encoding) never raises, and in
    UTF-8 finds exactly the non-blank lines."""
    from ingest.readers import read_jsonl

    chunks = list(read_jsonl(io.BytesIO(data), chunk_bytes=chunk, encoding=encoding))
    frames = [c.frame for c in chunks if c.frame.height]
    frame = pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()
    summary, source = _load(wh, frame)
    found = frame.height
    if chunks and chunks[0].encoding in ("utf-8", "utf-8-sig"):
        assert found == expected_records(data)
    _check(wh, summary, source, found)


# HTTP ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def endpoint(wh):
    from ingest.tokens import issue, parse_kinds
    from tests.test_ingest_http import serve_in_thread

    token, _ = issue(wh, f"prop-{uuid.uuid4().hex[:8]}", kinds=parse_kinds("all"))
    with contextlib.contextmanager(serve_in_thread)(wh, max_body_bytes=1 << 20, max_lines=500,
                                                   queue_rows=10_000) as (url, _writer):
        yield f"{url}/ingest", token


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=jsonl_files(), kind=st.sampled_from(["application/x-ndjson", "application/json",
                                                 "application/json; charset=utf-8", "text/plain", ""]),
       as_array=st.booleans())
def test_any_http_body_is_answered_never_500(wh, endpoint, data, kind, as_array):
    from tests.test_ingest_http import post

    url, token = endpoint
    if as_array:
        data = b"[" + b",".join(line for line in data.split(b"\n") if line.strip()) + b"]"
    status, _h, answer = post(url, data, content_type=kind, token=token)
    assert status in (200, 400, 413), (status, answer)
    if status == 200:
        assert answer["accepted"] + answer["duplicates"] + answer["quarantined"] == answer["received"], answer
        if not as_array and kind in ("application/x-ndjson", "text/plain") and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
            assert answer["received"] == expected_records(data)


# Tabular formats ------------------------------------------------------------------------------------------

adversarial_cells = st.one_of(
    texts, st.none(), st.just(""), st.just("\x00"), st.just("\ufffd"), st.just('"'), st.just("a,b\r\nc"),
    st.just("[" * 2000), st.just('{"a":' * 500), st.just("9" * 5000), st.just("1e999999"), st.just("-1"),
    st.just("差" * 2500), st.just('{"name": "张三", "id_number": "370202199001011234"}'), st.just("张三 13812345678"),
    st.just('["办事快", 1, null]'), st.just("2025-10-09T09:30:00+25:00"), st.just("true"),
)
COLUMNS = ["kind", "event_id", "rating_id", "case_id", "event_type", "event_time", "rated_at", "item_code", "dept_code",
           "region_code", "channel", "level", "comment", "tags", "applicant", "rater", "onsite", "unknown"]
kinds = st.sampled_from(["case_event", "rating", "followup", "item", "department", "region", "", "other"])


@st.composite
def tabular_rows(draw) -> list[dict]:
    base = draw(st.lists(st.sampled_from([event("T"), rating("T"), item("T"), event("U", event_type="completed")]),
                         min_size=1, max_size=12))
    rows = []
    for record in base:
        row = {c: (json.dumps(record[c], ensure_ascii=False) if isinstance(record.get(c), (dict, list))
                   else (None if record.get(c) is None else str(record[c]).lower() if isinstance(record.get(c), bool)
                         else str(record[c]))) for c in COLUMNS}
        for column in draw(st.lists(st.sampled_from(COLUMNS), max_size=3)):
            row[column] = draw(adversarial_cells)
        if draw(st.booleans()):
            row["kind"] = draw(kinds)
        rows.append(row)
    return rows


@settings(SETTINGS, max_examples=20)
@given(rows=tabular_rows(), encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]))
def test_any_csv_cells_are_stored_or_quarantined(wh, rows, encoding):
    import csv

    from ingest.readers import read_csv

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(["" if row[c] is None else row[c] for c in COLUMNS])
    data = out.getvalue().encode(encoding, errors="replace" if encoding == "gb18030" else "strict")
    frames = [c.frame for c in read_csv(io.BytesIO(data))]
    frame = pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()
    assert frame.height == len(rows)
    summary, source = _load(wh, frame)
    _check(wh, summary, source, len(rows))


@SETTINGS
@given(data=st.binary(max_size=600))
def test_any_csv_bytes_are_read_or_refused_clearly(wh, data):
    from ingest.readers import ReadError, read_csv

    try:
        frames = [c.frame for c in read_csv(io.BytesIO(b"kind,event_id,comment\n" + data))]
    except ReadError as exc:
        assert str(exc).startswith("cannot read CSV")
        return
    frame = pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()
    summary, source = _load(wh, frame)
    _check(wh, summary, source, frame.height)


_ILLEGAL = {chr(c) for c in range(32) if chr(c) not in "\t\n\r"}  # what an .xlsx cannot hold


@settings(SETTINGS, max_examples=12)
@given(rows=tabular_rows(), numbers=st.lists(st.one_of(st.integers(-(2 ** 70), 2 ** 70), st.floats(allow_nan=True)),
                                             max_size=5),
       merge=st.booleans())
def test_any_excel_cells_are_stored_or_quarantined(wh, tmp_path_factory, rows, numbers, merge):
    from openpyxl import Workbook

    from ingest.readers import read_xlsx

    book = Workbook()
    sheet = book.active
    sheet.title = "records"
    sheet.append(COLUMNS)
    for k, row in enumerate(rows):
        cells = ["".join(ch for ch in v if ch not in _ILLEGAL) if isinstance(v, str) else v for v in
                 (row[c] for c in COLUMNS)]
        if k < len(numbers):
            cells[COLUMNS.index("level")] = numbers[k]
        if not any(c not in (None, "") for c in cells):
            cells[0] = "case_event"
        sheet.append(cells)
    if merge and len(rows) > 1:
        sheet.merge_cells(start_row=2, start_column=COLUMNS.index("dept_code") + 1,
                          end_row=len(rows) + 1, end_column=COLUMNS.index("dept_code") + 1)
    path = tmp_path_factory.mktemp("xlsx") / "book.xlsx"
    book.save(path)
    frames = [c.frame for c in read_xlsx(str(path))]
    frame = pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()
    summary, source = _load(wh, frame)
    _check(wh, summary, source, frame.height)
    assert frame.height <= len(rows)


@st.composite
def parquet_frames(draw) -> pl.DataFrame:
    n = draw(st.integers(1, 8))
    column = {
        "kind": st.lists(st.one_of(kinds, st.none()), min_size=n, max_size=n),
        "event_id": st.lists(st.one_of(texts, st.none(), st.just("\x00"), st.just("x" * 500)), min_size=n, max_size=n),
        "level": st.lists(st.one_of(st.integers(-(2 ** 63), 2 ** 63 - 1), st.none()), min_size=n, max_size=n),
        "event_time": st.lists(st.one_of(st.datetimes(), st.none()), min_size=n, max_size=n),
        "comment": st.lists(st.one_of(texts, st.none(), st.just("\ufffd")), min_size=n, max_size=n),
        "onsite": st.lists(st.one_of(st.booleans(), st.none()), min_size=n, max_size=n),
        "tags": st.lists(st.one_of(st.lists(texts, max_size=3), st.none()), min_size=n, max_size=n),
        "region_code": st.lists(st.one_of(st.integers(0, 10 ** 12), st.none()), min_size=n, max_size=n),
    }
    chosen = draw(st.lists(st.sampled_from(sorted(column)), min_size=1, max_size=len(column), unique=True))
    data = {name: draw(column[name]) for name in chosen}
    base = pl.DataFrame([event(f"P{k}") for k in range(n)]).drop(chosen, strict=False)
    return pl.concat([base, pl.DataFrame(data, strict=False)], how="horizontal")


@settings(SETTINGS, max_examples=20)
@given(frame=parquet_frames())
def test_any_typed_parquet_is_stored_or_quarantined(wh, frame):
    from ingest.readers import read_parquet

    buf = io.BytesIO()
    frame.write_parquet(buf)
    buf.seek(0)
    frames = [c.frame for c in read_parquet(buf)]
    read = pl.concat(frames, how="diagonal_relaxed")
    assert read.height == frame.height
    summary, source = _load(wh, read)
    _check(wh, summary, source, frame.height)
