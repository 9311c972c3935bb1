"""``hcp ingest --follow``: tail a growing JSON Lines file, surviving rotation, committing micro-batches.

* Complete lines are gathered into a batch that is committed when it reaches ``batch_rows`` lines or has
  waited ``batch_seconds``; a line still being written (no newline yet) waits for the next read.
* After a batch is in the warehouse — and only then — the stream's checkpoint (``ingest_checkpoints``:
  the file's ``device:inode`` and the byte offset after the batch) is written. A crash between the two
  re-reads that batch on restart; the ledger makes the resend a no-op and quarantine ids are
  deterministic (positions are ``<device:inode>@<byte offset>``), so nothing is lost or doubled.
* Rotation: when the path names another file (rename + create, as logrotate does), the old file is
  read to its end first, then the new one from its start. A truncated file (copytruncate) is read again
  from its start. On restart, a checkpoint that names a rotated-away file is honoured if that file is
  still beside the path (e.g. ``events.jsonl.1``): its tail is read before the current file.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


from ingest.loader import Loader, Summary
from ingest.readers import decode_jsonl
from ingest.run import source_name, with_positions
from warehouse.queries.state import checkpoint_of, insert_checkpoint


@dataclass
class Checkpoint:
    file_id: str
    position: int


def file_id_of(st: os.stat_result) -> str:
    return f"{st.st_dev}:{st.st_ino}"


def load_checkpoint(wh, stream: str) -> Checkpoint | None:
    found = checkpoint_of(wh, stream)
    return Checkpoint(*found) if found else None


def save_checkpoint(wh, stream: str, cp: Checkpoint) -> None:
    insert_checkpoint(wh, stream, cp.file_id, cp.position)


def _find_by_id(path: Path, file_id: str) -> Path | None:
    """A file beside ``path`` (a rotated copy) whose device:inode is ``file_id``."""
    try:
        siblings = list(path.parent.iterdir())
    except OSError:
        return None
    for candidate in siblings:
        try:
            if candidate.is_file() and file_id_of(candidate.stat()) == file_id:
                return candidate
        except OSError:
            continue
    return None


class Follower:
    """Follows one path until :meth:`stop` (or a signal handler calling it)."""

    def __init__(self, loader: Loader, path: str, *, stream: str | None = None, batch_rows: int = 50_000,
                 batch_seconds: float = 1.0, poll_seconds: float = 0.2, read_bytes: int = 8 << 20,
                 on_commit: Callable[[dict], None] | None = None):
        self.loader = loader
        self.wh = loader.wh
        self.path = Path(path).absolute()
        self.source = source_name(str(self.path))
        self.stream = stream or f"follow:{self.path}"
        self.batch_rows = batch_rows
        self.batch_seconds = batch_seconds
        self.poll_seconds = poll_seconds
        self.read_bytes = read_bytes
        self.on_commit = on_commit
        self.total = Summary()
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    # --- one open file ----------------------------------------------------------------------------
    def _commit(self, file_id: str, data: bytes, start: int, end: int) -> None:
        """Commit complete lines ``data`` (bytes ``start``..``end`` of the file), then checkpoint."""
        if data:
            frame = decode_jsonl(data, base_offset=start)
            summary = self.loader.load(with_positions(frame, "byte", file_id), self.source)
            self.total.merge(summary)
        else:
            summary = Summary()
        save_checkpoint(self.wh, self.stream, Checkpoint(file_id, end))
        if self.on_commit is not None:
            self.on_commit({"event": "commit", "file_id": file_id, "offset": end, **summary.as_dict()})

    def _follow_file(self, fh, file_id: str, offset: int, *, drain_only: bool = False) -> str:
        """Read ``fh`` from ``offset``; return why it stopped: ``stop``, ``rotated`` or ``drained``."""
        fh.seek(offset)
        pending = b""  # bytes after the last newline
        batch: list[bytes] = []
        batch_lines = 0
        batch_start = offset
        batch_end = offset
        first_at: float | None = None
        position = offset  # bytes of the file consumed into pending/batch

        def flush(final_partial: bool = False):
            nonlocal batch, batch_lines, batch_start, first_at, pending
            data = b"".join(batch)
            end = batch_end
            if final_partial and pending:
                data += pending + b"\n"
                end += len(pending)
                pending = b""
            if data or end != batch_start:
                self._commit(file_id, data, batch_start, end)
            batch, batch_lines, batch_start, first_at = [], 0, end, None

        while True:
            block = fh.read(self.read_bytes)
            if block:
                position += len(block)
                data = pending + block
                cut = data.rfind(b"\n")
                if cut >= 0:
                    complete, pending = data[: cut + 1], data[cut + 1:]
                    batch.append(complete)
                    batch_lines += complete.count(b"\n")
                    batch_end = position - len(pending)
                    if first_at is None:
                        first_at = time.monotonic()
                else:
                    pending = data
                if batch_lines >= self.batch_rows:
                    flush()
                if not self._stop.is_set():
                    continue
            # Nothing new (or stopping).
            if batch and (self._stop.is_set() or drain_only or first_at is None
                          or time.monotonic() - first_at >= self.batch_seconds):
                flush()
            if drain_only:
                flush(final_partial=True)
                return "drained"
            if self._stop.is_set():
                flush()
                return "stop"
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                st = None
            if st is None or file_id_of(st) != file_id:
                # Rotated (or removed): finish this file — the writer has moved on — then switch.
                rest = fh.read()
                while rest:
                    pending += rest
                    rest = fh.read()
                cut = pending.rfind(b"\n")
                if cut >= 0:
                    batch.append(pending[: cut + 1])
                    batch_end += cut + 1
                    pending = pending[cut + 1:]
                flush(final_partial=True)
                return "rotated"
            if st.st_size < position:  # truncated in place: read it again from the start
                flush()
                fh.seek(0)
                pending, position, batch_start, batch_end = b"", 0, 0, 0
                continue
            self._stop.wait(self.poll_seconds if not batch else min(self.poll_seconds, self.batch_seconds))

    # --- the stream ---------------------------------------------------------------------------------
    def run(self) -> Summary:
        started = time.perf_counter()
        cp = load_checkpoint(self.wh, self.stream)
        while not self._stop.is_set():
            try:
                fh = open(self.path, "rb")
            except FileNotFoundError:
                self._stop.wait(self.poll_seconds)
                continue
            with fh:
                file_id = file_id_of(os.fstat(fh.fileno()))
                size = os.fstat(fh.fileno()).st_size
                offset = 0
                if cp is not None and cp.file_id == file_id:
                    offset = cp.position if cp.position <= size else 0
                elif cp is not None:
                    old = _find_by_id(self.path, cp.file_id)
                    if old is not None:
                        with open(old, "rb") as oldfh:
                            self._follow_file(oldfh, cp.file_id, cp.position, drain_only=True)
                cp = None
                outcome = self._follow_file(fh, file_id, offset)
            if outcome == "stop":
                break
        self.total.seconds = time.perf_counter() - started
        return self.total
