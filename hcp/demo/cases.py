"""Cases (办件) and their lifecycle events, simulated a batch at a time with numpy.

The lifecycle (DOMAIN.md): submitted → [supplement_requested → supplement_received] → accepted or
rejected → [suspended → resumed, or a supplement after acceptance] → completed (approved/denied) →
[delivered]; withdrawn ends a case early. The rules the simulation keeps:

* **Submission.** Spread over the working days from about 22 working days before the month to its
  end, so the month is in steady state. Window, self-service, mail and agent submissions happen in
  window hours on working days; online and mobile ones at any hour of any day.
* **Acceptance.** At the window on the spot (hall, agent), otherwise 0–3 working days later in
  window hours. About 13.5 % of cases get a supplement request before acceptance (the applicant comes
  back or uploads 1–5 working days later); about 3 % are rejected instead, 1.5 % withdrawn.
* **The clock** (DOMAIN.md rules 1–3): completion happens ``u`` counted working days after the
  acceptance date, where ``u ≤ L`` (the promised limit of the catalogue version in force on the
  acceptance date) except for the department's overdue share, which runs 1+ working days over.
  Immediate items (L = 0) are completed the same day. A suspension (~5 %) or a supplement after
  acceptance (~2 %) stops the clock: the working days ``s < d ≤ r`` are added to the calendar time.
* **Trips.** One visit is one ``onsite`` event: a window submission, bringing supplements in person,
  an on-site identity check for some online cases, picking up the result. Events at the window carry
  the ``staff_id`` of the case's window officer and fall in window hours on working days.
* **As-of.** Nothing after the as-of instant is emitted: some cases are still open (a few already
  past their deadline, some still suspended), and withdrawn cases lose every later event.
* **Clerical errors.** :func:`mistype_completions` dates the completion of a few cases 1–3 working
  days before their acceptance (inconsistent cases, DOMAIN.md), inside the demo month.

Everything is vectorised over the batch: a numpy array per attribute, a mask per event type.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

import numpy as np
import polars as pl

from hcp.demo.catalogue import Catalogue
from hcp.demo.clock import (DAY, NEVER, DemoCalendar, choose, day_number, iso_expr, online_seconds, staff_step,
                            window_seconds)
from hcp.domain import CASE_CHANNELS, EVENT_TYPES
from hcp.demo.item_templates import TYPE_ABBR, XK
from hcp.demo.people import credit_codes, org_names, people
from hcp.demo.regions import OUTSIDE_COUNTIES

CHANNELS = tuple(CASE_CHANNELS)
ONLINE, MOBILE, HALL, SELF_SERVICE, MAIL, AGENT = (CHANNELS.index(c) for c in
                                                    ("online", "mobile", "hall", "self_service", "mail", "agent"))
EVENTS = tuple(EVENT_TYPES)
(SUBMITTED, SUPP_REQUESTED, SUPP_RECEIVED, ACCEPTED, REJECTED, SUSPENDED, RESUMED, COMPLETED, DELIVERED,
 WITHDRAWN) = (EVENTS.index(e) for e in ("submitted", "supplement_requested", "supplement_received", "accepted",
                                          "rejected", "suspended", "resumed", "completed", "delivered", "withdrawn"))

#: Shares of the lifecycle (see the module docstring).
PRE_SUPPLEMENT = 0.135
POST_SUPPLEMENT = 0.03
SUSPENSION = 0.11  # of the cases long enough to be suspended (≈ 5 % of accepted cases)
REJECTION, REJECTION_AFTER_SUPPLEMENT = 0.025, 0.08
WITHDRAWAL = 0.015


@dataclass(frozen=True)
class Window:
    """The demo period: submissions between ``first_submission`` and ``last_submission`` (dates), and
    the as-of instant (demo seconds) after which nothing is emitted."""

    month_start: dt.date
    next_month: dt.date
    first_submission: dt.date
    last_submission: dt.date
    as_of: int


@dataclass
class CaseBatch:
    """One batch of cases: per-case arrays (row = case) and the emitted events (row = event)."""

    n: int
    item: np.ndarray
    unknown: np.ndarray  # the case's item code is not in the catalogue
    channel: np.ndarray
    staff: np.ndarray  # window officer number within the department (1…)
    org: np.ndarray  # the applicant is an organisation
    t_sub: np.ndarray
    t_acc: np.ndarray  # acceptance (or rejection) instant
    t_comp: np.ndarray  # completion instant (NEVER if the case is never completed)
    completed: np.ndarray  # a completed event was emitted
    rejected: np.ndarray  # a rejected event was emitted
    accepted: np.ndarray  # an accepted event was emitted
    overdue: np.ndarray
    t_present: np.ndarray  # when the applicant is at the window after completion (NEVER if not)
    trips: np.ndarray  # onsite events emitted
    ev_case: np.ndarray = field(repr=False)
    ev_type: np.ndarray = field(repr=False)
    ev_time: np.ndarray = field(repr=False)
    ev_onsite: np.ndarray = field(repr=False)
    ev_staff: np.ndarray = field(repr=False)
    ev_result: np.ndarray = field(repr=False)  # 1 approved, 2 denied on completed events, else 0


class _Events:
    """Collects events mask by mask."""

    def __init__(self, n: int):
        self.n = n
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(self, mask, etype: int, t, onsite=False, staff=False, result=0) -> None:
        idx = np.flatnonzero(mask)
        full = lambda v, dtype: np.broadcast_to(np.asarray(v, dtype=dtype), (self.n,))[idx]  # noqa: E731
        self.parts.append((idx, np.full(len(idx), etype, np.int8), t[idx], full(onsite, bool), full(staff, bool),
                           full(result, np.int8)))

    def arrays(self) -> tuple[np.ndarray, ...]:
        return tuple(np.concatenate(col) for col in zip(*self.parts))


def simulate(cat: Catalogue, cal: DemoCalendar, win: Window, n: int, rng: np.random.Generator,
             unknown_share: float = 0.0005) -> CaseBatch:
    """Simulate ``n`` cases and the events that have happened by ``win.as_of``."""
    depts = cat.departments
    item = rng.choice(cat.size, size=n, p=cat.weight)
    region, dept = cat.region[item], cat.dept[item]

    # Channel: online where the item allows it (depth ≥ 3), at the region's online share.
    go_online = (cat.depth[item] >= 3) & (rng.random(n) < cat.online_share[region])
    online_kind = np.where(rng.random(n) < 0.45, MOBILE, ONLINE)
    offline_kind = choose(rng, n, [HALL, SELF_SERVICE, MAIL, AGENT], [0.78, 0.08, 0.04, 0.10])
    channel = np.where(go_online, online_kind, offline_kind).astype(np.int8)
    at_window = (channel == HALL) | (channel == AGENT)
    in_hall = (channel == HALL) | (channel == SELF_SERVICE)

    # Submission.
    all_days = np.arange(day_number(win.first_submission), day_number(win.last_submission) + 1)
    weights = np.where(cal.is_working(all_days), 1.0, 0.45)
    online_day = rng.choice(all_days, size=n, p=weights / weights.sum())
    work_days = cal.working_days_between(win.first_submission, win.last_submission)
    hall_day = work_days[rng.integers(0, len(work_days), n)]
    t_sub = np.where(go_online, online_day * DAY + online_seconds(rng, n), hall_day * DAY + window_seconds(rng, n))

    # Supplements before acceptance (一次性告知 at the window, or a notice online).
    pre = rng.random(n) < PRE_SUPPLEMENT
    t_req = np.where(at_window, t_sub + rng.integers(240, 1200, n),
                     staff_step(cal, rng, t_sub, choose(rng, n, [0, 1, 2], [0.5, 0.4, 0.1])))
    t_rec = staff_step(cal, rng, t_req, rng.integers(1, 6, n))
    rec_onsite = pre & np.where(in_hall, rng.random(n) < 0.8, (channel != AGENT) & (rng.random(n) < 0.1))
    t_ready = np.where(pre, t_rec, t_sub)

    # Acceptance at the window during the visit, otherwise by the back office.
    same_visit = at_window & (~pre | rec_onsite)
    k_acc = choose(rng, n, [0, 1, 2, 3], [0.45, 0.40, 0.12, 0.03])
    k_acc = np.where(channel == MAIL, np.maximum(k_acc, 1), k_acc)
    t_acc = np.where(same_visit, t_ready + rng.integers(180, 1500, n), staff_step(cal, rng, t_ready, k_acc))
    acc_day = t_acc // DAY

    fate = rng.random(n)
    p_reject = np.where(pre, REJECTION_AFTER_SUPPLEMENT, REJECTION)
    rejected = fate < p_reject
    withdrawn = (fate >= p_reject) & (fate < p_reject + WITHDRAWAL)
    withdrawn_early = withdrawn & ~same_visit & (rng.random(n) < 0.4)
    accepted = ~rejected & ~withdrawn_early
    verify = accepted & go_online & (cat.max_trips[item] >= 1) & (rng.random(n) < 0.5)  # 现场核验

    # Working days used: mostly within the promised limit, the department's overdue share beyond it.
    limit = cat.promised_on(item, acc_day)
    overdue = rng.random(n) < depts.overdue_p[dept] * np.where(limit == 0, 0.3, 1.0)
    early = 1 + np.floor(rng.beta(1.6, 2.2, n) * limit).astype(np.int64)
    on_time = np.where((limit == 0) | (rng.random(n) < 0.12), 0, np.minimum(early, limit))
    used = np.where(overdue, limit + rng.geometric(0.22, n), on_time)

    # Clock stops after acceptance: a suspension (特别程序) or a supplement request.
    a_index = cal.index(acc_day)
    eligible = accepted & (used >= 2)
    suspended = eligible & (limit >= 5) & (rng.random(n) < SUSPENSION)
    post_supp = eligible & ~suspended & (rng.random(n) < POST_SUPPLEMENT)
    stop_at = 1 + np.floor(rng.random(n) * np.maximum(used - 1, 1)).astype(np.int64)
    long_review = rng.random(n) < 0.08  # hearings, expert reviews: some are still suspended at as-of
    duration = np.where(suspended, np.where(long_review, rng.integers(20, 41, n), rng.integers(3, 16, n)),
                        np.where(post_supp, rng.integers(1, 7, n), 0))
    t_stop = cal.day_of_index(a_index + stop_at) * DAY + window_seconds(rng, n)
    t_restart = cal.day_of_index(a_index + stop_at + duration) * DAY + window_seconds(rng, n)
    restart_onsite = post_supp & np.where(in_hall | at_window, rng.random(n) < 0.7, rng.random(n) < 0.1)

    # Completion on the working day whose count reaches `used` after the stops are added back.
    comp_day = cal.day_of_index(a_index + used + duration)
    same_day = comp_day == acc_day
    t_comp = np.where(same_day, t_acc + rng.integers(300, 5400, n), comp_day * DAY + window_seconds(rng, n))
    denied = rng.random(n) < np.where(cat.item_type[item] == XK, 0.04, 0.015)

    # Withdrawal: between the last step and the next one.
    frac = rng.random(n)
    t_wd = np.where(withdrawn_early, t_ready + 1 + (frac * (t_acc - t_ready - 2)).astype(np.int64),
                    t_acc + 1 + (frac * (t_comp - t_acc - 2)).astype(np.int64))
    t_end = np.where(withdrawn, t_wd, NEVER)

    # Delivery: picking the result up at the window (a trip, unless it is the same visit) or by post.
    deliver = accepted & ~withdrawn & (rng.random(n) < np.where(denied, 0.25, 0.8))
    pickup = deliver & (rng.random(n) < np.select([in_hall | at_window, go_online], [0.55, 0.12], 0.05))
    still_there = pickup & same_visit & same_day
    t_del = np.where(
        still_there, t_comp + rng.integers(60, 600, n),
        np.where(pickup, staff_step(cal, rng, t_comp, rng.integers(1, 6, n)),
                 staff_step(cal, rng, t_comp, choose(rng, n, [0, 1, 2, 3], [0.3, 0.4, 0.2, 0.1]))),
    )
    del_onsite = pickup & ~still_there

    ev = _Events(n)
    ev.add(np.ones(n, bool), SUBMITTED, t_sub, onsite=in_hall, staff=at_window)
    ev.add(pre, SUPP_REQUESTED, t_req, staff=pre & at_window)
    ev.add(pre, SUPP_RECEIVED, t_rec, onsite=rec_onsite, staff=rec_onsite)
    ev.add(accepted, ACCEPTED, t_acc, onsite=verify, staff=same_visit | verify)
    ev.add(rejected, REJECTED, t_acc, staff=same_visit)
    ev.add(suspended, SUSPENDED, t_stop)
    ev.add(suspended, RESUMED, t_restart)
    ev.add(post_supp, SUPP_REQUESTED, t_stop)
    ev.add(post_supp, SUPP_RECEIVED, t_restart, onsite=restart_onsite, staff=restart_onsite)
    ev.add(accepted, COMPLETED, t_comp, staff=same_visit & same_day, result=np.where(denied, 2, 1))
    ev.add(deliver, DELIVERED, t_del, onsite=del_onsite, staff=pickup)
    ev.add(withdrawn, WITHDRAWN, t_wd)
    e_case, e_type, e_time, e_onsite, e_staff, e_result = ev.arrays()

    keep = (e_time <= win.as_of) & ((e_time <= t_end[e_case]) | (e_type == WITHDRAWN))
    e_case, e_type, e_time, e_onsite, e_staff, e_result = (
        a[keep] for a in (e_case, e_type, e_time, e_onsite, e_staff, e_result))
    order = np.lexsort((e_type, e_case, e_time))
    e_case, e_type, e_time, e_onsite, e_staff, e_result = (
        a[order] for a in (e_case, e_type, e_time, e_onsite, e_staff, e_result))

    emitted = lambda etype: np.bincount(e_case[e_type == etype], minlength=n) > 0  # noqa: E731
    completed = emitted(COMPLETED)
    present = np.where(del_onsite | still_there, t_del, np.where(same_visit & same_day, t_comp, NEVER))

    unknown = np.zeros(n, bool)
    if unknown_share > 0 and n:
        unknown[rng.choice(n, size=max(1, int(round(n * unknown_share))), replace=False)] = True

    return CaseBatch(
        n=n, item=item, unknown=unknown, channel=channel,
        staff=1 + np.floor(rng.random(n) * depts.n_staff[dept]).astype(np.int64),
        org=rng.random(n) < np.where(cat.item_type[item] == XK, 0.6, 0.1),
        t_sub=t_sub, t_acc=t_acc, t_comp=np.where(accepted & ~withdrawn, t_comp, NEVER),
        completed=completed, rejected=emitted(REJECTED), accepted=emitted(ACCEPTED), overdue=overdue,
        t_present=np.where(completed, present, NEVER),
        trips=np.bincount(e_case[e_onsite], minlength=n),
        ev_case=e_case, ev_type=e_type, ev_time=e_time, ev_onsite=e_onsite, ev_staff=e_staff, ev_result=e_result,
    )


#: How far before the acceptance a mistyped completion is dated: 1–3 working days (a clerical slip).
MISTYPED_WORKING_DAYS = (1, 3)


def mistype_completions(batch: CaseBatch, cal: DemoCalendar, win: Window, count: int,
                        rng: np.random.Generator) -> tuple[CaseBatch, np.ndarray]:
    """Make ``count`` cases *inconsistent* on purpose (DOMAIN.md): their ``completed`` event is dated
    1–3 working days before their acceptance, as a clerk mistyping the completion date would.

    Only cases whose every event falls inside the demo month (``month_start`` ≤ t < ``next_month``), and
    whose mistyped date does too, are chosen, so the error never creates an event in another month. The
    typed time is in window hours on a working day; everything else (the true completion instant that
    ratings and delivery follow, trips) is unchanged. Returns the batch with the events re-sorted and the
    indices of the chosen cases (fewer than ``count`` if the batch has too few candidates).
    """
    lo, hi = day_number(win.month_start) * DAY, day_number(win.next_month) * DAY
    n = batch.n
    outside = np.bincount(batch.ev_case[(batch.ev_time < lo) | (batch.ev_time >= hi)], minlength=n) > 0
    acc_day = np.where(batch.accepted, batch.t_acc, 0) // DAY
    back = rng.integers(MISTYPED_WORKING_DAYS[0], MISTYPED_WORKING_DAYS[1] + 1, n)
    typed_day = cal.day_of_index(cal.index(acc_day) - back)
    typed = typed_day * DAY + window_seconds(rng, n)
    candidates = np.flatnonzero(batch.completed & batch.accepted & ~outside & (typed >= lo))
    if count <= 0 or len(candidates) == 0:
        return batch, np.zeros(0, np.int64)
    chosen = np.sort(rng.choice(candidates, size=min(count, len(candidates)), replace=False))
    mark = np.zeros(n, bool)
    mark[chosen] = True
    ev_time = batch.ev_time.copy()
    hit = (batch.ev_type == COMPLETED) & mark[batch.ev_case]
    ev_time[hit] = typed[batch.ev_case[hit]]
    order = np.lexsort((batch.ev_type, batch.ev_case, ev_time))
    moved = {name: getattr(batch, name)[order] for name in
             ("ev_case", "ev_type", "ev_onsite", "ev_staff", "ev_result")}
    return replace(batch, ev_time=ev_time[order], **moved), chosen


class CaseNumbers:
    """Case numbers ``<county6>-<YYYY>-<MM>-<7-digit sequence>``: a running sequence per handling region
    and submission month, continued across batches (so numbers are unique)."""

    def __init__(self):
        self.used: dict[tuple[str, str], int] = {}

    def assign(self, region6: np.ndarray, t_sub: np.ndarray) -> pl.Series:
        month = pl.from_epoch(pl.Series(t_sub), time_unit="s").dt.strftime("%Y-%m")
        frame = pl.DataFrame({"r": region6, "m": month, "t": t_sub, "i": np.arange(len(t_sub))})
        offsets = pl.DataFrame(
            {"r": [k[0] for k in self.used], "m": [k[1] for k in self.used], "o": list(self.used.values())},
            schema={"r": pl.String, "m": pl.String, "o": pl.Int64},
        )
        numbered = (
            frame.sort("t", "i")
            .with_columns(seq=pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("r", "m"))
            .join(offsets, on=["r", "m"], how="left")
            .with_columns(seq=pl.col("seq") + pl.col("o").fill_null(0))
            .sort("i")
        )
        for r, m, top in numbered.group_by("r", "m").agg(pl.col("seq").max()).iter_rows():
            self.used[(r, m)] = int(top)
        return numbered.select(
            pl.concat_str("r", pl.lit("-"), pl.col("m"), pl.lit("-"), pl.col("seq").cast(pl.String).str.zfill(7))
        ).to_series()


@dataclass(frozen=True)
class CaseLabels:
    """The per-case strings every record of the case repeats."""

    case_id: pl.Series
    item_code: pl.Series
    item_name: pl.Series
    dept_code: pl.Series
    region_code: pl.Series
    staff_id: pl.Series
    applicant: pl.Series  # struct type/name/id_number/phone
    person: pl.DataFrame  # the person behind the case (the applicant, or an organisation's contact)


def unknown_code(code: str, k: int) -> str:
    """An item code of the same shape that the catalogue does not have (basic number 9xx)."""
    return f"{code[:6]}-{TYPE_ABBR[XK]}-{code[-6:-3]}9{k % 100:02d}"


def label(batch: CaseBatch, cat: Catalogue, numbers: CaseNumbers, rng: np.random.Generator,
          as_of_day: int) -> CaseLabels:
    """Case numbers, codes, window officers and the (fake) applicant of every case in the batch."""
    regions, depts = cat.regions, cat.departments
    item, n = batch.item, batch.n
    region = cat.region[item]
    region6 = np.array([c[:6] for c in regions.code])[region]
    codes = cat.code[item].copy()
    for k, i in enumerate(np.flatnonzero(batch.unknown)):  # a handful per batch
        codes[i] = unknown_code(codes[i], int(rng.integers(0, 100)) + k)
    dept = cat.dept[item]

    counties = np.array([int(c[:6]) for c, lvl in zip(regions.code, regions.level) if lvl == 3])
    home = np.where(regions.level[region] == 3, region6.astype(np.int64), counties[rng.integers(0, len(counties), n)])
    person = people(rng, home, counties, np.array(OUTSIDE_COUNTIES, dtype=np.int64), as_of_day)
    # Regular applicants: about 12 % of cases come from someone seen earlier in the batch.
    repeat = np.flatnonzero(rng.random(n) < 0.12)
    source = np.arange(n)
    source[repeat] = rng.integers(0, n, len(repeat))
    person = person[source]
    org = batch.org[source]
    city_short = np.array([str(regions.name[regions.city_of[r]]).removesuffix("市") for r in range(regions.size)])
    org_name = org_names(rng, np.where(region == 0, "山东", city_short[region]))[source]
    org_code = credit_codes(home, rng)[source]

    frame = pl.DataFrame(
        {"org": org, "oname": org_name, "ocode": org_code, "pname": person["name"],
         "pid": person["id_number"], "phone": person["phone"]}
    )
    applicant = frame.select(
        pl.struct(
            type=pl.when("org").then(pl.lit("org")).otherwise(pl.lit("person")),
            name=pl.when("org").then("oname").otherwise("pname"),
            id_number=pl.when("org").then("ocode").otherwise("pid"),
            phone="phone",
        ).alias("applicant")
    ).to_series()
    staff_id = pl.DataFrame({"p": depts.staff_prefix[dept], "k": batch.staff}).select(
        pl.concat_str("p", pl.col("k").cast(pl.String).str.zfill(2))
    ).to_series()
    return CaseLabels(
        case_id=numbers.assign(region6, batch.t_sub),
        item_code=pl.Series(codes), item_name=pl.Series(cat.name[item]),
        dept_code=pl.Series(depts.code[dept]), region_code=pl.Series(regions.code[region]),
        staff_id=staff_id, applicant=applicant, person=person,
    )


def record_id_expr(letter: str, seed: int, number: str = "n") -> pl.Expr:
    """Record ids ``<letter><seed, 2 digits><number, 12 digits>`` (``E07000000000123``) from the Int64
    column ``number``. Malformed copies get ``<letter><seed>X<11 digits>`` (:mod:`hcp.demo.malformed`)."""
    return pl.concat_str(pl.lit(f"{letter}{seed:02d}"), pl.col(number).cast(pl.String).str.zfill(12))


EVENT_SCHEMA = {
    "kind": pl.String, "event_id": pl.String, "case_id": pl.String, "event_type": pl.String,
    "event_time": pl.String, "item_code": pl.String, "dept_code": pl.String, "region_code": pl.String,
    "channel": pl.String, "onsite": pl.Boolean, "result": pl.String, "staff_id": pl.String,
    "applicant": pl.Struct({"type": pl.String, "name": pl.String, "id_number": pl.String, "phone": pl.String}),
}


def event_frame(batch: CaseBatch, labels: CaseLabels, first_id: int, seed: int) -> pl.DataFrame:
    """The ``case_event`` records of the batch in time order, with ids ``E<seed><12-digit number>``.

    ``channel`` is set on submitted events, ``result`` on completed ones, ``applicant`` on submitted
    ones (the application form); ``staff_id`` on events at the window. Absent fields are null.
    """
    c = pl.Series(batch.ev_case)
    n_ev = len(batch.ev_case)
    e = pl.Series(batch.ev_type)
    frame = pl.DataFrame(
        {
            "n": pl.int_range(first_id, first_id + n_ev, eager=True, dtype=pl.Int64),
            "e": e,
            "t": batch.ev_time,
            "case_id": labels.case_id.gather(c),
            "event_type": pl.Series(EVENTS).gather(e),
            "item_code": labels.item_code.gather(c),
            "dept_code": labels.dept_code.gather(c),
            "region_code": labels.region_code.gather(c),
            "ch": pl.Series(CHANNELS).gather(pl.Series(batch.channel).gather(c)),
            "onsite": batch.ev_onsite,
            "res": pl.Series(["", "approved", "denied"]).gather(pl.Series(batch.ev_result)),
            "staff": labels.staff_id.gather(c),
            "has_staff": batch.ev_staff,
            "app": labels.applicant.gather(c),
        }
    )
    return frame.select(
        kind=pl.lit("case_event"),
        event_id=record_id_expr("E", seed),
        case_id="case_id",
        event_type="event_type",
        event_time=iso_expr("t"),
        item_code="item_code",
        dept_code="dept_code",
        region_code="region_code",
        channel=pl.when(pl.col("e") == SUBMITTED).then("ch"),
        onsite="onsite",
        result=pl.when(pl.col("e") == COMPLETED).then("res"),
        staff_id=pl.when("has_staff").then("staff"),
        applicant=pl.when(pl.col("e") == SUBMITTED).then("app"),
    )
