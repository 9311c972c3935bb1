"""``hcp scheduler`` and the scheduler hosted by ``hcp serve``: bulletins, metrics and digests on time,
exactly once, caught up after downtime.

Jobs (cron expressions in Asia/Shanghai, ``[reports]`` in the configuration; an empty string disables one):

* ``monthly`` (``monthly_cron``, default ``0 8 1 * *``): the bulletin of the month before the fire date,
  for the whole warehouse and for each region in ``monthly_regions``; then the models are retrained
  (:mod:`models.lifecycle`; a kind with too little data keeps its last model and says why);
* ``metrics`` (``metrics_cron``, default ``0 2 * * *``): the incremental metrics job;
* ``digest`` (``digest_cron``, default ``30 7 * * *``): the red/yellow digest as of the fire time.

**What is due.** For each job the archive's ``scheduler.json`` keeps ``through`` (the last fire time
handled) and ``failed`` (fire times whose run failed). Due now: the failed ones, and every fire time in
(``through``, now] — at most the last ``catch_up`` of them (defaults: 12 months of bulletins, 7 digests,
1 metrics run, since an incremental run covers everything missed). A job never handled before is due for
its latest fire time only. So a scheduler stopped over the 1st of a month produces that bulletin when it
comes back, and one stopped for three months produces three.

**Exactly once.** Each run publishes through :class:`reports.archive.Archive`, which writes a version only
for a new data version with new figures; the state is saved after each run. A crash between publishing
and saving the state re-runs the job on restart, and the archive answers "same data": no second bulletin.

**Failures.** A run is tried ``retry_attempts`` times (default 3) with exponential backoff
(``retry_backoff_seconds`` 60, doubling, at most ``retry_backoff_max_seconds`` 900). Every failed attempt
is logged and appended to ``runs.jsonl``; a run that fails every attempt is reported (logged at ERROR,
``failures/<job>-<key>.json``) and kept in ``failed``, so the next tick or restart tries it again.

**Time.** The clock and the sleep are injected (``clock``, ``sleep``), so tests move time by hand. With
APScheduler (:meth:`ReportScheduler.attach`), each cron fire simply calls :meth:`run_due`.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import traceback
from dataclasses import dataclass, field
from typing import Callable

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from starlette.responses import JSONResponse
from starlette.routing import Route

from hcp.config import Config, get_config
from metrics.jobs import MetricsJob, MetricsSettings
from reports.archive import Archive, default_root
from reports.digest import publish_digest
from reports.monthly import publish_monthly
from warehouse.client import SHANGHAI, Warehouse

log = logging.getLogger("hcp.reports.scheduler")

JOBS = ("metrics", "monthly", "digest")  # order of execution for the same instant


@dataclass(frozen=True)
class SchedulerSettings:
    """The schedule as the scheduler uses it, from ``[reports]`` (:class:`hcp.config.ReportsConfig`): each job's
    cron expression ("" disabled; checked here) and catch-up count, the retries (at least one attempt)."""

    cron: dict[str, str]
    catch_up: dict[str, int]
    regions: tuple[str, ...]
    attempts: int
    backoff: float
    backoff_max: float
    in_serve: bool
    serve_delay: float

    @classmethod
    def from_config(cls, config: Config) -> "SchedulerSettings":
        section = config.reports
        cron = {job: getattr(section, f"{job}_cron").strip() for job in JOBS}
        for job, expression in cron.items():
            if expression:
                try:
                    CronTrigger.from_crontab(expression, timezone=SHANGHAI)
                except ValueError as exc:
                    raise ValueError(f"[reports] {job}_cron = {expression!r}: {exc}") from exc
        catch_up = {job: max(getattr(section, f"{job}_catch_up"), 1) for job in JOBS}
        return cls(
            cron=cron, catch_up=catch_up, regions=section.monthly_regions,
            attempts=max(section.retry_attempts, 1),
            backoff=section.retry_backoff_seconds,
            backoff_max=section.retry_backoff_max_seconds,
            in_serve=section.scheduler_in_serve,
            serve_delay=section.serve_catch_up_delay_seconds,
        )

    def delay(self, attempt: int) -> float:
        """Backoff before attempt ``attempt + 1``: backoff × 2^(attempt−1), capped."""
        return min(self.backoff * 2 ** (attempt - 1), self.backoff_max)


@dataclass(frozen=True)
class Due:
    job: str
    fire: dt.datetime  # aware, Asia/Shanghai

    @property
    def key(self) -> str:
        """What the run produces: the bulletin's month, the digest's day, or the metrics fire time."""
        if self.job == "monthly":
            last = self.fire.date().replace(day=1) - dt.timedelta(days=1)
            return f"{last.year:04d}-{last.month:02d}"
        if self.job == "digest":
            return self.fire.date().isoformat()
        return self.fire.isoformat(timespec="minutes")


@dataclass
class Outcome:
    job: str
    key: str
    fire: dt.datetime
    status: str  # ok | failed | interrupted
    attempts: int
    detail: list[dict] = field(default_factory=list)


def fire_times(cron: str, after: dt.datetime | None, now: dt.datetime) -> list[dt.datetime]:
    """Fire times t of a cron expression with after < t ≤ now; with no ``after``, the latest one only."""
    trigger = CronTrigger.from_crontab(cron, timezone=SHANGHAI)
    if after is None:
        span = dt.timedelta(days=1)
        while span <= dt.timedelta(days=800):
            found = fire_times(cron, now - span, now)
            if found:
                return found[-1:]
            span *= 2
        return []
    times, cursor = [], after + dt.timedelta(seconds=1)
    while True:
        t = trigger.get_next_fire_time(None, cursor)
        if t is None or t > now:
            return times
        times.append(t)
        cursor = t + dt.timedelta(seconds=1)


def _parse(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(SHANGHAI)


class ReportScheduler:
    """Decides what is due and runs it with retries; APScheduler only wakes it up."""

    def __init__(self, wh: Warehouse, *, archive: Archive | None = None, config: Config | None = None,
                 clock: Callable[[], dt.datetime] | None = None, sleep: Callable[[float], object] | None = None,
                 lang: str = "zh"):
        self.wh = wh
        self.config = config or get_config()
        self.settings = SchedulerSettings.from_config(self.config)
        self.clock = clock or (lambda: dt.datetime.now(SHANGHAI))
        self.archive = archive or Archive(default_root(self.config), clock=self.clock)
        self.stop_event = threading.Event()
        self.sleep = sleep or self.stop_event.wait
        self.lang = lang
        self._lock = threading.Lock()

    # What is due ---------------------------------------------------------------------------------
    def now(self) -> dt.datetime:
        return self.clock().astimezone(SHANGHAI)

    def due(self, now: dt.datetime | None = None) -> list[Due]:
        now = now or self.now()
        state = self.archive.read_state().get("jobs", {})
        due: list[Due] = []
        for job in JOBS:
            cron = self.settings.cron[job]
            if not cron:
                continue
            entry = state.get(job, {})
            through = _parse(entry["through"]) if entry.get("through") else None
            times = fire_times(cron, through, now)
            skipped = times[:-self.settings.catch_up[job]]
            if skipped:
                self.archive.log({"job": job, "status": "skipped", "fires": [t.isoformat() for t in skipped],
                                  "reason": f"more than catch_up={self.settings.catch_up[job]} missed"})
            pending = {_parse(t) for t in entry.get("failed", [])} | set(times[-self.settings.catch_up[job]:])
            due += [Due(job, t) for t in sorted(pending)]
        order = {job: i for i, job in enumerate(JOBS)}
        return sorted(due, key=lambda d: (d.fire, order[d.job]))

    # Running -------------------------------------------------------------------------------------
    def run_due(self) -> list[Outcome]:
        """Run everything due now, oldest first; returns what happened. Safe to call concurrently."""
        with self._lock:
            outcomes = []
            for item in self.due():
                if self.stop_event.is_set():
                    break
                outcome = self.execute(item)
                outcomes.append(outcome)
                if outcome.status != "interrupted":
                    self._record(item, outcome.status == "ok")
            return outcomes

    def execute(self, item: Due) -> Outcome:
        """One due run, retried with backoff; the last failure is reported, not raised."""
        attempts: list[dict] = []
        for attempt in range(1, self.settings.attempts + 1):
            try:
                detail = self.run_job(item)
            except Exception as exc:  # any failure of a run is retried, then reported
                error = f"{type(exc).__name__}: {exc}"
                attempts.append({"attempt": attempt, "at": self.now().isoformat(timespec="seconds"), "error": error,
                                 "trace": traceback.format_exc(limit=8)})
                final = attempt == self.settings.attempts
                self.archive.log({"job": item.job, "key": item.key, "fire": item.fire.isoformat(), "attempt": attempt,
                                  "status": "failed" if final else "retry", "error": error})
                if final:
                    path = self.archive.record_failure(item.job, item.key, attempts)
                    log.error("%s %s failed after %d attempts: %s (recorded in %s)", item.job, item.key, attempt,
                              error, path)
                    return Outcome(item.job, item.key, item.fire, "failed", attempt, attempts)
                delay = self.settings.delay(attempt)
                log.warning("%s %s attempt %d failed: %s; retrying in %.0f s", item.job, item.key, attempt, error, delay)
                self.sleep(delay)
                if self.stop_event.is_set():
                    return Outcome(item.job, item.key, item.fire, "interrupted", attempt, attempts)
                continue
            self.archive.log({"job": item.job, "key": item.key, "fire": item.fire.isoformat(), "attempt": attempt,
                              "status": "ok", "results": detail})
            log.info("%s %s done: %s", item.job, item.key, detail)
            return Outcome(item.job, item.key, item.fire, "ok", attempt, detail)
        raise AssertionError("unreachable")

    def run_job(self, item: Due) -> list[dict]:
        trigger = f"schedule {item.fire.isoformat(timespec='minutes')}"
        if item.job == "metrics":
            report = MetricsJob(self.wh, MetricsSettings.load(self.config), clock=self.clock).run()
            return [{"mode": report.mode, "cases": report.cases, "periods": report.periods}]
        if item.job == "digest":
            published = publish_digest(self.wh, self.archive, item.fire, lang=self.lang, trigger=trigger,
                                       config=self.config)
            return [_summary(published)]
        results = []
        for region in (None, *self.settings.regions):
            published = publish_monthly(self.wh, self.archive, item.key, region, lang=self.lang, trigger=trigger,
                                        config=self.config, clock=self.clock)
            results.append(_summary(published))
        results += self._retrain()
        return results

    def _retrain(self) -> list[dict]:
        """After the month's bulletins, the models learn from the month just closed (models.lifecycle); a
        kind with too little data keeps its last model and says why."""
        from models import lifecycle  # scikit-learn is heavy: loaded only when a month's models are retrained

        return [{"status": "trained" if t.directory is not None else "too_little_data", "model": t.kind,
                 "detail": t.message} for t in lifecycle.train(self.wh, lang=self.lang)]

    def _record(self, item: Due, ok: bool) -> None:
        with self.archive.lock():
            state = self.archive.read_state()
            jobs = state.setdefault("jobs", {})
            entry = jobs.setdefault(item.job, {})
            through = _parse(entry["through"]) if entry.get("through") else None
            if through is None or item.fire > through:
                entry["through"] = item.fire.isoformat()
            failed = {t for t in entry.get("failed", []) if _parse(t) != item.fire}
            if not ok:
                failed.add(item.fire.isoformat())
            entry["failed"] = sorted(failed)
            self.archive.write_state(state)

    # APScheduler ---------------------------------------------------------------------------------
    def attach(self, scheduler, *, catch_up_delay: float = 0.0) -> None:
        """Add one cron job per enabled job (each fire runs everything due) and a catch-up run."""
        for job in JOBS:
            cron = self.settings.cron[job]
            if cron:
                scheduler.add_job(self.run_due, CronTrigger.from_crontab(cron, timezone=SHANGHAI), id=f"hcp-{job}",
                                  name=f"hcp {job}", max_instances=1, coalesce=True, misfire_grace_time=None,
                                  replace_existing=True)
        start = dt.datetime.now(SHANGHAI) + dt.timedelta(seconds=catch_up_delay)
        scheduler.add_job(self.run_due, DateTrigger(start, timezone=SHANGHAI), id="hcp-catch-up",
                          name="hcp catch-up", replace_existing=True, misfire_grace_time=None)

    def status(self, scheduler=None) -> dict:
        jobs = {}
        for job in JOBS:
            entry = self.archive.read_state().get("jobs", {}).get(job, {})
            next_run = None
            if scheduler is not None and self.settings.cron[job]:
                aps_job = scheduler.get_job(f"hcp-{job}")
                next_run = aps_job.next_run_time.isoformat() if aps_job and aps_job.next_run_time else None
            jobs[job] = {"cron": self.settings.cron[job] or None, "through": entry.get("through"),
                         "failed": entry.get("failed", []), "next_run": next_run}
        return {"archive": str(self.archive.root), "jobs": jobs}


def _summary(published) -> dict:
    m = published.manifest
    return {"status": published.status, "period": m["period"], "scope": m["scope"], "version": m["version"],
            "checksum": m["checksum"]}


def service(ctx) -> list:
    """Hosted by ``hcp serve`` (opt out with ``[reports] scheduler_in_serve = false``): a BackgroundScheduler
    on the served warehouse; the catch-up runs ``serve_catch_up_delay_seconds`` after start. Route:
    ``GET /reports/scheduler`` (jobs, what they have handled, next run times)."""
    config = get_config()
    settings = SchedulerSettings.from_config(config)
    if not settings.in_serve:
        return []
    scheduler = ReportScheduler(ctx.warehouse, config=config, lang=ctx.lang)
    background = BackgroundScheduler(timezone=SHANGHAI)
    scheduler.attach(background, catch_up_delay=settings.serve_delay)
    background.start()

    def stop() -> None:
        scheduler.stop_event.set()
        background.shutdown(wait=True)

    ctx.cleanups.append(stop)

    async def status(request):
        return JSONResponse(scheduler.status(background))

    return [Route("/reports/scheduler", status, methods=["GET"])]
