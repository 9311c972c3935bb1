"""The demo province generator: one month of a province's government-service data in interchange form.

``generate(params)`` writes, into ``params.out``:

* ``regions``, ``departments``, ``items`` (the catalogue, incl. re-issued item versions);
* ``case_events-00001`` …, ``ratings-00001`` …, ``followups-00001`` … — one file per batch of
  ``chunk_cases`` cases (50,000 by default), each sorted by time;
* ``manifest.json`` — the parameters, the as-of instant, counts per record kind, what was injected,
  and every file with its row count and SHA-256.

Determinism: every random draw comes from a numpy ``Generator`` seeded by ``(seed, stream, chunk)``;
the same parameters (and the same as-of) give byte-identical files. Memory stays bounded because a
batch is simulated, written and dropped before the next one.

Injected on purpose (counted in the manifest): malformed records (``malformed_share`` of each
stream, see :mod:`hcp.demo.malformed`); exact re-sends of ``duplicate_share`` of the records of a
batch at the end of the next batch's file; ``late_share`` of the events sent late: their time is
their true time, but they arrive an hour to four days after it (:data:`LATE_DELAY_SECONDS`), so they
are written into the next batch's file (the last batch's into its own) where that file reaches their
arrival time, out of time order; cases whose item code is not in the catalogue (valid records); and
one *inconsistent* case per ``inconsistent_every`` cases (rounded up; DOMAIN.md: a completion dated
before the acceptance, see :func:`hcp.demo.cases.mistype_completions`), inside the demo month; and
labelled rating-manipulation episodes (:mod:`hcp.demo.manipulation`), whose labels go to
``labels/manipulation.json``, never into an interchange file.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from hcp.demo import GENERATOR_VERSION
from hcp.demo.cases import (COMPLETED, REJECTED, WITHDRAWN, CaseNumbers, Window, event_frame, label,
                             mistype_completions, simulate)
from hcp.demo.catalogue import build_catalogue
from hcp.demo.clock import DAY, NEVER, DemoCalendar, date_of, day_number, iso
from hcp.demo.followups import followup_frame
from hcp.demo import manipulation
from hcp.demo.malformed import Malformer, stochastic_count
from hcp.demo.ratings import draw as draw_ratings
from hcp.demo.ratings import rating_frame
from hcp.demo.writer import Writer, clear_previous_output
from hcp.settings import TIMEZONE
from hcp.workdays import CALENDAR_END, CALENDAR_START, WorkCalendar

SHANGHAI = ZoneInfo(TIMEZONE)
#: Working days of submissions before the month starts (so the month is in steady state).
LEAD_WORKING_DAYS = 22
#: Days after the month's end at which the default as-of falls.
AS_OF_GRACE_DAYS = 10
#: How late a late event arrives after it happened: log-uniform between an hour and four days.
LATE_DELAY_SECONDS = (3_600, 4 * DAY)
#: One inconsistent case (a mistyped completion date) per this many cases, rounded up.
INCONSISTENT_EVERY = 5_000


class DemoError(ValueError):
    """Parameters the generator cannot work with (the CLI shows the message)."""


@dataclass(frozen=True)
class DemoParams:
    month: str
    out: Path
    cases: int = 100_000
    seed: int = 7
    fmt: str = "jsonl"
    malformed_share: float = 0.002
    as_of: dt.datetime | None = None  # aware, or naive = Asia/Shanghai; None = the default
    chunk_cases: int = 50_000
    duplicate_share: float = 0.001
    late_share: float = 0.002
    unknown_item_share: float = 0.0005
    inconsistent_every: int = INCONSISTENT_EVERY  # 0 = none


def parse_month(month: str) -> dt.date:
    """``YYYY-MM`` → the month's first day; the month must leave room in the working-day calendar."""
    try:
        if not re.fullmatch(r"\d{4}-\d{2}", month):
            raise ValueError(month)
        start = dt.datetime.strptime(month, "%Y-%m").date()
    except ValueError:
        raise DemoError(f"month must look like 2025-10, not {month!r}") from None
    if start < dt.date(CALENDAR_START.year + 1, 1, 1) or start > dt.date(CALENDAR_END.year - 1, 12, 1):
        raise DemoError(f"month must lie between {CALENDAR_START.year + 1}-01 and {CALENDAR_END.year - 1}-12")
    return start


def next_month(start: dt.date) -> dt.date:
    return dt.date(start.year + (start.month == 12), start.month % 12 + 1, 1)


