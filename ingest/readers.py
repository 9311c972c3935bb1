"""Readers: interchange files and streams → Polars frames of record fields plus bookkeeping columns.

Every reader yields :class:`Chunk` frames with the same shape, whatever the format:

* the record fields that are present, typed as read (JSON Lines and CSV give text; Parquet keeps its
  own types; ``tags`` is a list or JSON text; ``applicant``/``rater`` are structs or JSON text);
* ``_line`` — the record's 1-based line (JSON Lines) or row (CSV, Excel, Parquet) in the source, and for
  JSON Lines ``_byte``, the byte offset where the line starts;
* ``_raw`` — the line as received (JSON Lines only; for tabular formats the quarantine builds a JSON
  object of the row's cells when it needs one);
* ``_err``/``_err_detail`` — set when the record could not be read at all (``not_json``,
  ``wrong_type:<field>``);
* ``_extra`` — unknown top-level fields of the record as a JSON object ("" when there are none).

JSON Lines are decoded in one typed, multi-threaded pass (``pl.read_ndjson`` with a fixed schema); a
chunk that fails as a whole is bisected until the bad lines are isolated, and only those lines are
looked at one by one. So one bad line never kills the batch, and good input never pays for bad input.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np
import polars as pl
import pyarrow as pa

from hcp.domain import RECORD_KINDS
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
    TEXT_FIELDS,
    READ_SCHEMA_WITH_PII_CARRIER,
)

FORMATS = ("jsonl", "csv", "parquet", "xlsx")
_EXTENSIONS = {
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv",
    ".parquet": "parquet", ".pq": "parquet", ".xlsx": "xlsx",
}
DEFAULT_CHUNK_BYTES = 64 << 20
DEFAULT_BATCH_ROWS = 250_000


class ReadError(ValueError):
    """A whole source cannot be read (unknown format, unreadable file); records are never this."""


@dataclass
class Chunk:
    frame: pl.DataFrame
    bytes_read: int = 0  # bytes of the source consumed by this chunk (for progress bars)


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
    """Indices of lines that are not valid UTF-8 (usually none: one C-speed decode of the chunk)."""
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
    UTF-8 their text decoded with replacement characters (those lines read as blank placeholders).
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
            bad_text[i] = data[s:e].decode("utf-8", errors="replace").rstrip("\r")
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
        except Exception as exc:  # polars raises several types for bad JSON
            if length == 1:
                failed.append((start, str(exc).splitlines()[0][:200]))
            else:
                half = length // 2
                stack.append((start + half, length - half))
                stack.append((start, half))
    parts.sort(key=lambda p: p[0])
    return parts, failed


def _classify_bad_line(line: str, polars_error: str) -> tuple[str, str, dict]:
    """Why one line could not be decoded: ``not_json`` or ``wrong_type:<field>`` (the rare path)."""
    try:
        obj = json.loads(line)
    except ValueError as exc:
        return "not_json", f"not valid JSON: {exc.msg} at character {exc.pos}", {}
    if not isinstance(obj, dict):
        return "not_json", f"a line must hold a JSON object, found {type(obj).__name__}", {}
    ids = {k: str(v) for k, v in obj.items() if k in KNOWN_FIELDS and isinstance(v, (str, int, float))}
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
    except Exception:
        out = []
        for line in lines.to_list():
            try:
                obj = json.loads(line)
                extra = {k: v for k, v in obj.items() if k not in ignored and v is not None}
            except (ValueError, AttributeError):
                extra = {}
            out.append(json.dumps(extra, ensure_ascii=False, sort_keys=True) if extra else "")
        return pl.Series(EXTRA, out, dtype=pl.String)


def extra_json_expr(columns: list[str]) -> pl.Expr:
    """A JSON object of the non-null ``columns`` of each row ("" when all are null)."""
    if not columns:
        return pl.lit("", dtype=pl.String)
    pieces = []
    for name in sorted(columns):
        encoded = pl.struct(pl.col(name)).struct.json_encode()
        # {"name":value} → "name":value
        pieces.append(pl.when(pl.col(name).is_not_null()).then(encoded.str.slice(1, encoded.str.len_chars() - 2)))
    body = pl.concat_str(pieces, separator=",", ignore_nulls=True)
    return pl.when(body.fill_null("") == "").then(pl.lit("")).otherwise(pl.lit("{") + body + pl.lit("}"))


_NOT_A_STRING = r'"(' + "|".join(TEXT_FIELDS) + r')"\s*:\s*(?:-?\d|true|false|\[|\{)'


def decode_jsonl(data: bytes, *, first_line: int = 1, base_offset: int = 0,
                 allow_pii_carrier: bool = False) -> pl.DataFrame:
    """Decode a chunk of complete JSON lines into a record frame (see the module docstring)."""
    lines, starts, bad_utf8 = split_lines(data)
    n = len(lines)
    if n == 0:
        return pl.DataFrame()
    line_no = pl.Series("_line", np.arange(first_line, first_line + n, dtype=np.int64))
    byte_pos = pl.Series("_byte", starts + base_offset)
    # Blank lines are not records. Only lines that start with a blank (or are empty) can be blank, so
    # the common case costs one cheap test and no copy of the chunk.
    maybe_blank = lines.str.slice(0, 1).is_in(["", " ", "\t", "\r", "\f", "\v"])
    if maybe_blank.any():
        stripped = lines.str.strip_chars()
        keep = (stripped != "").to_numpy().copy()
    else:
        stripped = lines
        keep = np.ones(n, dtype=bool)
    for i in bad_utf8:
        keep[i] = True
    fast = keep.all() and not bad_utf8 and b"\r" not in data
    if not keep.all():
        kept = np.flatnonzero(keep)
        mask = pl.Series(keep)
        lines, line_no, byte_pos, stripped = lines.filter(mask), line_no.filter(mask), byte_pos.filter(mask), stripped.filter(mask)
        new_index = {int(old): new for new, old in enumerate(kept)}
        bad_utf8 = {new_index[i]: text for i, text in bad_utf8.items()}
    schema = READ_SCHEMA_WITH_PII_CARRIER if allow_pii_carrier else READ_SCHEMA
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
    counted = [pl.col(c).is_not_null().cast(pl.Int32) for c in KNOWN_FIELDS if c not in PII_OBJECTS]
    for obj, subfields in PII_OBJECTS.items():
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
    if bad_utf8:
        frame = _scatter_bad_utf8(frame, bad_utf8)
    return frame


def _scatter_bad_utf8(frame: pl.DataFrame, bad_utf8: dict[int, str]) -> pl.DataFrame:
    idx = sorted(bad_utf8)
    raw = frame[RAW].scatter(idx, [bad_utf8[i] for i in idx])
    err = frame[ERR].scatter(idx, ["not_json"] * len(idx))
    detail = frame[ERR_DETAIL].scatter(idx, ["the line is not valid UTF-8"] * len(idx))
    return frame.with_columns(raw, err, detail)


def iter_line_chunks(stream: BinaryIO, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> Iterator[tuple[bytes, int, int]]:
    """Yield (complete lines, first line number, byte offset) from a binary stream."""
    line_no, offset, pending = 1, 0, b""
    while True:
        block = stream.read(chunk_bytes)
        if not block:
            if pending:
                yield pending, line_no, offset
            return
        data = pending + block
        cut = data.rfind(b"\n")
        if cut < 0:
            pending = data
            continue
        complete, pending = data[: cut + 1], data[cut + 1:]
        yield complete, line_no, offset
        line_no += complete.count(b"\n")
        offset += len(complete)


def read_jsonl(stream: BinaryIO, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> Iterator[Chunk]:
    for data, first_line, offset in iter_line_chunks(stream, chunk_bytes):
        frame = decode_jsonl(data, first_line=first_line, base_offset=offset)
        yield Chunk(frame, bytes_read=len(data))


# Tabular formats -------------------------------------------------------------------------------


def _tabular_frame(frame: pl.DataFrame, first_row: int) -> pl.DataFrame:
    """Known columns as they are, unknown ones folded into ``_extra``; bookkeeping columns added."""
    frame = frame.rename({c: c.strip() for c in frame.columns if c != c.strip()})
    unknown = [c for c in frame.columns if c not in KNOWN_FIELDS and c != PII_CARRIER and not c.startswith("_")]
    known = [c for c in frame.columns if c in KNOWN_FIELDS]
    cast_unknown = [pl.col(c).cast(pl.String) if frame.schema[c] == pl.Null else pl.col(c) for c in unknown]
    out = frame.with_columns(cast_unknown).select(
        *[pl.col(c) for c in known],
        extra_json_expr(unknown).alias(EXTRA),
    )
    return out.with_columns(
        pl.int_range(first_row, first_row + out.height, dtype=pl.Int64).alias("_line"),
        pl.lit(None, dtype=pl.String).alias(RAW),
        pl.lit(None, dtype=pl.String).alias(ERR),
        pl.lit(None, dtype=pl.String).alias(ERR_DETAIL),
    )


def read_csv(path: str | BinaryIO, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[Chunk]:
    try:
        frame = pl.read_csv(path, infer_schema=False, empty_string_is_null=True,
                            truncate_ragged_lines=True, encoding="utf8-lossy")
    except Exception as exc:
        raise ReadError(f"cannot read CSV: {str(exc).splitlines()[0]}") from exc
    size = os.path.getsize(path) if isinstance(path, (str, Path)) else 0
    yield from _batches(frame, batch_rows, size)


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
    except Exception as exc:
        raise ReadError(f"cannot read Parquet: {str(exc).splitlines()[0]}") from exc
    size = os.path.getsize(path) if isinstance(path, (str, Path)) else 0
    for start in range(0, total, batch_rows):
        frame = scan.slice(start, batch_rows).collect()
        yield Chunk(_tabular_frame(frame, start + 1), bytes_read=int(size * frame.height / max(total, 1)))


def _cell_text(value) -> str | None:
    """An Excel cell as the text a person typed (integral numbers without ``.0``)."""
    import datetime as dt

    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    text = str(value)
    return text if text.strip() else None


def read_xlsx(path: str | BinaryIO, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[Chunk]:
    """Every sheet; a sheet without a ``kind`` column but named after a kind holds that kind."""
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise ReadError(f"cannot read Excel workbook: {exc}") from exc
    size = os.path.getsize(path) if isinstance(path, (str, Path)) else 0
    try:
        sheets = list(book.worksheets)
        for index, sheet in enumerate(sheets):
            rows = sheet.iter_rows(values_only=True)
            header = next(rows, None)
            if not header:
                continue
            names = [str(h).strip() if h is not None else f"_col{i}" for i, h in enumerate(header)]
            columns: dict[str, list] = {n: [] for n in names}
            for values in rows:
                if values is None or all(v is None for v in values):
                    continue
                for name, value in zip(names, list(values) + [None] * (len(names) - len(values))):
                    columns[name].append(_cell_text(value))
            frame = pl.DataFrame({k: pl.Series(k, v, dtype=pl.String) for k, v in columns.items()
                                  if not k.startswith("_col")})
            if "kind" not in frame.columns and sheet.title in RECORD_KINDS:
                frame = frame.with_columns(pl.lit(sheet.title).alias("kind"))
            for chunk in _batches(frame, batch_rows, size // max(len(sheets), 1)):
                chunk.frame = chunk.frame.with_columns(pl.lit(sheet.title).alias("_sheet"))
                yield chunk
    finally:
        book.close()


def read_source(path: str, fmt: str, *, batch_rows: int = DEFAULT_BATCH_ROWS,
                chunk_bytes: int = DEFAULT_CHUNK_BYTES, stream: BinaryIO | None = None) -> Iterator[Chunk]:
    """Chunks of one source (``stream`` is used instead of opening ``path``, e.g. for stdin)."""
    if fmt == "jsonl":
        if stream is not None:
            yield from read_jsonl(stream, chunk_bytes)
            return
        with open(path, "rb") as fh:
            yield from read_jsonl(fh, chunk_bytes)
        return
    source: str | BinaryIO = path
    if stream is not None:
        source = io.BytesIO(stream.read())
    if fmt == "csv":
        yield from read_csv(source, batch_rows)
    elif fmt == "parquet":
        yield from read_parquet(source, batch_rows)
    elif fmt == "xlsx":
        yield from read_xlsx(source, batch_rows)
    else:
        raise ReadError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
