"""Readers: interchange files and streams → Polars frames of record fields plus bookkeeping columns.

Every reader yields :class:`Chunk` frames with the same shape, whatever the format:

* the record fields that are present, typed as read (JSON Lines and CSV give text; Parquet keeps its
  own types; ``tags`` is a list or JSON text; ``applicant``/``rater`` are structs or JSON text);
* ``_line`` — the record's 1-based line (JSON Lines) or row (CSV, Excel, Parquet) in the source, and for
  JSON Lines ``_byte``, the byte offset where the line starts;
* ``_raw`` — the line as received (JSON Lines only; for tabular formats the quarantine builds a JSON
  object of the row's cells when it needs one);
* ``_err``/``_err_detail`` — set when the record could not be read at all (``not_json``,
  ``wrong_type:<field>``, ``too_deep``, ``too_long:line``, ``bad_encoding``, ``unreadable``);
* ``_extra`` — unknown top-level fields of the record as a JSON object ("" when there are none).

JSON Lines are decoded in one typed, multi-threaded pass (``pl.read_ndjson`` with a fixed schema); a
chunk that fails as a whole is bisected until the bad lines are isolated, and only those lines are
looked at one by one. So one bad line never kills the batch, and good input never pays for bad input.
Before any decoding, vectorised scans of the raw text set aside the lines no parser may see (too long,
nested too deep, lone surrogates: :func:`_special_lines`), and whatever a reader is given, it raises
nothing but :class:`ReadError` for a source that is not of its format at all: every record is read or
carries the reason it could not be.

Text encodings (JSON Lines, CSV): UTF-8 with or without BOM, GB18030/GBK and UTF-16, detected or named
(:mod:`ingest.encoding`).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator
from xml.etree.ElementTree import iterparse

import numpy as np
import polars as pl
import pyarrow as pa

from hcp.domain import RECORD_KINDS
from ingest import jsonsafe
from ingest.encoding import SAMPLE_BYTES, TranscodingReader, detect, normalise, to_utf8
from ingest.fields import (
    ERR,
    ERR_DETAIL,
    EXTRA,
    KNOWN_FIELDS,
    LIST_FIELDS,
    PII_CARRIER,
    PII_OBJECTS,
    RAW,
    READ_SCHEMA,
    READ_SCHEMA_WITH_PII_CARRIER,
    TEXT_FIELDS,
)
from ingest.limits import MAX_DEPTH, MAX_LINE_BYTES

FORMATS = ("jsonl", "csv", "parquet", "xlsx")
_EXTENSIONS = {
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv",
    ".parquet": "parquet", ".pq": "parquet", ".xlsx": "xlsx",
}
DEFAULT_CHUNK_BYTES = 64 << 20
DEFAULT_BATCH_ROWS = 250_000


#: What Polars may raise on bad input: its own errors, and a Rust panic (a BaseException).
POLARS_ERRORS = (Exception, pl.exceptions.PanicException)


def error_text(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]


class ReadError(ValueError):
    """A whole source cannot be read (unknown format, unreadable file); records are never this."""


@dataclass
class Chunk:
    frame: pl.DataFrame
    bytes_read: int = 0  # bytes of the source consumed by this chunk (for progress bars)
    encoding: str = ""  # the text encoding the source was read in (JSON Lines, CSV)


def detect_format(path: str, explicit: str | None = None) -> str:
    if explicit:
        return explicit
    name = path.lower()
    if name.endswith(".gz"):
        raise ReadError(f"{path}: compressed files are not read directly; decompress and pipe to `hcp ingest -`")
    for ext, fmt in _EXTENSIONS.items():
        if name.endswith(ext):
            return fmt
    raise ReadError(f"{path}: cannot tell the format from the name; use --format ({', '.join(FORMATS)})")


# JSON Lines ----------------------------------------------------------------------------------


def _utf8_bad_lines(data: bytes, starts: np.ndarray) -> list[int]:
    """Indices of lines that are not valid UTF-8 (usually none: one vectorised check of the chunk by Arrow,
    then, only when it fails, Python's decoder finds the lines)."""
    whole = pa.LargeStringArray.from_buffers(1, pa.py_buffer(np.array([0, len(data)], dtype=np.int64)), pa.py_buffer(data))
    try:
        whole.validate(full=True)
        return []
    except pa.ArrowInvalid:
        pass
    bad: list[int] = []
    pos = 0
    while True:
        try:
            data[pos:].decode("utf-8")
            return bad
        except UnicodeDecodeError as exc:
            at = pos + exc.start
            line = int(np.searchsorted(starts, at, side="right") - 1)
            bad.append(line)
            nxt = data.find(b"\n", at)
            if nxt < 0:
                return bad
            pos = nxt + 1


def split_lines(data: bytes) -> tuple[pl.Series, np.ndarray, dict[int, str]]:
    """Split a chunk of complete lines into a String series without copying per line.

    Returns the lines (``\\r\\n`` tolerated), their start offsets in ``data``, and for lines that are not
    UTF-8 their text with the undecodable bytes written as ``\\xNN`` escapes (those lines read as blank
    placeholders; they are quarantined as ``bad_encoding``, and no U+FFFD is ever made of them).
    """
    if not data:
        return pl.Series(RAW, [], dtype=pl.String), np.zeros(0, dtype=np.int64), {}
    if not data.endswith(b"\n"):
        data += b"\n"
    buf = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(buf == 10).astype(np.int64)
    starts = np.concatenate([np.zeros(1, dtype=np.int64), newlines[:-1] + 1])
    bad_text: dict[int, str] = {}
    bad = _utf8_bad_lines(data, starts)
    if bad:
        fixed = bytearray(data)
        for i in bad:
            s, e = int(starts[i]), int(newlines[i])
            bad_text[i] = data[s:e].decode("utf-8", errors="backslashreplace").rstrip("\r")
            fixed[s:e] = b" " * (e - s)
        data = bytes(fixed)
    # Each element spans [start, newline): offsets interleave starts and ends via a take.
    arr = pa.LargeStringArray.from_buffers(
        len(newlines) * 2 - 1,
        pa.py_buffer(np.stack([starts, newlines], axis=1).ravel().astype(np.int64)),
        pa.py_buffer(data),
    )
    lines = pl.Series(RAW, arr).gather_every(2)
    if b"\r" in data:  # CRLF line ends (a copy only when there are some)
        lines = lines.str.strip_suffix("\r")
    return lines, starts, bad_text


def _decode_range(text: pl.Series, schema: dict, whole: bytes | None = None
                  ) -> tuple[list[tuple[int, pl.DataFrame]], list[tuple[int, str]]]:
    """Typed-decode ``text`` (non-blank lines); bisect on failure. Returns (offset, frame) parts and
    (index, error) for single lines that cannot be decoded with the schema. ``whole`` is the chunk's
    bytes when they are exactly ``text``'s lines (decoded first, without joining the lines again)."""
    parts: list[tuple[int, pl.DataFrame]] = []
    failed: list[tuple[int, str]] = []
    stack = [(0, len(text))]
    while stack:
        start, length = stack.pop()
        if length == 0:
            continue
        if whole is not None and start == 0 and length == len(text):
            payload = whole
        else:
            payload = text.slice(start, length).str.join("\n").item().encode()
        try:
            frame = pl.read_ndjson(io.BytesIO(payload), schema=schema)
            if frame.height != length:  # defensive: never misalign records and lines
                raise pl.exceptions.ComputeError(f"decoded {frame.height} records from {length} lines")
            parts.append((start, frame))
        except POLARS_ERRORS as exc:  # polars raises several types for bad JSON
            if length == 1:
                failed.append((start, error_text(exc)))
            else:
                half = length // 2
                stack.append((start + half, length - half))
                stack.append((start, half))
    parts.sort(key=lambda p: p[0])
    return parts, failed


def _classify_bad_line(line: str, polars_error: str) -> tuple[str, str, dict]:
    """Why one line could not be decoded: ``not_json``, ``too_deep`` or ``wrong_type:<field>`` (the rare
    path). The line is parsed by :func:`ingest.jsonsafe.loads`, which cannot recurse too deep."""
    try:
        obj = jsonsafe.loads(line)
    except jsonsafe.BadJson as exc:
        return exc.reason, exc.detail, {}
    if not isinstance(obj, dict):
        return "not_json", f"a line must hold a JSON object, found {type(obj).__name__}", {}
    ids = {k: str(v)[:200] for k, v in obj.items() if k in KNOWN_FIELDS and isinstance(v, (str, int, float))}
    for name in KNOWN_FIELDS:
        value = obj.get(name)
        if value is None:
            continue
        if name in PII_OBJECTS and not isinstance(value, dict):
            return f"wrong_type:{name}", f"{name} must be an object, found {type(value).__name__}", ids
        if name in LIST_FIELDS and not (isinstance(value, list) and all(
                isinstance(v, (str, int, float, bool)) or v is None for v in value)):
            return f"wrong_type:{name}", f"{name} must be a list of strings", ids
    return "not_json", f"cannot be decoded: {polars_error}", ids


def _extra_from_objects(lines: pl.Series, allow_pii_carrier: bool) -> pl.Series:
    """``_extra`` for lines suspected of unknown keys: a typed-inference pass, per-line only as fallback."""
    ignored = set(KNOWN_FIELDS) | {PII_CARRIER}
    try:
        decoded = lines.str.json_decode(infer_schema_length=None)
        fields = [f.name for f in decoded.dtype.fields] if isinstance(decoded.dtype, pl.Struct) else []
        unknown = [f for f in fields if f not in ignored]
        if not unknown:
            return pl.Series(EXTRA, [""] * len(lines), dtype=pl.String)
        frame = decoded.struct.unnest().select(unknown)
        return frame.select(extra_json_expr(unknown).alias(EXTRA)).to_series()
    except POLARS_ERRORS:
        out = []
        for line in lines.to_list():
            try:
                obj = jsonsafe.loads(line)
                extra = {k: v for k, v in obj.items() if k not in ignored and v is not None}
                out.append(json.dumps(extra, ensure_ascii=False, sort_keys=True, allow_nan=False) if extra else "")
            except (jsonsafe.BadJson, AttributeError, ValueError, UnicodeError):
                out.append("")
        return pl.Series(EXTRA, out, dtype=pl.String)


def _json_key(name: str) -> str:
    """``"name":`` exactly as Polars' JSON encoder writes the key."""
    encoded = pl.select(pl.struct(pl.lit(None, dtype=pl.Int8).alias(name)).struct.json_encode()).item()
    return encoded[1:-len("null}")]


def extra_json_expr(columns: list[str]) -> pl.Expr:
    """A JSON object of the non-null ``columns`` of each row ("" when all are null)."""
    if not columns:
        return pl.lit("", dtype=pl.String)
    pieces = []
    for name in sorted(columns):
        encoded = pl.struct(pl.col(name)).struct.json_encode()
        # {"name":value} → "name":value (the key as Polars writes it; no counting of characters)
        key = _json_key(name)
        pieces.append(pl.when(pl.col(name).is_not_null()).then(
            pl.lit(key) + encoded.str.strip_prefix("{" + key).str.strip_suffix("}")))
    body = pl.concat_str(pieces, separator=",", ignore_nulls=True)
    return pl.when(body.fill_null("") == "").then(pl.lit("")).otherwise(pl.lit("{") + body + pl.lit("}"))


_NOT_A_STRING = r'"(' + "|".join(TEXT_FIELDS) + r')"\s*:\s*(?:-?\d|true|false|\[|\{)'


_BOM = b"\xef\xbb\xbf"
#: What a blank line is made of (ASCII blanks only: a line of U+3000 is not blank, it is not JSON).
_BLANKS = " \t\r\f\v"
#: A JSON escape of a UTF-16 surrogate: paired (an emoji) or lone (not text); see _special_lines.
_SURROGATE_ESCAPE = r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}"