def previous_month(today: dt.date | None = None) -> str:
    """The calendar month before ``today`` (default: today in Asia/Shanghai), as ``YYYY-MM``."""
    today = today or dt.datetime.now(SHANGHAI).date()
    last = today.replace(day=1) - dt.timedelta(days=1)
    return f"{last.year:04d}-{last.month:02d}"


def resolve_as_of(value: dt.datetime | None, month_start: dt.date, now: dt.datetime | None = None) -> dt.datetime:
    """The as-of instant as a naive Asia/Shanghai wall-clock time.

    Default: the earlier of 10 days after the month's end (00:00) and now (to the minute).
    """
    if value is None:
        grace = dt.datetime.combine(next_month(month_start) + dt.timedelta(days=AS_OF_GRACE_DAYS), dt.time())
        now = (now or dt.datetime.now(SHANGHAI)).astimezone(SHANGHAI).replace(tzinfo=None, second=0, microsecond=0)
        local = min(grace, now)
    elif value.tzinfo is None:
        local = value
    else:
        local = value.astimezone(SHANGHAI).replace(tzinfo=None)
    if local < dt.datetime.combine(month_start, dt.time()):
        raise DemoError(f"as-of {local.isoformat()} is before the month starts ({month_start.isoformat()})")
    return local


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *keys]))


@dataclass
class _Carry:
    """Records held back from one batch for the next batch's files: re-sends (appended at the end) and
    late events with their arrival instants (spliced in where the file reaches them)."""

    frames: dict[str, list[pl.DataFrame]] = field(
        default_factory=lambda: {"case_event": [], "rating": [], "followup": []}
    )
    late: list[tuple[pl.DataFrame, np.ndarray]] = field(default_factory=list)

    def take(self, kind: str) -> pl.DataFrame | None:
        frames, self.frames[kind] = self.frames[kind], []
        return pl.concat(frames) if frames else None


