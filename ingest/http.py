"""The HTTP push endpoint: ``POST /ingest`` with NDJSON (or a JSON array), ``GET /ingest/health``.

Starlette routes, served by uvicorn — the same well-kept stack ``hcp serve`` already runs on (ASGI,
HTTP/1.1 keep-alive, graceful shutdown), so the endpoint is hosted both by ``hcp serve`` (the process that
owns an embedded warehouse; see :data:`hcp.serve.SERVICES`) and on its own by ``hcp serve-ingest``.

* **Every push carries a token** (``Authorization: Bearer hcp_…``, issued with ``hcp tokens issue``;
  :mod:`ingest.tokens`): ``401`` without a valid one, ``403`` when a record lies outside its grant
  (a kind it may not write, a region outside its subtree: :mod:`ingest.scope`) — and then nothing of
  the request is stored. Records are stored with the source ``http:<token name>[/<?source>]`` and the
  token is the actor of the reference-data history (:mod:`ingest.history`).
* One writer per process (:class:`IngestWriter`: its preparer, check and committer threads) commits batches
  in arrival order through a :class:`~ingest.loader.Loader`.
  Requests wait for their commit and get ``200`` with the batch's counts and, for each quarantined line,
  its position and reason; with ``?wait=0`` they get ``202`` as soon as the batch is queued.
* **Group commit**: requests that arrive while a commit is in flight wait in the queue and are then
  committed together — one validation pass, one ledger look-up, one insert per table — up to
  ``group_rows`` rows (``[ingest] group_max_rows``); each request still gets its own counts and rejects
  (the loader counts per request, :data:`ingest.fields.GROUP`) and its answer only once the group is
  stored. A request holding reference data (regions, departments, items) is committed on its own, so
  the history keeps each change with its own actor. Should a group fail, its requests are committed
  again one by one, so each gets its own outcome and a bad request never fails its neighbours.
* The queue is bounded in rows (``queue_rows``): a batch that does not fit gets ``503`` with
  ``Retry-After`` instead of growing memory without bound.
* Bytes in flight — bodies being received, decoded, queued or committed — are capped
  (``max_inflight_bytes``): beyond it a request gets ``503`` with ``Retry-After`` before its body is
  read, so concurrent large bodies cannot exhaust the memory.
* A body over ``max_body_bytes`` or with more than ``max_lines`` records gets ``413``; an empty body, a
  malformed JSON array (or one that is not UTF-8) or a JSON value that is neither an array nor an object
  gets ``400``; bad *lines* of NDJSON (bad JSON, too deep, too long, not UTF-8) and bad elements of an
  array are not an error of the request — they are quarantined and reported, and the rest is stored.
  A byte-order mark at the start of a body is ignored; NDJSON sent as ``application/json`` is NDJSON;
  ``; charset=gb18030`` (or another) in ``Content-Type`` is honoured.
* Positions in the quarantine are ``<batch id>:<line>``; the batch id is the client's ``X-Batch-Id``
  header, else a digest of the body, so a retried identical request never quarantines twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import click
import numpy as np
import polars as pl
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hcp.config import get_config
from hcp.i18n import tr
from ingest import jsonsafe, scope, tokens
from ingest.fields import ERR, ERR_DETAIL, EXTRA, GROUP, RAW, REFERENCE_KINDS
from ingest.limits import MAX_DEPTH, MAX_LINE_BYTES
from ingest.loader import Loader, Prepared, Summary
from ingest.readers import decode_jsonl
from ingest.run import with_positions
from warehouse.client import WarehouseError

#: How many refused records a 403 lists (the count is always given).
REFUSED_LISTED = 100


class QueueFull(Exception):
    def __init__(self, retry_after: int):
        super().__init__("the writer is behind")
        self.retry_after = retry_after


@dataclass
class Job:
    frame: object
    source: str
    rows: int
    actor: str | None = None
    done: threading.Event = field(default_factory=threading.Event)
    summary: Summary | None = None
    error: str | None = None
    on_done: list = field(default_factory=list)
    #: holds reference data: committed on its own (see the module docstring)
    alone: bool = False
    #: an NDJSON body still to decode (with the writer's group), the digest of its token (looked up again by
    #: the writer), its batch id and line limit
    body: bytes | None = None
    token_hash: str = ""
    batch_id: str = ""
    max_lines: int = 0
    #: an answer other than the counts, decided by the writer (403 outside the grant, 413, 400, 503)
    response: tuple[int, dict] | None = None


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:500] if str(exc) else type(exc).__name__


def holds_reference_data(frame: pl.DataFrame) -> bool:
    """True when any record of the batch is a region, department or item (by its ``kind`` as sent)."""
    if "kind" not in frame.columns or frame.schema["kind"] != pl.String:
        return "kind" in frame.columns
    return bool(frame.select(pl.col("kind").str.strip_chars().is_in(list(REFERENCE_KINDS)).any()).item())


def refused_answer(token: tokens.Token, refused: pl.DataFrame) -> dict:
    """The 403 answer: records outside what ``token`` may write (the first :data:`REFUSED_LISTED`)."""
    return {
        "error": f"令牌 {token.name} 无权写入其中 {refused.height:,} 条记录，本次请求未入库 / "
                 f"{refused.height:,} record(s) are outside what token {token.name} may write; "
                 "nothing of this request was stored",
        "token": token.name, "refused_count": refused.height,
        "refused": [{"line": r["_line"], "kind": r["kind"], "record_id": r["record_id"], "reason": r["reason"],
                     "detail": r["detail"]} for r in refused.head(REFUSED_LISTED).iter_rows(named=True)],
    }


#: The answer to a request without a valid token (``401``), and its header.
UNAUTHORIZED = {"error": "需要有效的令牌 / a valid token is required: Authorization: Bearer <token> "
                         "(issued with hcp tokens issue)"}
UNAUTHORIZED_HEADERS = {"WWW-Authenticate": 'Bearer realm="hcp-ingest"'}


def too_many_lines(height: int, max_lines: int) -> dict:
    return {"error": f"the batch has {height:,} records; at most {max_lines:,} per batch"}


def is_plain_ndjson(body: bytes, content_type: str) -> bool:
    """A body :func:`body_to_frame` would decode as it is: NDJSON in UTF-8, no byte-order mark, not a
    JSON array and not sent as ``application/json`` (those are decoded with their request)."""
    charset = _charset(content_type)
    if charset and charset.replace("_", "-") not in ("utf-8", "utf8"):
        return False
    if _is_json_type(content_type) or body.startswith((b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf")):
        return False
    stripped = body.lstrip(b" \t\r\n")
    return bool(stripped) and not stripped.startswith(b"[")


def decode_bodies(bodies: list[bytes]) -> list[pl.DataFrame]:
    """NDJSON bodies decoded in one pass (:func:`ingest.readers.decode_jsonl`, line by line independent),
    one frame per body with ``_line``/``_byte`` counted within its body."""
    pieces = [b if b.endswith(b"\n") else b + b"\n" for b in bodies]
    line_starts = np.concatenate([[1], 1 + np.cumsum([p.count(b"\n") for p in pieces])[:-1]]).astype(np.int64)
    byte_starts = np.concatenate([[0], np.cumsum([len(p) for p in pieces])[:-1]]).astype(np.int64)
    frame = decode_jsonl(b"".join(pieces))
    if frame.height == 0:
        return [frame] * len(bodies)
    owner = np.searchsorted(line_starts, frame["_line"].to_numpy(), side="right") - 1
    frame = frame.with_columns(
        pl.Series("__body", owner),
        pl.col("_line") - pl.Series(line_starts[owner]) + 1,
        *([pl.col("_byte") - pl.Series(byte_starts[owner])] if "_byte" in frame.columns else []),
    )
    parts = frame.partition_by("__body", maintain_order=True, include_key=False, as_dict=True)
    if len(parts) < len(bodies):  # a body of blank lines only
        empty = frame.clear().drop("__body")
        return [parts.get((i,), empty) for i in range(len(bodies))]
    return [parts[(i,)] for i in range(len(bodies))]


@dataclass
class Unit:
    """The requests one commit takes from the queue: ``prepared`` — the batch of the requests committed
    together, validated and converted ahead (None when the commit prepares them itself: a unit holding
    reference data, or one whose preparation failed) — and ``alone``, the requests committed one by one."""

    jobs: list[Job]
    together: list[Job]
    alone: list[Job]
    prepared: Prepared | None
    started: float

    @property
    def holds_reference_data(self) -> bool:
        return any(job.alone for job in self.jobs)


class IngestWriter:
    """The single writer of this process: a bounded queue of batches, committed in order, the requests
    queued while a commit is in flight grouped into the next commit (at most ``group_rows`` rows;
    ``group_rows <= 1`` commits each request alone). A writer that finds fewer than ``group_rows`` rows
    queued and no commit in flight waits up to ``group_wait`` seconds for more to join them.

    Three threads: the *preparer* takes the next group from the queue, decodes it and validates and
    converts it (:meth:`ingest.loader.Loader.prepare`) while the *check* thread looks up its tokens and
    checks its records against their grants (:meth:`_check`); the *committer* stores it (ledger, inserts —
    ClickHouse's work, outside the GIL) and answers its requests.
    With a full group queued the preparer prepares it beside the commit in flight; with less, it waits for
    the commit so that the requests it answers join the next group (:meth:`_joins_later`). Only the commit reads or writes the ledger, one group after the other, so
    idempotency is that of one writer. A group holding reference data is prepared by the committer after
    the groups before it are stored, and the next group waits for it: a request always sees the
    catalogue, departments and regions as every earlier commit left them."""

    def __init__(self, wh, *, queue_rows: int | None = None, unknown_items: str | None = None,
                 group_rows: int | None = None, group_wait: float | None = None):
        config = get_config().ingest  # [ingest] for what the caller leaves out
        self.loader = Loader(wh, keep_rejects=True, unknown_items=unknown_items or config.unknown_items)
        self.queue_rows = config.queue_rows if queue_rows is None else queue_rows
        self.group_rows = config.group_max_rows if group_rows is None else group_rows
        self.group_wait = config.group_wait_seconds if group_wait is None else group_wait
        #: rows queued, being prepared or being committed (the queue bound counts them all)
        self.pending_rows = 0
        self.committed_batches = 0
        #: commits made (a group of requests is one; a group that failed and was retried request by
        #: request counts once more per request)
        self.commits = 0
        #: CPU seconds the preparer, check and committer threads spent (their own threads only; ClickHouse's
        #: threads and the HTTP event loop are not counted): where a push's time goes, on /ingest/health
        self.cpu = {"prepare": 0.0, "check": 0.0, "commit": 0.0}
        self.last_error: str | None = None
        self._rate = 50_000.0  # rows/s, refined as batches commit (for Retry-After)
        self._jobs: deque[Job] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._ready: Unit | None = None  # prepared, waiting for the committer
        self._committing: Unit | None = None
        #: queued requests the next group waits for: those queued when the last commit answered and as many
        #: more as it answered (see _next_group); before any commit, the whole group_wait
        self._awaited = 1 << 30
        self._prepared_all = False  # the preparer has stopped: the committer ends once _ready is taken
        #: looks up a group's tokens and checks its records against their grants while the preparer decodes
        #: and prepares it (:meth:`_check`)
        self._checker = ThreadPoolExecutor(1, thread_name_prefix="hcp-ingest-check")
        self._thread = threading.Thread(target=self._run, name="hcp-ingest-writer", daemon=True)
        self._committer = threading.Thread(target=self._run_commits, name="hcp-ingest-commit", daemon=True)
        self._thread.start()
        self._committer.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and self._committer.is_alive()

    def retry_after(self) -> int:
        """Seconds until the queue has likely drained (for ``Retry-After``)."""
        return max(1, min(60, math.ceil(self.pending_rows / max(self._rate, 1.0))))

    def submit(self, frame, source: str, actor: str | None = None, on_done=None) -> Job:
        """Queue a batch (``actor``: who writes it; ``on_done``: called once it is committed or failed)."""
        return self._queue(Job(frame, source, frame.height, actor, on_done=[on_done] if on_done else [],
                               alone=self.group_rows <= 1 or holds_reference_data(frame)))

    def submit_body(self, body: bytes, source: str, token: tokens.Token, token_hash: str, batch_id: str,
                    max_lines: int, on_done=None) -> Job:
        """Queue an NDJSON body as it came (:func:`is_plain_ndjson`) with the grant its request was admitted
        with and the token's digest: the writer looks up the tokens of a group once more (one query: a token
        revoked meanwhile stores nothing, 401), decodes its bodies together, checks each against its token's
        grant (:func:`ingest.scope.violations`, one look-up per token) and answers 403/413/400 for a request
        as the request path would."""
        rows = body.count(b"\n") + (0 if body.endswith(b"\n") else 1)
        return self._queue(Job(None, source, rows, token.actor, on_done=[on_done] if on_done else [],
                               body=body, token_hash=token_hash, batch_id=batch_id,
                               max_lines=max_lines))

    def _queue(self, job: Job) -> Job:
        with self._cond:
            if self.pending_rows > 0 and self.pending_rows + job.rows > self.queue_rows:
                raise QueueFull(self.retry_after())
            self._jobs.append(job)
            self.pending_rows += job.rows
            self._cond.notify_all()
        return job

    def _idle(self) -> bool:
        """Nothing prepared or being committed (called holding ``_cond``)."""
        return self._ready is None and self._committing is None

    def _next_group(self) -> list[Job]:
        """The jobs the next commit takes, off the head of the queue (called holding ``_cond``): one job
        holding reference data alone, else the queued jobs without any, in order, up to ``group_rows``.
        With nothing in flight it waits for more to join, at most ``group_wait`` and only until the
        requests the last commit answered could all be back (as many more queued as it answered: eight
        clients pushing in turn are all queued again ~2 ms after their answers; a client pushing alone
        waits for nobody); with a commit in flight it is called only for a full group (:meth:`_joins_later`)."""
        if self.group_wait > 0 and not self._jobs[0].alone:
            deadline = time.monotonic() + self.group_wait
            while (not self._stopping and self._queued_rows() < self.group_rows and self._idle()
                   and len(self._jobs) < self._awaited):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
        group = [self._jobs.popleft()]
        if group[0].alone:
            return group
        rows = group[0].rows
        while self._jobs and not self._jobs[0].alone and rows + self._jobs[0].rows <= self.group_rows:
            rows += self._jobs[0].rows
            group.append(self._jobs.popleft())
        return group

    def _queued_rows(self) -> int:
        return sum(job.rows for job in self._jobs)

    def _run(self) -> None:
        """The preparer: the next group off the queue once the previous one is handed over (and, when it
        holds reference data, stored), prepared, handed to the committer."""
        while True:
            with self._cond:
                while not self._stopping and (not self._jobs or self._ready is not None or self._waits_for_reference()
                                              or self._joins_later()):
                    self._cond.wait()
                if not self._jobs:  # stopping, and nothing left
                    self._prepared_all = True
                    self._cond.notify_all()
                    return
                if self._ready is not None or self._waits_for_reference():
                    self._cond.wait(0.05)  # stopping: drain what is queued, in order
                    continue
                group = self._next_group()
            cpu = time.thread_time()
            unit = self._prepare(group)
            self.cpu["prepare"] += time.thread_time() - cpu
            with self._cond:
                self._ready = unit
                self._cond.notify_all()

    def _joins_later(self) -> bool:
        """A commit is in flight and the queue holds less than a full group (called holding ``_cond``): the
        next group is taken once the commit is done, so that the requests it answers (and those that come
        meanwhile) join it. A group costs mostly the same whatever it holds — in process, a group of one
        request of 200 records ~45 ms, of eight ~70 ms —, so eight requests in one group cost far less than
        a group of one prepared beside the commit and then one of seven; with a full group queued, it is
        prepared while the commit runs."""
        return self._committing is not None and self._queued_rows() < self.group_rows

    def _waits_for_reference(self) -> bool:
        """A group holding reference data is not yet stored (called holding ``_cond``)."""
        return any(unit is not None and unit.holds_reference_data for unit in (self._ready, self._committing))

    def _prepare(self, group: list[Job]) -> Unit:
        """Decode ``group`` and, unless it holds reference data, validate and convert the requests it
        commits together — while the check thread looks up their tokens and checks their records against
        the grants (:meth:`_check`). The records are prepared as if every request may be stored, the usual
        case, and prepared again without those the check refuses, so nothing of a refused request is
        stored. Nothing here stops the writer: a failure leaves the work to the committer."""
        started = time.perf_counter()
        check = None
        try:
            check = self._decode(group)
        except Exception as exc:  # never the writer's end: the requests not yet decided say why
            self._fail_undecided(group, exc)
        prepared, together, alone = self._prepare_ready(group)
        if check is not None:
            try:
                answers = check.result()
            except Exception as exc:  # a fault of the check itself: nothing of its requests is stored
                answers = [(job, (500, {"batch_id": job.batch_id, "error": f"the batch was not stored: {_first_line(exc)}"}))
                           for job in group if job.response is None and job.token_hash]
            for job, response in answers:
                job.response = response
                job.frame = None
            if answers and any(job.response is not None for job in together):
                prepared, together, alone = self._prepare_ready(group)
        return Unit(group, together, alone, prepared, started)

    @staticmethod
    def _fail_undecided(group: list[Job], exc: BaseException) -> None:
        """The decode failed: its requests not answered yet are answered 500 — those not decoded, and every
        queued body, decoded or not, since its check never ran (nothing unchecked is stored)."""
        for job in group:
            if job.response is None and (job.frame is None or job.token_hash):
                job.response = (500, {"batch_id": job.batch_id, "error": f"the batch was not stored: {_first_line(exc)}"})

    def _prepare_ready(self, group: list[Job]) -> tuple[Prepared | None, list[Job], list[Job]]:
        """The requests of ``group`` not answered yet, those committed together prepared (unless the group
        holds reference data, which the committer prepares request by request)."""
        ready = [job for job in group if job.response is None]
        alone = [job for job in ready if job.alone]
        together = [job for job in ready if not job.alone]
        prepared = None
        if together and not alone:
            try:
                prepared = self.loader.prepare(self._together_frame(together), together[0].source if len(together) == 1 else "",
                                               actor=together[0].actor if len(together) == 1 else None)
            except Exception:  # the warehouse (a catalogue look-up): the commit prepares them again
                prepared = None
        return prepared, together, alone

    @staticmethod
    def _together_frame(jobs: list[Job]) -> pl.DataFrame:
        """The frame of the requests committed together: one request's as it is, several with each row's
        request (:data:`ingest.fields.GROUP`) and source."""
        if len(jobs) == 1:
            return jobs[0].frame
        return pl.concat([job.frame.with_columns(pl.lit(index, dtype=pl.UInt32).alias(GROUP),
                                                 pl.lit(job.source).alias("_source"))
                          for index, job in enumerate(jobs)], how="diagonal_relaxed")

    def _run_commits(self) -> None:
        """The committer: each prepared group stored in turn, then its requests answered."""
        while True:
            with self._cond:
                while self._ready is None and not self._prepared_all:
                    self._cond.wait()
                if self._ready is None:
                    return
                unit, self._ready, self._committing = self._ready, None, self._ready
                self._cond.notify_all()
            cpu = time.thread_time()
            for job in unit.alone:
                self._commit_alone(job)
            if len(unit.together) == 1 and unit.prepared is None:
                self._commit_alone(unit.together[0])
            elif unit.together:
                self._commit_group(unit.together, unit.prepared)
            elapsed = time.perf_counter() - unit.started
            self.cpu["commit"] += time.thread_time() - cpu
            rows = sum(job.rows for job in unit.jobs)
            with self._cond:
                self._committing = None
                self.pending_rows -= rows
                self.committed_batches += len(unit.jobs)
                self._awaited = len(self._jobs) + len(unit.jobs)
                if elapsed > 0 and rows:
                    self._rate = 0.7 * self._rate + 0.3 * (rows / elapsed)
                self._cond.notify_all()
            for job in unit.jobs:
                job.frame = None
                job.done.set()
                for callback in job.on_done:
                    callback()

    def _decode(self, group: list[Job]) -> Future | None:
        """The queued bodies of ``group``: decoded together and their limits checked (413, 400), while the
        check thread looks up their tokens. Returns the check of the decoded requests (:meth:`_check`),
        running in the check thread, or None when the group has no body."""
        raw = [job for job in group if job.body is not None]
        if not raw:
            return None
        grants = self._checker.submit(self._timed, tokens.grants, self.loader.wh, [job.token_hash for job in raw])
        try:
            frames = decode_bodies([job.body for job in raw])
        except Exception:  # no input stops ingest: each body on its own says what is wrong with it
            frames = []
            for job in raw:
                try:
                    frames.append(decode_bodies([job.body])[0])
                except Exception as exc:
                    frames.append(None)
                    job.response = (500, {"batch_id": job.batch_id, "error": f"the batch was not stored: {exc}"})
        decoded: list[tuple[Job, pl.DataFrame]] = []
        for job, frame in zip(raw, frames):
            job.body = None
            if frame is None:
                continue
            if frame.height > job.max_lines:
                job.response = (413, too_many_lines(frame.height, job.max_lines))
            elif frame.height == 0:
                job.response = (400, {"error": "the body holds no records"})
            else:
                job.frame = with_positions(frame, "batch", job.batch_id)
                job.alone = self.group_rows <= 1 or holds_reference_data(job.frame)
                decoded.append((job, frame))
        return self._checker.submit(self._timed, self._check, grants, decoded)

    def _timed(self, fn, *args):
        """``fn(*args)`` in the check thread, its CPU counted in :attr:`cpu` ``["check"]``."""
        cpu = time.thread_time()
        try:
            return fn(*args)
        finally:
            self.cpu["check"] += time.thread_time() - cpu

    def _check(self, grants: Future, decoded: list[tuple[Job, pl.DataFrame]]) -> list[tuple[Job, tuple[int, dict]]]:
        """The answer of each decoded request that may not be stored: 401 when its token is no longer valid
        (the look-up ``grants``: revoked since its request was admitted), 403 when a record is outside its
        grant (:func:`ingest.scope.violations`, one check per token for its requests together), 503 when the
        warehouse cannot say. Runs in the check thread; reads the requests, changes none."""
        try:
            current = grants.result()
        except WarehouseError:
            return [(job, (503, {"error": "the warehouse cannot check the token now; retry later",
                                 "retry_after": self.retry_after()})) for job, _frame in decoded]
        answers: list[tuple[Job, tuple[int, dict]]] = []
        by_token: dict[str, list[tuple[Job, pl.DataFrame]]] = {}
        for job, frame in decoded:
            if job.token_hash in current:
                by_token.setdefault(job.token_hash, []).append((job, frame))
            else:
                answers.append((job, (401, UNAUTHORIZED)))
        for token_hash, pairs in by_token.items():
            token = current[token_hash]
            # One check for the token's requests: lines numbered across them, then mapped back.
            offsets = np.cumsum([0] + [frame.height for _, frame in pairs])
            together = pl.concat([frame.select(*[c for c in frame.columns if c != "_line"]) for _, frame in pairs],
                                 how="diagonal_relaxed").with_columns(
                pl.int_range(1, int(offsets[-1]) + 1, dtype=pl.Int64).alias("_line"))
            try:
                refused = scope.violations(self.loader.wh, token, together)
            except WarehouseError:
                answers += [(job, (503, {"error": "the warehouse cannot check the records' scope now; retry later",
                                         "retry_after": self.retry_after()})) for job, _frame in pairs]
                continue
            if refused.height == 0:
                continue
            owner = np.searchsorted(offsets, refused["_line"].to_numpy() - 1, side="right") - 1
            for index, (job, frame) in enumerate(pairs):
                if (owner == index).any():
                    mine = refused.filter(pl.Series(owner == index))
                    lines = frame["_line"].gather(pl.Series(mine["_line"].to_numpy() - 1 - offsets[index]))
                    answers.append((job, (403, refused_answer(token, mine.with_columns(lines.alias("_line"))))))
        return answers

    def _commit_alone(self, job: Job) -> None:
        self.commits += 1
        try:
            job.summary = self.loader.load(job.frame, job.source, actor=job.actor)
            self.last_error = None
        except Exception as exc:  # reported to the client and on /ingest/health; the writer goes on
            job.error = str(exc).splitlines()[0][:500] if str(exc) else type(exc).__name__
            self.last_error = job.error

    def _commit_group(self, group: list[Job], prepared: Prepared | None) -> None:
        """One commit for the requests of ``group`` (``prepared`` ahead, else here), each getting its own
        summary; on any failure the requests are committed again one by one (idempotent: what the failed
        commit stored is found in the ledger, or stored again under the same ids), so each gets its own
        outcome."""
        self.commits += 1
        try:
            if prepared is None:
                prepared = self.loader.prepare(self._together_frame(group), "")
            total = self.loader.commit(prepared)
        except Exception as exc:  # the warehouse or a request: each request alone says which
            if len(group) == 1:
                group[0].error = self.last_error = str(exc).splitlines()[0][:500] if str(exc) else type(exc).__name__
            for job in group if len(group) > 1 else []:
                self._commit_alone(job)
            return
        if len(group) == 1:
            group[0].summary = total
        for index, job in enumerate(group if len(group) > 1 else []):
            job.summary = total.groups.get(index) or Summary()
            job.summary.seconds = total.seconds
        self.last_error = None

    def stop(self, timeout: float = 30.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout)
        self._committer.join(timeout)
        self._checker.shutdown(wait=False)


class BadBody(ValueError):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class InFlight:
    """Bytes of request bodies held by this endpoint, from the first byte read to their commit.

    ``take`` refuses bytes beyond ``limit`` — except for a request that finds nothing else in flight,
    so one body up to the body limit always gets through.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    def take(self, n: int) -> bool:
        with self._lock:
            if self.used > 0 and self.used + n > self.limit:
                return False
            self.used += n
            return True

    def give(self, n: int) -> None:
        with self._lock:
            self.used = max(0, self.used - n)