def _special_lines(lines: pl.Series) -> dict[int, tuple[str, str]]:
    """Lines no parser may see, found on the raw text before any decoding: (reason, detail) by index.

    * longer than :data:`~ingest.limits.MAX_LINE_BYTES` — ``too_long:line``;
    * nested deeper than :data:`~ingest.limits.MAX_DEPTH` — ``too_deep`` (Python's parser would recurse
      once per level). Only lines with more opening brackets than the limit are measured;
    * holding a lone surrogate escape (``"\\ud800"``): not text, and Polars would read it as NUL —
      ``bad_encoding``. Only lines with a surrogate escape at all (emoji written as ASCII) are parsed.

    Each test is one vectorised scan of the chunk; per-line work is for the few lines it picks out.
    """
    special: dict[int, tuple[str, str]] = {}
    sizes = lines.str.len_bytes()
    if sizes.max() is not None and sizes.max() > MAX_LINE_BYTES:
        for i in np.flatnonzero((sizes > MAX_LINE_BYTES).to_numpy()):
            special[int(i)] = ("too_long:line", f"the line is {int(sizes[int(i)]):,} bytes or more; "
                                                f"at most {MAX_LINE_BYTES:,} are accepted")
    brackets = lines.str.count_matches(r"[\[{]") > MAX_DEPTH
    if brackets.any():
        for i in np.flatnonzero(brackets.to_numpy()):
            if int(i) in special:
                continue
            depth = jsonsafe.max_depth(lines[int(i)])
            if depth > MAX_DEPTH:
                special[int(i)] = ("too_deep", f"nested {depth} levels deep; at most {MAX_DEPTH} are accepted")
    surrogates = lines.str.contains(_SURROGATE_ESCAPE)
    if surrogates.any():
        for i in np.flatnonzero(surrogates.to_numpy()):
            if int(i) in special:
                continue
            try:
                value = jsonsafe.loads(lines[int(i)])
            except jsonsafe.BadJson:
                continue  # not JSON anyway: the decoder says why
            if jsonsafe.has_lone_surrogate(value):
                special[int(i)] = ("bad_encoding", "holds a \\uD800-\\uDFFF escape without its pair (a lone surrogate is not text)")
    return special


