"""Writing interchange files: JSON Lines or Parquet, one file per record stream and chunk.

* JSON Lines: Polars ``write_ndjson`` (UTF-8, one object per line, absent optional fields as ``null``),
  with malformed lines spliced in at random line boundaries, late records spliced in where they
  arrive (given positions) and re-sent records appended at the end of the file (they arrive later).
* Parquet: the same columns (``applicant``/``rater`` as structs, ``tags`` as a list), zstd compressed;
  malformed rows are placed at random positions, late rows at theirs, re-sent rows at the end.

Every file's name, kind, row count, size and SHA-256 go into the manifest.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from hcp.settings import private_dir

FORMATS = ("jsonl", "parquet")
STREAM_FILES = ("case_events", "ratings", "followups")
CATALOGUE_FILES = ("regions", "departments", "items")


@dataclass(frozen=True)
class WrittenFile:
    name: str
    kind: str
    rows: int
    bytes: int
    sha256: str

    def as_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "rows": self.rows, "bytes": self.bytes, "sha256": self.sha256}


def clear_previous_output(out: Path) -> None:
    """Remove files an earlier demo run left in ``out`` (only names this generator writes)."""
    if not out.exists():
        return
    patterns = [f"{s}-*.{f}" for s in STREAM_FILES for f in FORMATS]
    patterns += [f"{c}.{f}" for c in CATALOGUE_FILES for f in FORMATS] + ["manifest.json"]
    for pattern in patterns:
        for path in out.glob(pattern):
            path.unlink()


def _ndjson(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_ndjson(buffer)
    return buffer.getvalue()


def _json_line(record: dict | str) -> bytes:
    if isinstance(record, str):
        return record.encode() + b"\n"
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


class Writer:
    """Writes the files of one run into ``out``."""

    def __init__(self, out: Path, fmt: str):
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}")
        self.out, self.fmt = out, fmt
        private_dir(out)  # the input files carry names, ID numbers and phones in clear
        self.files: list[WrittenFile] = []

    def name(self, stem: str, chunk: int | None = None) -> str:
        return f"{stem}-{chunk:05d}.{self.fmt}" if chunk is not None else f"{stem}.{self.fmt}"

    def write(
        self,
        name: str,
        kind: str,
        frame: pl.DataFrame,
        malformed: list[dict | str],
        appended: pl.DataFrame | None,
        rng: np.random.Generator,
        inserted: tuple[pl.DataFrame, np.ndarray] | None = None,
    ) -> WrittenFile:
        """Write ``frame`` with ``malformed`` records at random positions, the rows of ``inserted`` each
        just before the row of ``frame`` its position names (``frame.height``: after the last; positions
        non-decreasing), and ``appended`` at the end."""
        path = self.out / name
        if inserted is not None and not inserted[0].height:
            inserted = None
        if self.fmt == "jsonl":
            data = self._jsonl(frame, malformed, appended, rng, inserted)
            path.write_bytes(data)
            rows = data.count(b"\n")
        else:
            full = self._parquet_frame(frame, malformed, appended, rng, inserted)
            full.write_parquet(path, compression="zstd", statistics=True)
            data = path.read_bytes()
            rows = full.height
        os.chmod(path, 0o600)
        info = WrittenFile(name, kind, rows, len(data), hashlib.sha256(data).hexdigest())
        self.files.append(info)
        return info

    @staticmethod
    def _jsonl(frame, malformed, appended, rng, inserted=None) -> bytes:
        body = _ndjson(frame) if frame.height else b""
        splices: list[tuple[int, int, int, bytes]] = []  # (before row, malformed 0 / inserted 1, order, line)
        if malformed:
            where = np.sort(rng.integers(0, frame.height + 1, len(malformed)))
            splices += [(int(pos), 0, i, _json_line(r)) for i, (pos, r) in enumerate(zip(where, malformed))]
        if inserted is not None:
            lines = _ndjson(inserted[0]).splitlines(keepends=True)
            splices += [(int(pos), 1, i, line) for i, (pos, line) in enumerate(zip(inserted[1], lines))]
        if splices:
            ends = np.flatnonzero(np.frombuffer(body, dtype=np.uint8) == 10) + 1  # byte offset after each line
            starts = np.concatenate([[0], ends])  # inserting before line i = at starts[i]
            pieces, prev = [], 0
            for pos, _, _, line in sorted(splices, key=lambda s: s[:3]):
                cut = int(starts[pos])
                pieces += [body[prev:cut], line]
                prev = cut
            pieces.append(body[prev:])
            body = b"".join(pieces)
        if appended is not None and appended.height:
            body += _ndjson(appended)
        return body

    @staticmethod
    def _parquet_frame(frame, malformed, appended, rng, inserted=None) -> pl.DataFrame:
        parts = [frame]
        if malformed or inserted is not None:
            # Valid row i sorts at 2i+1; a malformed or inserted row placed before row p sorts at 2p.
            rows, keys = [frame], [np.arange(frame.height) * 2 + 1]
            if malformed:
                rows.append(pl.DataFrame(malformed, schema=frame.schema))
                keys.append(rng.integers(0, frame.height + 1, len(malformed)) * 2)
            if inserted is not None:
                rows.append(inserted[0].select(frame.columns))
                keys.append(np.asarray(inserted[1], dtype=np.int64) * 2)
            key = np.concatenate(keys)
            parts = [pl.concat(rows).with_columns(_k=pl.Series(key)).sort("_k", maintain_order=True).drop("_k")]
        if appended is not None and appended.height:
            parts.append(appended)
        return pl.concat(parts) if len(parts) > 1 else parts[0]

    def manifest(self, content: dict) -> Path:
        path = self.out / "manifest.json"
        path.write_text(json.dumps(content, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        return path