class Busy(Exception):
    """Too many bytes in flight: answer 503 with Retry-After."""


async def _read_body(request: Request, limit: int, inflight: InFlight, held: list[int]) -> bytes:
    """The body, at most ``limit`` bytes (else 413), its bytes taken from ``inflight`` as they come
    (``held[0]`` counts them for the caller to give back)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit():
        if int(declared) > limit:
            raise BadBody(413, f"the body is {int(declared):,} bytes; at most {limit:,} are accepted per batch")
        if not inflight.take(int(declared)):
            raise Busy()
        held[0] += int(declared)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadBody(413, f"the body exceeds {limit:,} bytes; send smaller batches")
        if size > held[0]:
            if not inflight.take(size - held[0]):
                raise Busy()
            held[0] = size
        chunks.append(chunk)
    return b"".join(chunks)


def _charset(content_type: str) -> str | None:
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip('"').lower()
    return None


def _is_json_type(content_type: str) -> bool:
    media = content_type.split(";")[0].strip().lower()
    return "json" in media and not any(x in media for x in ("ndjson", "jsonl", "json-seq", "jsonlines"))


def body_to_frame(body: bytes, content_type: str) -> pl.DataFrame:
    """A request body as a record frame (``_line`` = the record's line, or its place in an array).

    NDJSON is decoded like JSON Lines files (bad lines become quarantine rows, never an error); a JSON
    array is cut into its elements (:func:`ingest.jsonsafe.split_array`), each parsed on its own, so a
    deep or broken element is one bad record. NDJSON sent as ``application/json`` (a first line that is
    a whole object) is NDJSON; one pretty-printed object is one record. A leading byte-order mark is
    ignored and a declared ``charset`` honoured. Raises :class:`BadBody` (400) for an empty body, an array
    that is not well formed (or not UTF-8), and a JSON value that is neither an array nor an object.
    """
    charset = _charset(content_type)
    if charset and charset.replace("_", "-") not in ("utf-8", "utf8"):
        try:
            body = body.decode(charset, errors="replace").encode("utf-8")
        except LookupError:
            raise BadBody(400, f"unknown charset {charset!r}") from None
    elif body.startswith((b"\xff\xfe", b"\xfe\xff")):
        body = body.decode("utf-16", errors="replace").encode("utf-8")
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    stripped = body.strip(b" \t\r\n")
    if not stripped:
        raise BadBody(400, "the body is empty; send NDJSON (one JSON object per line) or a JSON array")
    if stripped.startswith(b"["):
        return _array_frame(body)
    if _is_json_type(content_type):
        if not stripped.startswith(b"{"):
            raise BadBody(400, "a JSON body must be an array of records or record objects (one per line)")
        first = stripped.split(b"\n", 1)[0]
        if b"\n" in stripped and not _whole_object(first):
            return _array_frame(b"[" + body + b"]")  # one record written over several lines
    return decode_jsonl(body)


def _whole_object(line: bytes) -> bool:
    try:
        return isinstance(jsonsafe.loads(line.decode("utf-8", errors="replace")), dict)
    except jsonsafe.BadJson:
        return False


def _array_frame(body: bytes) -> pl.DataFrame:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadBody(400, f"the JSON array is not UTF-8 (byte {exc.start})") from None
    spans = jsonsafe.split_array(body)
    if spans is None:
        raise BadBody(400, "the body is not a valid JSON array (unbalanced brackets, or text after its end)")
    lines: list[bytes] = []
    places: list[int] = []
    bad: list[dict] = []
    for place, (start, end, depth) in enumerate(spans, 1):
        piece = body[start:end]
        raw = piece.decode("utf-8").replace("\r", " ").replace("\n", " ")
        if end - start > MAX_LINE_BYTES:
            reason, detail = "too_long:line", f"the element is {end - start:,} bytes; at most {MAX_LINE_BYTES:,} are accepted"
        elif depth > MAX_DEPTH:
            reason, detail = "too_deep", f"nested {depth} levels deep; at most {MAX_DEPTH} are accepted"
        else:
            try:
                value = jsonsafe.loads(piece.decode("utf-8"))
                lines.append(json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8"))
                places.append(place)
                continue
            except jsonsafe.BadJson as exc:
                reason, detail = exc.reason, exc.detail
            except ValueError:
                reason, detail = "not_json", "a number out of range (not a finite JSON number)"
            except UnicodeEncodeError:
                reason, detail = "bad_encoding", "holds a \\uD800-\\uDFFF escape without its pair (a lone surrogate is not text)"
        bad.append({RAW: raw, "_line": place, "_byte": start, ERR: reason, ERR_DETAIL: detail, EXTRA: ""})
    frames = []
    if lines:
        good = decode_jsonl(b"\n".join(lines) + b"\n")
        frames.append(good.with_columns(pl.Series("_line", np.array(places, dtype=np.int64))))
    if bad:
        frames.append(pl.DataFrame(bad, schema={RAW: pl.String, "_line": pl.Int64, "_byte": pl.Int64, ERR: pl.String,
                                                ERR_DETAIL: pl.String, EXTRA: pl.String}))
    if not frames:
        return pl.DataFrame()
    return pl.concat(frames, how="diagonal_relaxed").sort("_line")


def _bearer(request: Request) -> str | None:
    value = request.headers.get("authorization", "")
    scheme, _, credential = value.partition(" ")
    return credential.strip() if scheme.lower() == "bearer" and credential.strip() else None


def _claimed_source(request: Request) -> str:
    claimed = request.query_params.get("source") or request.headers.get("x-source") or ""
    claimed = "".join(ch for ch in claimed if ch.isprintable() and ch not in "/\\")[:64]
    return claimed


def _batch_and_source(request: Request, token: tokens.Token, body: bytes) -> tuple[str, str]:
    """The batch id (``X-Batch-Id``, else a digest of the body) and the source ``http:<token>[/<name>]``."""
    batch_id = request.headers.get("x-batch-id") or hashlib.blake2b(body, digest_size=8).hexdigest()
    batch_id = "".join(ch for ch in batch_id if ch.isprintable())[:64]
    claimed = _claimed_source(request)
    return batch_id, f"http:{token.name}" + (f"/{claimed}" if claimed else "")


def make_routes(writer: IngestWriter, *, max_body_bytes: int, max_lines: int,
                max_inflight_bytes: int | None = None, prefix: str = "/ingest") -> list[Route]:
    inflight = InFlight(get_config().ingest.max_inflight_bytes if max_inflight_bytes is None else max_inflight_bytes)
    wh = writer.loader.wh
    verifier = tokens.Verifier(wh)  # one token look-up per wave of concurrent requests

    def busy(message: str) -> Response:
        retry = writer.retry_after()
        return JSONResponse({"error": message, "retry_after": retry}, status_code=503,
                            headers={"Retry-After": str(retry)})

    async def push(request: Request) -> Response:
        # A token found valid lately is admitted without a look-up (no hop through the thread pool before the
        # body is read); what the request stores is checked again: by the writer for the group it joins,
        # here before the scope check otherwise (Verifier.admitted).
        presented = _bearer(request)
        token = verifier.admitted(presented)
        checked = token is None
        if token is None:
            token = await _looked_up(presented)
            if isinstance(token, Response):
                return token
        held = [0]
        try:
            return await _push(request, presented, token, checked, held)
        finally:
            if held[0]:
                pending = held[0]
                held[0] = 0
                inflight.give(pending)

    async def _looked_up(presented: str | None) -> tokens.Token | Response:
        """The grant of the presented token as the warehouse holds it now, else the answer: 401, or 503."""
        try:
            token = await run_in_threadpool(verifier.verify, presented)
        except WarehouseError:
            return busy("the warehouse cannot check the token now; retry later")
        return token if token is not None else JSONResponse(UNAUTHORIZED, status_code=401, headers=UNAUTHORIZED_HEADERS)

    async def _push(request: Request, presented: str, token: tokens.Token, checked: bool, held: list[int]) -> Response:
        try:
            body = await _read_body(request, max_body_bytes, inflight, held)
            content_type = request.headers.get("content-type", "")
            waits = request.query_params.get("wait", "1") not in ("0", "false", "no")
            if waits and writer.group_rows > 1 and is_plain_ndjson(body, content_type):
                # Decoded and checked (its token too) by the writer with the other requests of its group.
                return await _queue_body(request, token, tokens.digest(presented), held, body)
            frame = await run_in_threadpool(body_to_frame, body, content_type)
        except BadBody as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except Busy:
            return busy(f"处理中的数据已超过 {inflight.limit:,} 字节，请稍后重试 / more than {inflight.limit:,} bytes "
                        "are in flight; retry later")
        except ClientDisconnect:
            return Response(status_code=499)
        if frame.height > max_lines:
            return JSONResponse(too_many_lines(frame.height, max_lines), status_code=413)
        if frame.height == 0:
            return JSONResponse({"error": "the body holds no records"}, status_code=400)
        if not checked:  # admitted without a look-up: looked up now, before anything of it is stored
            token = await _looked_up(presented)
            if isinstance(token, Response):
                return token
        try:
            refused = await run_in_threadpool(scope.violations, wh, token, frame)
        except WarehouseError:
            return busy("the warehouse cannot check the records' scope now; retry later")
        if refused.height:
            return JSONResponse(refused_answer(token, refused), status_code=403)
        batch_id, source = _batch_and_source(request, token, body)
        frame = with_positions(frame, "batch", batch_id)
        del body
        pending = held[0]
        try:  # once queued, the bytes are the writer's: given back when the batch is committed
            done, committed = _on_done(pending)
            job = writer.submit(frame, source, token.actor, on_done=done)
        except QueueFull as exc:
            return JSONResponse(
                {"error": "the writer is behind; retry later", "retry_after": exc.retry_after},
                status_code=503, headers={"Retry-After": str(exc.retry_after)})
        held[0] = 0
        if request.query_params.get("wait", "1") in ("0", "false", "no"):
            return JSONResponse({"batch_id": batch_id, "queued": frame.height}, status_code=202)
        return await _answer(job, batch_id, committed)

    async def _queue_body(request: Request, token: tokens.Token, token_hash: str, held: list[int],
                          body: bytes) -> Response:
        batch_id, source = _batch_and_source(request, token, body)
        pending = held[0]
        try:  # once queued, the bytes are the writer's: given back when the batch is committed or refused
            done, committed = _on_done(pending)
            job = writer.submit_body(body, source, token, token_hash, batch_id, max_lines, on_done=done)
        except QueueFull as exc:
            return JSONResponse(
                {"error": "the writer is behind; retry later", "retry_after": exc.retry_after},
                status_code=503, headers={"Retry-After": str(exc.retry_after)})
        held[0] = 0
        del body
        return await _answer(job, batch_id, committed)

    def _on_done(pending: int):
        """What the writer calls once a batch is committed or refused: its bytes given back, and the request
        waiting for it woken on the event loop (no thread held per waiting request)."""
        loop = asyncio.get_running_loop()
        committed = loop.create_future()

        def wake() -> None:
            if not committed.done():  # not if the client went away meanwhile
                committed.set_result(None)

        def done() -> None:
            inflight.give(pending)
            try:
                loop.call_soon_threadsafe(wake)
            except RuntimeError:  # the server has stopped: nobody waits any more
                pass

        return done, committed

    async def _answer(job: Job, batch_id: str, committed: asyncio.Future) -> Response:
        await committed
        if job.response is not None:
            status, payload = job.response
            headers = {"Retry-After": str(payload["retry_after"])} if status == 503 else \
                UNAUTHORIZED_HEADERS if status == 401 else None
            return JSONResponse(payload, status_code=status, headers=headers)
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
            "inflight_bytes": inflight.used, "inflight_limit": inflight.limit,
            "committed_batches": writer.committed_batches, "commits": writer.commits,
            "writer_cpu_seconds": {step: round(seconds, 3) for step, seconds in writer.cpu.items()},
            "last_error": writer.last_error,
            "warehouse": writer.loader.wh.display_dsn,
        }, status_code=200 if ok else 503)

    return [Route(prefix, push, methods=["POST"]), Route(f"{prefix}/health", health, methods=["GET"])]


def _option(options: dict, name: str):
    """An option of ``hcp serve`` for the endpoint, else ``[ingest] <name>`` (which ``HCP_INGEST_*`` overrides)."""
    value = options.get(name, getattr(get_config().ingest, name))
    return value if name == "unknown_items" else int(value)


def routes(ctx) -> list[Route]:
    """The hosted service for ``hcp serve`` (listed in :data:`hcp.serve.SERVICES`)."""
    options = dict(getattr(ctx, "options", {}) or {})
    writer = IngestWriter(ctx.warehouse, queue_rows=_option(options, "queue_rows"),
                          unknown_items=_option(options, "unknown_items"))
    ctx.cleanups.append(writer.stop)
    click.echo(tr(ctx.lang, f"HTTP 推送接口：POST http://{ctx.host}:{ctx.port}/ingest",
                  f"HTTP push endpoint: POST http://{ctx.host}:{ctx.port}/ingest"))
    click.echo(tokens.token_hint(ctx.lang))
    return make_routes(writer, max_body_bytes=_option(options, "max_body_bytes"),
                       max_lines=_option(options, "max_lines"), max_inflight_bytes=_option(options, "max_inflight_bytes"))