def decode_jsonl(data: bytes, *, first_line: int = 1, base_offset: int = 0,
                 allow_pii_carrier: bool = False) -> pl.DataFrame:
    """Decode a chunk of complete JSON lines into a record frame (see the module docstring).

    Never raises for any bytes: a line that cannot be read becomes a row with ``_err`` set (its
    quarantine reason). Should the chunk's decoding fail in a way no rule foresaw, the chunk is decoded
    again line by line and a line that still fails is a row with ``_err`` ``unreadable``.
    """
    try:
        return _decode_jsonl(data, first_line=first_line, base_offset=base_offset, allow_pii_carrier=allow_pii_carrier)
    except POLARS_ERRORS as exc:
        if b"\n" not in data.rstrip(b"\n"):  # one line: that line is unreadable
            return _unreadable(data, first_line, base_offset, exc)
        return _decode_line_by_line(data, first_line, base_offset, allow_pii_carrier)


def _decode_line_by_line(data: bytes, first_line: int, base_offset: int, allow_pii_carrier: bool) -> pl.DataFrame:
    frames, offset = [], base_offset
    for k, line in enumerate(data.split(b"\n")[:-1] if data.endswith(b"\n") else data.split(b"\n")):
        piece = line + b"\n"
        try:
            frames.append(_decode_jsonl(piece, first_line=first_line + k, base_offset=offset,
                                        allow_pii_carrier=allow_pii_carrier))
        except POLARS_ERRORS as exc:
            frames.append(_unreadable(piece, first_line + k, offset, exc))
        offset += len(piece)
    frames = [f for f in frames if f.height]
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()


