"""Driving an ingest of files or a stream: readers → loader, with positions and progress."""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
from typing import Callable, Iterator

from concurrent.futures import ThreadPoolExecutor

import polars as pl

from ingest.loader import Loader, Summary
from ingest.readers import DEFAULT_BATCH_ROWS, DEFAULT_CHUNK_BYTES, Chunk, decode_jsonl, detect_format, read_source


#: The largest JSON Lines chunk :func:`ingest_path` decodes at a time (~80,000 records of ~400 bytes). Each
#: chunk costs ~70 ms of CPU whatever its size (decode ~6, prepare ~20, commit ~40: the ledger's statements),
#: so smaller chunks overlap the steps sooner but cost more in all (300k records: 8 MB 4.0, 16 MB 3.45,
#: 32 MB 3.17, 64 MB 3.04 CPU s).
PIPELINE_CHUNK_BYTES = 32 << 20


def with_positions(frame: pl.DataFrame, style: str = "line", prefix: str = "") -> pl.DataFrame:
    """Add ``_pos``: the record's place in its source, as stored in the quarantine.

    ``line`` — the 1-based line (JSON Lines) or row (CSV, Parquet; Excel as ``sheet!row``);
    ``byte`` — ``<prefix>@<byte offset>`` (followed files; the prefix is the file's device:inode);
    ``batch`` — ``<prefix>:<line>`` (HTTP batches; the prefix identifies the batch).
    """
    if frame.height == 0:
        return frame
    if style == "byte":
        pos = pl.lit(prefix + "@") + pl.col("_byte").cast(pl.String)
    elif style == "batch":
        pos = pl.lit(prefix + ":") + pl.col("_line").cast(pl.String)
    elif "_sheet" in frame.columns:
        pos = pl.col("_sheet") + pl.lit("!") + (pl.col("_line") + 1).cast(pl.String)  # +1: the header row
    else:
        pos = pl.col("_line").cast(pl.String)
    return frame.with_columns(pos.alias("_pos"))


def prefetched(chunks: Iterator[Chunk], depth: int = 1) -> Iterator[Chunk]:
    """``chunks`` read and decoded ahead in a thread of their own (at most ``depth`` waiting), so reading
    and decoding the next chunk overlaps validating and committing this one. An exception of the reader
    is raised here, where the chunk would have come."""
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def read() -> None:
        try:
            for chunk in chunks:
                while not stop.is_set():
                    try:
                        handoff.put((chunk, None), timeout=0.5)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            handoff.put((done, None))
        except BaseException as exc:  # handed to the consumer, raised there
            handoff.put((done, exc))

    thread = threading.Thread(target=read, name="hcp-ingest-read", daemon=True)
    thread.start()
    try:
        while True:
            chunk, exc = handoff.get()
            if chunk is done:
                if exc is not None:
                    raise exc
                return
            yield chunk
    finally:
        stop.set()
        thread.join(timeout=5)


def source_name(path: str) -> str:
    return "stdin" if path == "-" else os.path.abspath(path)


def ingest_path(loader: Loader, path: str, *, fmt: str | None = None, batch_rows: int = DEFAULT_BATCH_ROWS,
                chunk_bytes: int = DEFAULT_CHUNK_BYTES, on_chunk: Callable[[Chunk, Summary], None] | None = None,
                source: str | None = None, encoding: str = "auto") -> Summary:
    """Ingest one file (or ``-`` for stdin) batch by batch; returns the merged summary.
    ``encoding`` (JSON Lines, CSV): ``auto`` detects UTF-8, UTF-8 with BOM, GB18030/GBK, UTF-16."""
    fmt = detect_format(path, fmt) if path != "-" else (fmt or "jsonl")
    source = source or source_name(path)
    total = Summary()
    started = time.perf_counter()
    stream = sys.stdin.buffer if path == "-" else None
    if fmt == "jsonl":
        # JSON Lines: decode in chunks of bytes, commit in batches of rows. Chunks of at most
        # PIPELINE_CHUNK_BYTES keep the three steps below busy together for most of a file (with 64 MB
        # chunks, a 116 MB file was two, and the first decode and the last commit ran alone).
        chunk_bytes = max(1 << 16, min(chunk_bytes, batch_rows * 512, PIPELINE_CHUNK_BYTES))

    def batches():
        chunks = read_source(path, fmt, batch_rows=batch_rows, chunk_bytes=chunk_bytes, stream=stream,
                             encoding=encoding)
        for chunk in prefetched(chunks) if fmt == "jsonl" else chunks:
            frame = with_positions(chunk.frame)
            pieces = max(1, -(-frame.height // batch_rows))
            for index in range(pieces):
                part = chunk if pieces == 1 else Chunk(chunk.frame, chunk.bytes_read // pieces, chunk.encoding)
                yield part, loader.prepare(frame.slice(index * batch_rows, batch_rows), source)

    # Pipelined: the next chunk is read and decoded (JSON Lines: its own thread), the next batch validated
    # and converted, while this one commits.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hcp-ingest-prepare") as pool:
        it = batches()
        pending = pool.submit(next, it, None)
        while True:
            item = pending.result()
            if item is None:
                break
            pending = pool.submit(next, it, None)
            chunk, prepared = item
            summary = loader.commit(prepared)
            total.merge(summary)
            if on_chunk is not None:
                on_chunk(chunk, summary)
    total.seconds = time.perf_counter() - started
    return total


def ingest_bytes(loader: Loader, data: bytes, *, source: str, batch_id: str) -> Summary:
    """Ingest a JSON Lines payload held in memory (positions ``<batch_id>:<line>``, as HTTP batches have)."""
    frame = decode_jsonl(data)
    return loader.load(with_positions(frame, "batch", batch_id), source)
