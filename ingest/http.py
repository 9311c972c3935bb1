"""The HTTP push endpoint: ``POST /ingest`` with NDJSON (or a JSON array), ``GET /ingest/health``.

Starlette routes, served by uvicorn — the same well-kept stack ``hcp serve`` already runs on (ASGI,
HTTP/1.1 keep-alive, graceful shutdown), so the endpoint is hosted both by ``hcp serve`` (the process that
owns an embedded warehouse; see :data:`hcp.serve.SERVICES`) and on its own by ``hcp serve-ingest``.

* One writer thread per process commits batches in arrival order through a :class:`~ingest.loader.Loader`.
  Requests wait for their commit and get ``200`` with the batch's counts and, for each quarantined line,
  its position and reason; with ``?wait=0`` they get ``202`` as soon as the batch is queued.
* The queue is bounded in rows (``queue_rows``): a batch that does not fit gets ``503`` with
  ``Retry-After`` instead of growing memory without bound.
* A body over ``max_body_bytes`` or with more than ``max_lines`` records gets ``413``; a body that is not
  UTF-8, a malformed JSON array or an empty body gets ``400``; bad *lines* of NDJSON are not an error
  of the request — they are quarantined and reported, and the rest is stored.
* Positions in the quarantine are ``<batch id>:<line>``; the batch id is the client's ``X-Batch-Id``
  header, else a digest of the body, so a retried identical request never quarantines twice.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ingest.loader import Loader, Summary
from ingest.readers import decode_jsonl
from ingest.run import with_positions

DEFAULTS = {"max_body_bytes": 64 << 20, "max_lines": 200_000, "queue_rows": 400_000, "unknown_items": "flag"}


class QueueFull(Exception):
    def __init__(self, retry_after: int):
        super().__init__("the writer is behind")
        self.retry_after = retry_after


@dataclass
class Job:
    frame: object
    source: str
    rows: int
    done: threading.Event = field(default_factory=threading.Event)
    summary: Summary | None = None
    error: str | None = None


class IngestWriter:
    """The single writer of this process: a bounded queue of batches, committed in order."""

    def __init__(self, wh, *, queue_rows: int = DEFAULTS["queue_rows"], unknown_items: str = "flag"):
        self.loader = Loader(wh, keep_rejects=True, unknown_items=unknown_items)
        self.queue_rows = queue_rows
        self.pending_rows = 0
        self.committed_batches = 0
        self.last_error: str | None = None
        self._rate = 50_000.0  # rows/s, refined as batches commit (for Retry-After)
        self._jobs: deque[Job] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="hcp-ingest-writer", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def submit(self, frame, source: str) -> Job:
        rows = frame.height
        with self._cond:
            if self.pending_rows > 0 and self.pending_rows + rows > self.queue_rows:
                raise QueueFull(max(1, min(60, math.ceil(self.pending_rows / max(self._rate, 1.0)))))
            job = Job(frame, source, rows)
            self._jobs.append(job)
            self.pending_rows += rows
            self._cond.notify()
        return job

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._jobs and not self._stopping:
                    self._cond.wait()
                if self._stopping and not self._jobs:
                    return
                job = self._jobs[0]
            started = time.perf_counter()
            try:
                job.summary = self.loader.load(job.frame, job.source)
                self.last_error = None
            except Exception as exc:  # reported to the client and on /ingest/health; the writer goes on
                job.error = str(exc).splitlines()[0][:500] if str(exc) else type(exc).__name__
                self.last_error = job.error
            elapsed = time.perf_counter() - started
            with self._cond:
                self._jobs.popleft()
                self.pending_rows -= job.rows
                self.committed_batches += 1
                if elapsed > 0 and job.rows:
                    self._rate = 0.7 * self._rate + 0.3 * (job.rows / elapsed)
            job.frame = None
            job.done.set()

    def stop(self, timeout: float = 30.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout)


class BadBody(ValueError):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BadBody(413, f"the body is {int(declared):,} bytes; at most {limit:,} are accepted per batch")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadBody(413, f"the body exceeds {limit:,} bytes; send smaller batches")
        chunks.append(chunk)
    return b"".join(chunks)


def body_to_ndjson(body: bytes, content_type: str) -> bytes:
    """NDJSON as is; a JSON array becomes NDJSON (one element per line). Raises BadBody (400)."""
    if not body.strip():
        raise BadBody(400, "the body is empty; send NDJSON (one JSON object per line) or a JSON array")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadBody(400, f"the body is not UTF-8 (byte {exc.start})") from exc
    if "json" in content_type and "ndjson" not in content_type and "jsonl" not in content_type \
            or text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except ValueError as exc:
            raise BadBody(400, f"the body is not a valid JSON array: {exc}") from exc
        if isinstance(items, dict):
            items = [items]
        if not isinstance(items, list):
            raise BadBody(400, "a JSON body must be an array of records (or one record object)")
        return "\n".join(json.dumps(item, ensure_ascii=False) for item in items).encode() + b"\n"
    return body


def make_routes(writer: IngestWriter, *, max_body_bytes: int, max_lines: int, prefix: str = "/ingest") -> list[Route]:
    async def push(request: Request) -> Response:
        try:
            body = await _read_body(request, max_body_bytes)
            payload = body_to_ndjson(body, request.headers.get("content-type", ""))
        except BadBody as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except ClientDisconnect:
            return Response(status_code=499)
        lines = payload.count(b"\n") + (0 if payload.endswith(b"\n") else 1)
        if lines > max_lines:
            return JSONResponse({"error": f"the batch has {lines:,} lines; at most {max_lines:,} per batch"},
                                status_code=413)
        batch_id = request.headers.get("x-batch-id") or hashlib.blake2b(body, digest_size=8).hexdigest()
        source = (request.query_params.get("source") or request.headers.get("x-source")
                  or (request.client.host if request.client else "unknown"))
        frame = await run_in_threadpool(decode_jsonl, payload)
        frame = with_positions(frame, "batch", batch_id)
        try:
            job = writer.submit(frame, f"http:{source}")
        except QueueFull as exc:
            return JSONResponse(
                {"error": "the writer is behind; retry later", "retry_after": exc.retry_after},
                status_code=503, headers={"Retry-After": str(exc.retry_after)})
        if request.query_params.get("wait", "1") in ("0", "false", "no"):
            return JSONResponse({"batch_id": batch_id, "queued": frame.height}, status_code=202)
        await run_in_threadpool(job.done.wait)
        if job.error is not None:
            return JSONResponse({"batch_id": batch_id, "error": f"the batch was not stored: {job.error}"},
                                status_code=500)
        s = job.summary
        assert s is not None
        return JSONResponse({
            "batch_id": batch_id, "received": s.received, "accepted": s.accepted, "duplicates": s.duplicates,
            "quarantined": s.quarantined, "quarantined_by_reason": dict(sorted(s.reasons.items())),
            "flagged_unknown_items": s.flagged_unknown_items,
            "rejects": [{"position": p, "line": int(p.rsplit(":", 1)[-1]) if p.rsplit(":", 1)[-1].isdigit() else None,
                         "reason": r, "detail": d} for p, r, d in s.rejects],
        }, status_code=200)

    async def health(request: Request) -> Response:
        ok = writer.alive
        return JSONResponse({
            "status": "ok" if ok else "writer stopped", "writer_alive": ok,
            "queue_rows": writer.pending_rows, "queue_limit": writer.queue_rows,
            "committed_batches": writer.committed_batches, "last_error": writer.last_error,
            "warehouse": writer.loader.wh.display_dsn,
        }, status_code=200 if ok else 503)

    return [Route(prefix, push, methods=["POST"]), Route(f"{prefix}/health", health, methods=["GET"])]


def _option(options: dict, name: str):
    env = os.environ.get(f"HCP_INGEST_{name.upper()}")
    value = options.get(name, env if env is not None else DEFAULTS[name])
    return value if name == "unknown_items" else int(value)


def routes(ctx) -> list[Route]:
    """The hosted service for ``hcp serve`` (listed in :data:`hcp.serve.SERVICES`)."""
    options = dict(getattr(ctx, "options", {}) or {})
    writer = IngestWriter(ctx.warehouse, queue_rows=_option(options, "queue_rows"),
                          unknown_items=_option(options, "unknown_items"))
    ctx.cleanups.append(writer.stop)
    return make_routes(writer, max_body_bytes=_option(options, "max_body_bytes"),
                       max_lines=_option(options, "max_lines"))