def _unreadable(line: bytes, line_no: int, offset: int, exc: BaseException) -> pl.DataFrame:
    text = line.rstrip(b"\r\n").decode("utf-8", errors="backslashreplace")
    if not text.strip():
        return pl.DataFrame()
    return pl.DataFrame({
        RAW: [text], "_line": [line_no], "_byte": [offset], ERR: ["unreadable"],
        ERR_DETAIL: [f"the line could not be read: {error_text(exc)}"], EXTRA: [""],
    }, schema={RAW: pl.String, "_line": pl.Int64, "_byte": pl.Int64, ERR: pl.String, ERR_DETAIL: pl.String,
               EXTRA: pl.String})


#: A blank right before a colon (a key written ``"tags" :``).
_BLANK_COLON = r"[ \t\r\f\v]:"
#: Lines sampled (spread over a chunk) for the fields it names (:func:`_sampled_schema`).
SCHEMA_SAMPLE_LINES = 4000


def _sampled_schema(lines: pl.Series, full: dict) -> dict:
    """The fields of ``full`` named in a sample of the chunk's lines (a typed decode costs per field of
    the schema, and most records name a dozen of the forty fields).

    Any line that names another field is caught after the decode — its keys outnumber its decoded
    fields — and then the chunk is decoded again with every field (:func:`_names_fields`). A chunk with
    a key written before a blank and a colon (``"tags" :``), which that count cannot see, is decoded with
    every field from the start.
    """
    if lines.str.contains(_BLANK_COLON).any():  # one vectorised scan (a blank cannot span lines)
        return full
    sample = lines.gather_every(max(1, len(lines) // SCHEMA_SAMPLE_LINES))
    # Each field's key as written (``"kind":``), all found in one multi-pattern scan of the sample.
    keys = {f'"{name}":': name for name in full}
    named = {keys[k] for k in sample.str.extract_many(list(keys)).explode().drop_nulls().unique().to_list()}
    subset = {name: dtype for name, dtype in full.items() if name in named}
    return subset if subset else full


def _names_fields(lines: pl.Series, fields: set[str]) -> bool:
    """True when any of ``lines`` (JSON objects) has a top-level key among ``fields`` (or cannot be told)."""
    try:
        decoded = lines.str.json_decode(infer_schema_length=None)
    except POLARS_ERRORS:
        return True
    if not isinstance(decoded.dtype, pl.Struct):
        return True
    return any(f.name in fields for f in decoded.dtype.fields)


def _decode_jsonl(data: bytes, *, first_line: int = 1, base_offset: int = 0,
                  allow_pii_carrier: bool = False, every_field: bool = False) -> pl.DataFrame:
    if base_offset == 0 and data.startswith(_BOM):
        data = b"   " + data[len(_BOM):]  # a byte-order mark at the start of a file: blanks keep the offsets
    lines, starts, bad_utf8 = split_lines(data)
    n = len(lines)
    if n == 0:
        return pl.DataFrame()
    special: dict[int, tuple[str, str, str]] = {
        i: ("bad_encoding", "the line is not valid UTF-8 (undecodable bytes shown as \\xNN)", text)
        for i, text in bad_utf8.items()}
    for i, (reason, detail) in _special_lines(lines).items():
        special.setdefault(i, (reason, detail, lines[i]))
    line_no = pl.Series("_line", np.arange(first_line, first_line + n, dtype=np.int64))
    byte_pos = pl.Series("_byte", starts + base_offset)
    # Blank lines are not records. Only lines that start with a blank (or are empty) can be blank, so
    # the common case costs one cheap test and no copy of the chunk.
    maybe_blank = lines.str.slice(0, 1).is_in(["", " ", "\t", "\r", "\f", "\v"])
    if maybe_blank.any():
        stripped = lines.str.strip_chars(_BLANKS)
        keep = (stripped != "").to_numpy().copy()
    else:
        stripped = lines
        keep = np.ones(n, dtype=bool)
    if special:
        idx = sorted(special)
        keep[idx] = True
        # Placeholders the decoder reads as empty records; _scatter_special puts the reason on them.
        stripped = stripped.scatter(idx, ["{}"] * len(idx))
        lines = lines.scatter(idx, ["{}"] * len(idx))
    fast = keep.all() and not special and b"\r" not in data
    if not keep.all():
        kept = np.flatnonzero(keep)
        mask = pl.Series(keep)
        lines, line_no, byte_pos, stripped = lines.filter(mask), line_no.filter(mask), byte_pos.filter(mask), stripped.filter(mask)
        new_index = {int(old): new for new, old in enumerate(kept)}
        special = {new_index[i]: value for i, value in special.items()}
    full = READ_SCHEMA_WITH_PII_CARRIER if allow_pii_carrier else READ_SCHEMA
    schema = full if every_field else _sampled_schema(stripped, full)
    parts, failed = _decode_range(stripped, schema, whole=data if fast else None)
    failed_idx = {i for i, _ in failed}
    if failed:
        good_mask = np.ones(len(stripped), dtype=bool)
        good_mask[list(failed_idx)] = False
    frames = [f for _, f in parts]
    decoded = pl.concat(frames, how="vertical") if frames else pl.DataFrame(schema=schema)
    if not allow_pii_carrier:
        decoded = decoded.with_columns(pl.lit(None, dtype=READ_SCHEMA_WITH_PII_CARRIER[PII_CARRIER]).alias(PII_CARRIER))
    good_lines = stripped.filter(pl.Series(good_mask)) if failed else stripped
    # Unknown keys: a line whose count of `":` differs from its known non-null keys may carry some.
    counted = [pl.col(c).is_not_null().cast(pl.Int32) for c in KNOWN_FIELDS if c not in PII_OBJECTS and c in schema]
    for obj, subfields in PII_OBJECTS.items():
        if obj in schema:
            counted.append(pl.col(obj).is_not_null().cast(pl.Int32))
            counted += [pl.col(obj).struct.field(s).is_not_null().cast(pl.Int32) for s in subfields]
    counted.append(pl.col(PII_CARRIER).is_not_null().cast(pl.Int32) * 3)
    expected = decoded.select(pl.sum_horizontal(counted)).to_series()
    # Keys written with an explicit null carry nothing: they are neither known nor kept.
    keys_seen = (good_lines.str.count_matches('":', literal=True) - good_lines.str.count_matches('":null', literal=True))
    suspects = keys_seen.cast(pl.Int32) != expected
    extra = pl.Series(EXTRA, [""] * len(good_lines), dtype=pl.String)
    if suspects.any():
        idx = np.flatnonzero(suspects.to_numpy())
        if len(schema) < len(full) and _names_fields(good_lines.gather(idx), set(full) - set(schema)):
            # The sample missed a field some lines name: decode the chunk again with every field.
            return _decode_jsonl(data, first_line=first_line, base_offset=base_offset,
                                 allow_pii_carrier=allow_pii_carrier, every_field=True)
        found = _extra_from_objects(good_lines.gather(idx), allow_pii_carrier)
        extra = extra.scatter(idx, found)
    good = decoded.with_columns(
        extra, pl.lit(None, dtype=pl.String).alias(ERR), pl.lit(None, dtype=pl.String).alias(ERR_DETAIL)
    )
    # JSON has types: a number, boolean, list or object where INTERCHANGE says string is a wrong type
    # (the typed decode above read it as text). One scan; the field is named only for the lines hit.
    typed_wrong = good_lines.str.contains(_NOT_A_STRING)
    if typed_wrong.any():
        idx = np.flatnonzero(typed_wrong.to_numpy())
        field = good_lines.gather(idx).str.extract(_NOT_A_STRING, 1)
        good = good.with_columns(
            good[ERR].scatter(idx, ("wrong_type:" + field).to_list()),
            good[ERR_DETAIL].scatter(idx, (field + " must be a JSON string").to_list()),
        )
    if failed:
        rows = []
        for i, err in failed:
            reason, detail, ids = _classify_bad_line(stripped[i], err)
            rows.append({**{k: ids.get(k) for k in ("kind", "event_id", "rating_id", "followup_id")},
                         ERR: reason, ERR_DETAIL: detail})
        bad = pl.DataFrame(rows, schema={"kind": pl.String, "event_id": pl.String, "rating_id": pl.String,
                                         "followup_id": pl.String, ERR: pl.String, ERR_DETAIL: pl.String})
        bad = bad.with_columns(pl.lit("").alias(EXTRA))
        order = np.concatenate([np.flatnonzero(good_mask), np.array(sorted(failed_idx), dtype=np.int64)])
        frame = pl.concat([good, bad], how="diagonal_relaxed")
        frame = frame.with_columns(
            pl.concat([lines.filter(pl.Series(good_mask)), lines.gather(sorted(failed_idx))]).alias(RAW),
            pl.concat([line_no.filter(pl.Series(good_mask)), line_no.gather(sorted(failed_idx))]),
            pl.concat([byte_pos.filter(pl.Series(good_mask)), byte_pos.gather(sorted(failed_idx))]),
        )
        frame = frame.with_columns(pl.Series("_order", order)).sort("_order").drop("_order")
    else:
        frame = good.with_columns(lines.alias(RAW), line_no, byte_pos)
    if special:
        frame = _scatter_special(frame, special)
    return frame


def _scatter_special(frame: pl.DataFrame, special: dict[int, tuple[str, str, str]]) -> pl.DataFrame:
    idx = sorted(special)
    raw = frame[RAW].scatter(idx, [special[i][2] for i in idx])
    err = frame[ERR].scatter(idx, [special[i][0] for i in idx])
    detail = frame[ERR_DETAIL].scatter(idx, [special[i][1] for i in idx])
    return frame.with_columns(raw, err, detail)


def iter_line_chunks(stream: BinaryIO, chunk_bytes: int = DEFAULT_CHUNK_BYTES,
                     max_line: int = MAX_LINE_BYTES) -> Iterator[tuple[bytes, int, int]]:
    """Yield (complete lines, first line number, byte offset) from a binary stream.

    A line longer than ``max_line`` bytes is kept only up to ``max_line + 1`` bytes (the rest is read
    and dropped), so one endless line cannot fill the memory; the decoder then finds it too long.
    Offsets count every byte of the stream, dropped ones included.
    """
    line_no, offset, pending = 1, 0, b""
    dropped = 0  # bytes dropped from the overlong line at the end of ``pending``
    skipping = False
    while True:
        block = stream.read(chunk_bytes)
        if not block:
            if pending:
                yield pending, line_no, offset
            return
        if skipping:
            newline = block.find(b"\n")
            if newline < 0:
                dropped += len(block)
                continue
            dropped += newline
            block = block[newline:]
            skipping = False
        # ``pending`` holds no line end, so the last one is the block's: the chunk is built with one copy
        # of the block (the pending start of a line, then the block up to its last line end).
        cut = block.rfind(b"\n")
        if cut < 0:
            complete, pending = b"", pending + block
        else:
            complete, pending = pending + memoryview(block)[: cut + 1], block[cut + 1:]
        if complete:
            yield complete, line_no, offset
            line_no += complete.count(b"\n")
            offset += len(complete) + dropped
            dropped = 0
        if len(pending) > max_line + 1:
            dropped += len(pending) - (max_line + 1)
            pending = pending[: max_line + 1]
            skipping = True


class _Prefixed:
    """A stream whose first bytes were already read (for detection) and are served again first."""

    def __init__(self, head: bytes, stream: BinaryIO):
        self.head, self.stream = head, stream

    def read(self, size: int = -1) -> bytes:
        if self.head:
            if size is None or size < 0:
                out, self.head = self.head + self.stream.read(), b""
                return out
            out, self.head = self.head[:size], self.head[size:]
            return out
        return self.stream.read(size)


def read_jsonl(stream: BinaryIO, chunk_bytes: int = DEFAULT_CHUNK_BYTES, encoding: str = "auto") -> Iterator[Chunk]:
    """JSON Lines in UTF-8 (BOM or not), GB18030/GBK or UTF-16: ``encoding`` or detected
    (:func:`ingest.encoding.detect`); other encodings are transcoded to UTF-8 as they are read."""
    encoding = normalise(encoding)
    if encoding == "auto":
        head = stream.read(SAMPLE_BYTES)
        encoding = detect(head)
        stream = _Prefixed(head, stream)
    source: BinaryIO = stream
    if encoding not in ("utf-8", "utf-8-sig"):
        source = TranscodingReader(stream, encoding)
    consumed = 0
    for data, first_line, offset in iter_line_chunks(source, chunk_bytes):
        frame = decode_jsonl(data, first_line=first_line, base_offset=offset)
        if isinstance(source, TranscodingReader):
            read, consumed = source.consumed - consumed, source.consumed
        else:
            read = len(data)
        yield Chunk(frame, bytes_read=read, encoding=encoding)


# Tabular formats -------------------------------------------------------------------------------


def _tabular_frame(frame: pl.DataFrame, first_row: int) -> pl.DataFrame:
    """Known columns as they are, unknown ones folded into ``_extra``; bookkeeping columns added
    (``_line`` numbered from ``first_row`` unless the reader gave it)."""
    frame = frame.rename({c: c.strip() for c in frame.columns if c != c.strip()})
    unknown = [c for c in frame.columns if c not in KNOWN_FIELDS and c != PII_CARRIER and not c.startswith("_")]
    known = [c for c in frame.columns if c in KNOWN_FIELDS]
    cast_unknown = [pl.col(c).cast(pl.String) if frame.schema[c] == pl.Null else pl.col(c) for c in unknown]
    given_line = "_line" in frame.columns
    out = frame.with_columns(cast_unknown).select(
        *[pl.col(c) for c in known],
        extra_json_expr(unknown).alias(EXTRA),
        *([pl.col("_line").cast(pl.Int64)] if given_line else []),
    )
    return out.with_columns(
        *([] if given_line else [pl.int_range(first_row, first_row + out.height, dtype=pl.Int64).alias("_line")]),
        pl.lit(None, dtype=pl.String).alias(RAW),
        pl.lit(None, dtype=pl.String).alias(ERR),
        pl.lit(None, dtype=pl.String).alias(ERR_DETAIL),
    )


def _read_csv_utf8(source) -> pl.DataFrame:
    return pl.read_csv(source, infer_schema=False, empty_string_is_null=True, truncate_ragged_lines=True,
                       encoding="utf8")


def read_csv(path: str | BinaryIO, batch_rows: int = DEFAULT_BATCH_ROWS, encoding: str = "auto") -> Iterator[Chunk]:
    """CSV in UTF-8 (BOM or not), GB18030/GBK or UTF-16: ``encoding``, else detected
    (:func:`ingest.encoding.detect`). UTF-8 is read straight from the file; anything else is decoded
    to UTF-8 first, undecodable bytes as U+FFFD — those rows are quarantined ``bad_encoding``."""
    encoding = normalise(encoding)
    frame = None
    try:
        if encoding in ("auto", "utf-8", "utf-8-sig"):
            try:
                frame = _read_csv_utf8(path)
                encoding = "utf-8"
            except pl.exceptions.ComputeError as exc:
                if "utf-8" not in str(exc).lower() and "utf8" not in str(exc).lower():
                    raise
            if hasattr(path, "seek"):
                path.seek(0)
        if frame is None:
            data = path.read() if hasattr(path, "read") else Path(path).read_bytes()
            if encoding == "auto":
                encoding = detect(data[:SAMPLE_BYTES])
            frame = _read_csv_utf8(io.BytesIO(to_utf8(data, encoding)))
    except POLARS_ERRORS as exc:
        raise ReadError(f"cannot read CSV: {error_text(exc)}") from None
    size = os.path.getsize(path) if isinstance(path, (str, Path)) else 0
    for chunk in _batches(frame, batch_rows, size):
        chunk.encoding = encoding
        yield chunk


def _batches(frame: pl.DataFrame, batch_rows: int, size: int) -> Iterator[Chunk]:
    total = max(frame.height, 1)
    for start in range(0, frame.height, batch_rows):
        piece = frame.slice(start, batch_rows)
        yield Chunk(_tabular_frame(piece, start + 1), bytes_read=int(size * piece.height / total))


def read_parquet(path: str | BinaryIO, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[Chunk]:
    """Parquet keeps its types; read with Polars' multi-threaded reader, a batch of rows at a time."""
    try:
        scan = pl.scan_parquet(path) if isinstance(path, (str, Path)) else pl.read_parquet(path).lazy()
        total = scan.select(pl.len()).collect().item()
    except POLARS_ERRORS as exc:
        raise ReadError(f"cannot read Parquet: {error_text(exc)}") from None
    size = os.path.getsize(path) if isinstance(path, (str, Path)) else 0
    for start in range(0, total, batch_rows):
        try:
            frame = scan.slice(start, batch_rows).collect()
        except POLARS_ERRORS as exc:
            raise ReadError(f"cannot read Parquet rows {start + 1}-{start + batch_rows}: {error_text(exc)}") from None
        yield Chunk(_tabular_frame(frame, start + 1), bytes_read=int(size * frame.height / max(total, 1)))


def _cell_text(value) -> str | None:
    """An Excel cell as the text a person typed (integral numbers without ``.0``)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return str(value)
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    text = str(value)
    return text if text.strip() else None


def merged_ranges(book, sheet) -> list[tuple[int, int, int, int]]:
    """The merged-cell ranges of a read-only sheet as ``(min_col, min_row, max_col, max_row)`` (1-based).

    A read-only sheet does not load them (openpyxl's ``merged_cells`` needs the whole sheet in memory),
    so the sheet's XML is streamed once for its ``<mergeCell ref="A2:A5"/>`` elements, and each ref is
    read with openpyxl's ``CellRange``.
    """
    from openpyxl.worksheet.cell_range import CellRange  # lazy: openpyxl loads only for Excel input

    path, archive = getattr(sheet, "_worksheet_path", None), getattr(book, "_archive", None)
    if not path or archive is None:
        return []
    ranges = []
    with archive.open(path) as fh:
        for _event, element in iterparse(fh, events=("end",)):
            tag = element.tag.rsplit("}", 1)[-1]
            if tag == "mergeCell" and element.get("ref"):
                try:
                    ranges.append(CellRange(element.get("ref")).bounds)
                except (ValueError, TypeError):
                    pass
            if tag in ("row", "mergeCell", "c"):
                element.clear()
    return ranges


def _fill_merged(rows: list[list], ranges, first_row: int) -> None:
    """Every cell of a merged range takes the value of the cell that holds it (its top-left), in place.

    ``rows[k]`` is sheet row ``first_row + k``; ranges that start in the header row are left alone.
    """
    for min_col, min_row, max_col, max_row in ranges:
        if min_row < first_row:
            continue
        top = min_row - first_row
        if top < 0 or top >= len(rows):
            continue
        row = rows[top]
        value = row[min_col - 1] if min_col - 1 < len(row) else None
        if value is None:
            continue
        for k in range(top, min(max_row - first_row + 1, len(rows))):
            target = rows[k]
            if len(target) < max_col:
                target.extend([None] * (max_col - len(target)))
            for c in range(min_col - 1, max_col):
                if target[c] is None:
                    target[c] = value


def read_xlsx(path: str | BinaryIO, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[Chunk]:
    """Every sheet; a sheet without a ``kind`` column but named after a kind holds that kind.

    Merged cells are filled from the cell that holds the value (:func:`merged_ranges`), so the rows
    under a merged ``dept_code`` cell carry it. ``_line`` is the sheet row minus one (the position is
    ``sheet!row``).
    """
    from openpyxl import load_workbook  # lazy: openpyxl loads only for Excel input

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise ReadError(f"cannot read Excel workbook: {error_text(exc)}") from None
    size = os.path.getsize(path) if isinstance(path, (str, Path)) else 0
    try:
        sheets = list(book.worksheets)
        for sheet in sheets:
            try:
                ranges = merged_ranges(book, sheet)
                rows = sheet.iter_rows(values_only=True)
                header = next(rows, None)
                header_row = sheet.min_row or 1
                if not header:
                    continue
                names = [str(h).strip() if h is not None else f"_col{i}" for i, h in enumerate(header)]
                values = [list(r) for r in rows]
            except Exception as exc:
                raise ReadError(f"cannot read sheet {sheet.title!r}: {error_text(exc)}") from None
            _fill_merged(values, ranges, header_row + 1)
            columns: dict[str, list] = {n: [] for n in names}
            lines: list[int] = []
            for k, row in enumerate(values):
                if row is None or all(v is None for v in row):
                    continue
                lines.append(header_row + k)  # the sheet row minus one
                for name, value in zip(names, row + [None] * (len(names) - len(row))):
                    columns[name].append(_cell_text(value))
            frame = pl.DataFrame({k: pl.Series(k, v, dtype=pl.String) for k, v in columns.items()
                                  if not k.startswith("_col")})
            frame = frame.with_columns(pl.Series("_line", lines, dtype=pl.Int64))
            if "kind" not in frame.columns and sheet.title in RECORD_KINDS:
                frame = frame.with_columns(pl.lit(sheet.title).alias("kind"))
            for chunk in _batches(frame, batch_rows, size // max(len(sheets), 1)):
                chunk.frame = chunk.frame.with_columns(pl.lit(sheet.title).alias("_sheet"))
                yield chunk
    finally:
        book.close()


def read_source(path: str, fmt: str, *, batch_rows: int = DEFAULT_BATCH_ROWS,
                chunk_bytes: int = DEFAULT_CHUNK_BYTES, stream: BinaryIO | None = None,
                encoding: str = "auto") -> Iterator[Chunk]:
    """Chunks of one source (``stream`` is used instead of opening ``path``, e.g. for stdin).
    ``encoding`` applies to the text formats (JSON Lines, CSV)."""
    if fmt == "jsonl":
        if stream is not None:
            yield from read_jsonl(stream, chunk_bytes, encoding)
            return
        with open(path, "rb") as fh:
            yield from read_jsonl(fh, chunk_bytes, encoding)
        return
    source: str | BinaryIO = path
    if stream is not None:
        source = io.BytesIO(stream.read())
    if fmt == "csv":
        yield from read_csv(source, batch_rows, encoding)
    elif fmt == "parquet":
        yield from read_parquet(source, batch_rows)
    elif fmt == "xlsx":
        yield from read_xlsx(source, batch_rows)
    else:
        raise ReadError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