def late_delays(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds between when ``n`` late events happened and when they arrive (:data:`LATE_DELAY_SECONDS`)."""
    lo, hi = np.log(LATE_DELAY_SECONDS[0]), np.log(LATE_DELAY_SECONDS[1])
    return np.exp(lo + rng.random(n) * (hi - lo)).astype(np.int64)


def splice_late(late: list[tuple[pl.DataFrame, np.ndarray]],
                times: np.ndarray) -> tuple[pl.DataFrame, np.ndarray] | None:
    """Late events (frames with their arrival instants) in arrival order, each with the position in a
    time-ordered stream of event ``times`` where it arrives: after every event up to its arrival."""
    late = [(f, a) for f, a in late if f.height]
    if not late:
        return None
    frame = pl.concat([f for f, _ in late])
    arrival = np.concatenate([a for _, a in late])
    order = np.argsort(arrival, kind="stable")
    return frame[order], np.searchsorted(times, arrival[order], side="right")


def inconsistent_target(every: int, first_case: int, n: int) -> int:
    """Inconsistent cases to make among cases ``first_case … first_case + n - 1`` of the run: one per
    ``every`` cases, rounded up over the whole run (so a 20,000-case run gets 4, whatever the batches)."""
    if every <= 0:
        return 0
    return -(-(first_case + n) // every) - -(-first_case // every)


def validate(params: DemoParams) -> None:
    """Raise :class:`DemoError` for parameters the generator cannot work with."""
    if params.cases < 1:
        raise DemoError("cases must be at least 1")
    if not 0 <= params.malformed_share < 0.5:
        raise DemoError("malformed share must be in [0, 0.5)")
    if params.fmt not in ("jsonl", "parquet"):
        raise DemoError(f"unknown format {params.fmt!r}")
    if params.chunk_cases < 1:
        raise DemoError("chunk size must be at least 1")
    if params.inconsistent_every < 0:
        raise DemoError("inconsistent_every must be 0 (none) or more")
    resolve_as_of(params.as_of, parse_month(params.month))


def generate(params: DemoParams, progress: Callable[[int], None] | None = None) -> dict:
    """Write the demo files and return the manifest (also written as ``manifest.json``)."""
    validate(params)
    month_start = parse_month(params.month)
    month_end = next_month(month_start)
    as_of_local = resolve_as_of(params.as_of, month_start)
    since_midnight = as_of_local - dt.datetime.combine(as_of_local.date(), dt.time())
    as_of = day_number(as_of_local.date()) * DAY + since_midnight.seconds

    work_calendar = WorkCalendar()
    cal = DemoCalendar(month_start - dt.timedelta(days=90), month_end + dt.timedelta(days=700), work_calendar)
    month_index = cal.index(np.array([day_number(month_start)]))
    first_submission = date_of(int(cal.day_of_index(month_index - LEAD_WORKING_DAYS)[0]))
    last_submission = min(month_end - dt.timedelta(days=1), as_of_local.date() - dt.timedelta(days=1))
    window = Window(month_start, month_end, first_submission, last_submission, as_of)

    out = Path(params.out)
    clear_previous_output(out)
    writer = Writer(out, params.fmt)
    malformer = Malformer(params.fmt, params.seed)
    seed = params.seed

    cat = build_catalogue(_rng(seed, 0), params.cases, month_start, first_submission)
    counts = {"region": 0, "department": 0, "item": 0, "case_event": 0, "rating": 0, "followup": 0}
    written = dict.fromkeys(counts, 0)
    catalogue = (
        ("regions", "region", cat.regions.frame()),
        ("departments", "department", cat.departments.frame(cat.regions)),
        ("items", "item", cat.frame()),
    )
    for i, (stem, kind, frame) in enumerate(catalogue):
        rng = _rng(seed, 5, 0, i)
        n_bad = max(1, stochastic_count(rng, frame.height, params.malformed_share)) if params.malformed_share else 0
        info = writer.write(writer.name(stem), kind, frame, malformer.make(kind, frame, n_bad, rng), None, rng)
        counts[kind] += frame.height
        written[kind] += info.rows

    numbers = CaseNumbers()
    next_id = {"case_event": 1, "rating": 1, "followup": 1}
    carry = _Carry()
    duplicates = {"case_event": 0, "rating": 0, "followup": 0}
    late_events = 0
    inconsistent_cases = 0
    episodes: list[dict] = []
    unknown = {"cases": 0, "case_events": 0, "ratings": 0}
    cases_stats = {"generated": 0, "completed": 0, "completed_in_month": 0, "rejected": 0, "withdrawn": 0,
                   "open_at_as_of": 0}
    month_lo, month_hi = day_number(month_start) * DAY, day_number(month_end) * DAY
    chunks = (params.cases + params.chunk_cases - 1) // params.chunk_cases

    for k in range(chunks):
        n = min(params.chunk_cases, params.cases - k * params.chunk_cases)
        batch = simulate(cat, cal, window, n, _rng(seed, 1, k), params.unknown_item_share)
        batch, mistyped = mistype_completions(
            batch, cal, window, inconsistent_target(params.inconsistent_every, k * params.chunk_cases, n),
            _rng(seed, 6, k))
        inconsistent_cases += len(mistyped)
        labels = label(batch, cat, numbers, _rng(seed, 2, k), as_of // DAY)
        events = event_frame(batch, labels, next_id["case_event"], seed)

        rng_r = _rng(seed, 3, k)
        ratings, draft = rating_frame(draw_ratings(batch, cat, cal, as_of, rng_r), batch, labels, rng_r,
                                      next_id["rating"], seed)
        bad = np.flatnonzero((draft.level <= 2) & ~draft.default)
        staff = labels.staff_id.gather(pl.Series(draft.src[bad])).to_numpy()
        followups = followup_frame(
            ratings["rating_id"].gather(pl.Series(bad, dtype=pl.Int64)), draft.t[bad], draft.cause[bad],
            draft.real_name[bad], cat.dept[batch.item[draft.src[bad]]], staff, cat, cal, as_of,
            _rng(seed, 4, k), next_id["followup"], seed,
        )
        # Labelled manipulation episodes (hcp.demo.manipulation), after the follow-ups (draft rows unchanged).
        ratings = manipulation.with_devices(ratings)
        injected, found = manipulation.inject(batch, labels, cat, cal, (month_lo, month_hi), as_of,
                                              draft.src[draft.has_case], ratings, next_id["rating"] + ratings.height,
                                              seed, _rng(seed, 7, k))
        episodes += found
        ratings = pl.concat([ratings, injected]).sort("rated_at", maintain_order=True)

        # Bookkeeping for the manifest.
        terminal = np.zeros(n, bool)
        terminal[batch.ev_case[np.isin(batch.ev_type, [COMPLETED, REJECTED, WITHDRAWN])]] = True
        comp_t = np.where(batch.completed, batch.t_comp, NEVER)
        cases_stats["generated"] += n
        cases_stats["completed"] += int(batch.completed.sum())
        cases_stats["completed_in_month"] += int(((comp_t >= month_lo) & (comp_t < month_hi)).sum())
        cases_stats["rejected"] += int(batch.rejected.sum())
        cases_stats["withdrawn"] += int(np.isin(np.arange(n), batch.ev_case[batch.ev_type == WITHDRAWN]).sum())
        cases_stats["open_at_as_of"] += int((~terminal).sum())
        unknown["cases"] += int(batch.unknown.sum())
        unknown["case_events"] += int(batch.unknown[batch.ev_case].sum())
        unknown["ratings"] += int(batch.unknown[draft.src].sum())

        last = k == chunks - 1
        rng_i = _rng(seed, 5, k + 1)
        for stem, kind, frame in (("case_events", "case_event", events), ("ratings", "rating", ratings),
                                  ("followups", "followup", followups)):
            next_id[kind] += frame.height
            counts[kind] += frame.height
            held: list[pl.DataFrame] = []
            inserted = None
            if kind == "case_event":
                late = np.zeros(frame.height, bool)
                if params.late_share and frame.height:
                    late[rng_i.choice(frame.height, size=stochastic_count(rng_i, frame.height, params.late_share),
                                      replace=False)] = True
                late_events += int(late.sum())
                # Row i of the event frame is event i of the batch (same order), so its time is ev_time[i].
                arriving = (frame.filter(pl.Series(late)), batch.ev_time[late] + late_delays(rng_i, int(late.sum())))
                frame_out = frame.filter(pl.Series(~late))
                waiting, carry.late = carry.late, []
                if last:  # nothing comes after: this batch's late events arrive in its own file
                    waiting.append(arriving)
                else:
                    carry.late.append(arriving)
                inserted = splice_late(waiting, batch.ev_time[~late])
            else:
                frame_out = frame
            if params.duplicate_share and frame.height:
                m = stochastic_count(rng_i, frame.height, params.duplicate_share)
                dup = np.sort(rng_i.choice(frame.height, size=m, replace=False))
                held.append(frame[dup])
                duplicates[kind] += m
            bad_records = malformer.make(kind, frame, stochastic_count(rng_i, frame.height, params.malformed_share),
                                         rng_i)
            previous = carry.take(kind)
            if last:  # nothing comes after: re-sends and late events go to the end of this file
                tail = [f for f in (previous, *held) if f is not None and f.height]
            else:
                carry.frames[kind].extend(f for f in held if f.height)
                tail = [previous] if previous is not None and previous.height else []
            appended = pl.concat(tail) if tail else None
            info = writer.write(writer.name(stem, k + 1), kind, frame_out, bad_records, appended, rng_i, inserted)
            written[kind] += info.rows
        if progress:
            progress(n)

    manifest = {
        "generator": "hcp.demo",
        "generator_version": GENERATOR_VERSION,
        "parameters": {
            "month": params.month, "cases": params.cases, "seed": params.seed, "format": params.fmt,
            "malformed_share": params.malformed_share, "as_of": iso(as_of),
            "chunk_cases": params.chunk_cases, "duplicate_share": params.duplicate_share,
            "late_share": params.late_share, "unknown_item_share": params.unknown_item_share,
            "inconsistent_every": params.inconsistent_every,
        },
        "as_of": iso(as_of),
        "period": {
            "month_start": month_start.isoformat(), "month_end": (month_end - dt.timedelta(days=1)).isoformat(),
            "first_submission": first_submission.isoformat(), "last_submission": last_submission.isoformat(),
        },
        "counts": counts,
        "lines_written": written,
        "cases": cases_stats,
        "injected": {
            "malformed": malformer.summary(),
            "duplicates": duplicates,
            "late_events": late_events,
            "inconsistent_cases": inconsistent_cases,
            "unknown_item": unknown,
            "item_reissues": int((cat.reissue_day < NEVER).sum()),
            "manipulation": {"episodes": len(episodes), "ratings": sum(e["ratings"] for e in episodes),
                             "labels": f"{manipulation.LABELS_DIR}/{manipulation.LABELS_FILE}"},
        },
        "provisional_calendar_years": [
            y for y in work_calendar.provisional_years if first_submission.year <= y <= as_of_local.year
        ],
        "files": [f.as_dict() for f in writer.files],
    }
    manipulation.write_labels(out, episodes, seed)
    writer.manifest(manifest)
    return manifest


__all__ = ["DemoError", "DemoParams", "generate", "validate", "parse_month", "previous_month", "resolve_as_of"]
