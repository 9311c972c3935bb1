"""Ratings (评价) of the simulated cases.

The rules the simulation keeps:

* **Who rates.** A completed case is rated by its applicant with the region's coverage (60–85 %,
  by city); a few rejected cases are rated too (mostly badly). Cities that practise 一事多评 also
  collect a rating at acceptance for some cases (``stage`` ``accepted``/``completed``); elsewhere
  ``stage`` is absent. Hall evaluation devices also record a few ratings of a window with no case.
* **Default ratings.** In the cities whose platform writes them, most completed cases the applicant
  did not rate get a system-written level 5 on ``sms``/``pc`` five working days after completion,
  at night, with ``default_rating: true`` (not the applicant's voice).
* **Channel and time.** Applicants still at the window rate on the evaluation device (or QR code,
  kiosk) minutes after completion or pick-up; others rate by SMS link, app, mini program or PC after a
  delay of minutes to days. ``rated_at`` is after completion (after acceptance for stage accepted).
* **Level.** Good (4–5) above 95 %; bad (1–2) around 1 %, several times likelier when the case ran
  overdue, needed two or more trips or was rejected, and scaled by the department's bad-rating trait.
  Each bad rating has a cause (efficiency, attitude, materials, trips, system, policy, other) and
  usually a comment (composed, :mod:`hcp.demo.texts`) and tags that match it. Real-name ratings carry the rater (applicant or an
  organisation's contact person).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from hcp.demo.cases import AGENT, HALL, MOBILE, ONLINE, SELF_SERVICE, CaseBatch, CaseLabels, record_id_expr
from hcp.demo.catalogue import Catalogue
from hcp.demo.clock import DAY, NEVER, DemoCalendar, choose, iso_expr
from hcp.demo.texts import (BAD_COMMENTS, BAD_NO_TAG_SHARE, BAD_TAGS, CAUSES, GOOD_TAGS, MIDDLING_COMMENTS,
                            MIDDLING_TAGS, PLAN_COLUMNS, PRAISE, bad_comment_expr, bad_comment_plan, flat)
from hcp.domain import RATING_CHANNELS

RATING_CHANNEL_LIST = tuple(RATING_CHANNELS)
PC, APP, MINI, SMS, DEVICE, QR, HOTLINE, KIOSK = (RATING_CHANNEL_LIST.index(c) for c in (
    "pc", "mobile_app", "mini_program", "sms", "hall_device", "qr_code", "hotline", "self_service"))
#: Chance that a rating on each channel is real-name (实名), in RATING_CHANNEL_LIST order.
REAL_NAME = np.array([0.98, 0.98, 0.95, 0.85, 0.35, 0.6, 0.8, 0.7])
STAGES = ("", "accepted", "completed")
NO_STAGE, STAGE_ACCEPTED, STAGE_COMPLETED = 0, 1, 2
BASE_BAD = 0.006
NO_CASE_SHARE = 0.02


@dataclass
class RatingDraft:
    """Ratings as arrays (row = rating). ``src`` is the case the rating is about; ``has_case`` is false for
    window ratings that name no case (they borrow the window, item and staff of ``src``)."""

    src: np.ndarray
    has_case: np.ndarray
    t: np.ndarray
    channel: np.ndarray
    level: np.ndarray
    stage: np.ndarray
    default: np.ndarray
    real_name: np.ndarray
    at_window: np.ndarray
    cause: np.ndarray  # index into CAUSES for bad ratings, -1 otherwise

    def take(self, idx: np.ndarray) -> "RatingDraft":
        return RatingDraft(**{k: v[idx] for k, v in self.__dict__.items()})


def _case_channel(rng: np.random.Generator, case_channel: np.ndarray, present: np.ndarray) -> np.ndarray:
    n = len(case_channel)
    at_window = choose(rng, n, [DEVICE, QR, KIOSK, SMS], [0.70, 0.18, 0.05, 0.07])
    web = choose(rng, n, [PC, APP, MINI, SMS, HOTLINE], [0.45, 0.20, 0.15, 0.17, 0.03])
    phone = choose(rng, n, [APP, MINI, SMS, HOTLINE], [0.50, 0.30, 0.17, 0.03])
    other = choose(rng, n, [SMS, APP, MINI, PC, HOTLINE], [0.55, 0.15, 0.15, 0.10, 0.05])
    return np.where(present, at_window,
                    np.where(case_channel == ONLINE, web, np.where(case_channel == MOBILE, phone, other)))


def _delay(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds between the event and a remote rating: minutes to days (median about 3 hours)."""
    return np.clip(rng.lognormal(np.log(3 * 3600), 1.3, n), 600, 20 * DAY).astype(np.int64)


def draw(batch: CaseBatch, cat: Catalogue, cal: DemoCalendar, as_of: int, rng: np.random.Generator) -> RatingDraft:
    """Every rating given by ``as_of`` for the cases of the batch (unordered)."""
    n = batch.n
    region, dept = cat.region[batch.item], cat.dept[batch.item]
    multi = cat.multi_stage[region]
    parts: list[dict[str, np.ndarray]] = []

    def part(mask, t, channel, stage, default=False, has_case=True, at_window=None, src=None):
        idx = np.flatnonzero(mask)
        k = len(idx)
        full = lambda v, dt: np.broadcast_to(np.asarray(v, dtype=dt), (n,))[idx]  # noqa: E731
        parts.append({
            "src": idx if src is None else src[idx], "t": t[idx], "channel": channel[idx].astype(np.int8),
            "stage": full(stage, np.int8), "default": full(default, bool), "has_case": full(has_case, bool),
            "at_window": np.isin(channel[idx], [DEVICE, QR, KIOSK]) if at_window is None else full(at_window, bool),
        })
        return k

    # Completion ratings by the applicant.
    present = batch.t_present < NEVER
    channel = _case_channel(rng, batch.channel, present)
    at_device = present & np.isin(channel, [DEVICE, QR, KIOSK])
    t_rate = np.where(at_device, batch.t_present + rng.integers(30, 600, n), batch.t_comp + _delay(rng, n))
    rated = batch.completed & (rng.random(n) < cat.coverage[region])
    stage_c = np.where(multi, STAGE_COMPLETED, NO_STAGE)
    part(rated, t_rate, channel, stage_c)

    # 一事多评: some cases in those cities are also rated at acceptance.
    at_window = (batch.channel == HALL) | (batch.channel == AGENT)
    ch_acc = _case_channel(rng, batch.channel, at_window)
    at_dev_acc = at_window & np.isin(ch_acc, [DEVICE, QR, KIOSK])
    t_acc_rate = batch.t_acc + np.where(at_dev_acc, rng.integers(30, 600, n), _delay(rng, n))
    part(multi & batch.accepted & (rng.random(n) < 0.3), t_acc_rate, ch_acc, STAGE_ACCEPTED)

    # Some rejected applicants rate (mostly badly).
    ch_rej = _case_channel(rng, batch.channel, at_window)
    t_rej_rate = batch.t_acc + np.where(at_window & np.isin(ch_rej, [DEVICE, QR, KIOSK]),
                                        rng.integers(30, 600, n), _delay(rng, n))
    part(batch.rejected & (rng.random(n) < 0.1), t_rej_rate, ch_rej, NO_STAGE)

    # Default good ratings where the platform writes them: 5 working days after completion, at night.
    comp_day = np.where(batch.completed, batch.t_comp, 0) // DAY
    t_default = cal.add(comp_day, 5) * DAY + 22 * 3600 + rng.integers(0, 3600, n)
    ch_default = np.where(rng.random(n) < 0.6, SMS, PC)
    part(batch.completed & ~rated & cat.default_rating[region] & (rng.random(n) < 0.8),
         t_default, ch_default, stage_c, default=True, at_window=False)

    # Window ratings that name no case (评价器 at a window, someone who came to ask).
    hall_cases = np.flatnonzero(batch.channel == HALL)
    m = int(round(NO_CASE_SHARE * rated.sum())) if len(hall_cases) else 0
    if m:
        src = hall_cases[rng.integers(0, len(hall_cases), m)]
        holder = np.zeros(n, bool)
        holder[:m] = True
        src_full = np.zeros(n, np.int64)
        src_full[:m] = src
        t_full = np.zeros(n, np.int64)
        t_full[:m] = batch.t_sub[src] + rng.integers(60, 900, m)
        part(holder, t_full, np.full(n, DEVICE), NO_STAGE, has_case=False, at_window=True, src=src_full)

    d = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    d = {k: v[d["t"] <= as_of] for k, v in d.items()}
    rows = len(d["t"])
    src = d["src"]
    is_rejected = batch.rejected[src] & d["has_case"] & (d["stage"] == NO_STAGE) & ~batch.completed[src]

    # Level: good dominates; bad likelier after overdue, repeated trips, rejection; department trait.
    p_bad = BASE_BAD * cat.departments.bad_mult[dept[src]]
    p_bad = p_bad * np.where(batch.overdue[src] & batch.completed[src], 8.0, 1.0)
    p_bad = p_bad * np.where(batch.trips[src] >= 2, 2.0, 1.0) * np.where(is_rejected, 25.0, 1.0)
    p_bad = np.clip(p_bad, 0, 0.6)
    p_mid = 0.02 * np.where(batch.overdue[src], 3.0, 1.0)
    u = rng.random(rows)
    level = np.where(u < p_bad, np.where(rng.random(rows) < 0.45, 1, 2),
                     np.where(u < p_bad + p_mid, 3, np.where(u < p_bad + p_mid + 0.09, 4, 5)))
    level = np.where(d["default"], 5, level).astype(np.int64)

    # Cause of a bad rating, from what happened to the case.
    w = np.tile(np.array([0.15, 0.15, 0.20, 0.10, 0.10, 0.15, 0.05]), (rows, 1))
    w[:, 0] += np.where(batch.overdue[src], 1.2, 0.0)
    in_hall = np.isin(batch.channel[src], [HALL, SELF_SERVICE, AGENT])
    w[:, 1] += np.where(in_hall, 0.3, 0.0)
    w[:, 2] += np.where(in_hall, 0.1, 0.0) + np.where(is_rejected, 0.4, 0.0)
    w[:, 3] += np.where(batch.trips[src] >= 2, 0.8, 0.0)
    w[:, 4] += np.where(~in_hall, 0.4, 0.0)
    w[:, 5] += np.where(is_rejected, 0.5, 0.0)
    cum = np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1)
    cause = (rng.random(rows)[:, None] > cum).sum(axis=1)
    cause = np.where(level <= 2, np.minimum(cause, len(CAUSES) - 1), -1)

    real = (rng.random(rows) < REAL_NAME[d["channel"]]) & ~d["default"]
    return RatingDraft(src=src, has_case=d["has_case"], t=d["t"], channel=d["channel"], level=level,
                       stage=d["stage"], default=d["default"], real_name=real, at_window=d["at_window"],
                       cause=cause.astype(np.int64))


RATING_SCHEMA = {
    "kind": pl.String, "rating_id": pl.String, "case_id": pl.String, "item_code": pl.String,
    "dept_code": pl.String, "region_code": pl.String, "staff_id": pl.String, "channel": pl.String,
    "level": pl.Int64, "stage": pl.String, "tags": pl.List(pl.String), "comment": pl.String,
    "rated_at": pl.String, "real_name": pl.Boolean, "default_rating": pl.Boolean,
    "rater": pl.Struct({"id_number": pl.String, "phone": pl.String, "name": pl.String}),
}


def _texts(rng: np.random.Generator, draft: RatingDraft,
           text_rng: np.random.Generator) -> tuple[np.ndarray, list[str], np.ndarray, list[str]]:
    """Comment template and up to three tags per rating, as indices into text lists (-1 = none). The
    composition of bad comments and the bad ratings without a tag draw from ``text_rng`` (so that the
    rest of the simulation draws what it always drew)."""
    rows = len(draft.t)
    bad_texts, bad_off, bad_size = flat(BAD_COMMENTS, CAUSES)
    comments = bad_texts + list(MIDDLING_COMMENTS) + list(PRAISE)
    mid_off, praise_off = len(bad_texts), len(bad_texts) + len(MIDDLING_COMMENTS)
    bad = draft.cause >= 0
    c = np.maximum(draft.cause, 0)
    off, size = np.array(bad_off)[c], np.array(bad_size)[c]
    u = rng.random(rows)
    comment = np.full(rows, -1)
    comment = np.where(bad & (rng.random(rows) < 0.85), off + (u * size).astype(int), comment)
    comment = np.where((draft.level == 3) & (rng.random(rows) < 0.3),
                       mid_off + (u * len(MIDDLING_COMMENTS)).astype(int), comment)
    comment = np.where((draft.level >= 4) & (rng.random(rows) < 0.06),
                       praise_off + (u * len(PRAISE)).astype(int), comment)
    comment = np.where(draft.default, -1, comment)

    tag_texts, tag_off, tag_size = flat(BAD_TAGS, CAUSES)
    all_tags = tag_texts + list(MIDDLING_TAGS) + list(GOOD_TAGS)
    mid_t, good_t = len(tag_texts), len(tag_texts) + len(MIDDLING_TAGS)
    base = np.where(bad, np.array(tag_off)[c], np.where(draft.level == 3, mid_t, good_t))
    k = np.where(bad, np.array(tag_size)[c], np.where(draft.level == 3, len(MIDDLING_TAGS), len(GOOD_TAGS)))
    howmany = np.where(bad, rng.integers(1, 3, rows),
                       np.where(draft.level == 3, (rng.random(rows) < 0.4).astype(int),
                                np.where(rng.random(rows) < 0.6, rng.integers(1, 4, rows), 0)))
    howmany = np.where(draft.default | (bad & (text_rng.random(rows) < BAD_NO_TAG_SHARE)), 0, np.minimum(howmany, k))
    first = rng.integers(0, 1 << 30, rows) % k
    step = 1 + rng.integers(0, 1 << 30, rows) % np.maximum(k - 1, 1)
    tags = np.stack([np.where(howmany > j, base + (first + j * step) % k, -1) for j in range(3)], axis=1)
    return comment, comments, tags, all_tags


def rating_frame(draft: RatingDraft, batch: CaseBatch, labels: CaseLabels, rng: np.random.Generator,
                 first_id: int, seed: int) -> tuple[pl.DataFrame, RatingDraft]:
    """The ``rating`` records in time order with ids ``R<seed><12-digit number>``, and the draft in
    the same order (the follow-ups need it)."""
    order = np.lexsort((draft.stage, draft.src, draft.t))
    draft = draft.take(order)
    rows = len(draft.t)
    text_rng = np.random.default_rng(np.random.SeedSequence([seed, first_id, 1729]))
    comment, comments, tags, all_tags = _texts(rng, draft, text_rng)
    plan = bad_comment_plan(text_rng, draft.cause)
    src = pl.Series(draft.src)
    tag_lit = pl.lit(pl.Series(all_tags))
    frame = pl.DataFrame(
        {
            "n": pl.int_range(first_id, first_id + rows, eager=True, dtype=pl.Int64),
            "has_case": draft.has_case,
            "case_id": labels.case_id.gather(src),
            "item_code": labels.item_code.gather(src),
            "item_name": labels.item_name.gather(src),
            "dept_code": labels.dept_code.gather(src),
            "region_code": labels.region_code.gather(src),
            "staff": labels.staff_id.gather(src),
            "at_window": draft.at_window,
            "ch": pl.Series(RATING_CHANNEL_LIST).gather(pl.Series(draft.channel)),
            "level": draft.level,
            "stage": pl.Series(STAGES).gather(pl.Series(draft.stage)),
            "c": comment,
            "t": draft.t,
            "real": draft.real_name,
            "default": draft.default,
            "pname": labels.person["name"].gather(src),
            "pid": labels.person["id_number"].gather(src),
            "phone": labels.person["phone"].gather(src),
            "days": np.clip((draft.t - batch.t_sub[draft.src]) // DAY, 2, 90),
            "trips": np.maximum(batch.trips[draft.src], 3),
            "t0": tags[:, 0], "t1": tags[:, 1], "t2": tags[:, 2],
            "bad": draft.cause >= 0,
            **{name: plan[name] for name in PLAN_COLUMNS},
        }
    )
    tag = lambda col: pl.when(pl.col(col) >= 0).then(tag_lit.gather(pl.col(col).clip(0)))  # noqa: E731
    text = pl.lit(pl.Series(comments)).gather(pl.col("c").clip(0))
    text = pl.when("bad").then(bad_comment_expr(text)).otherwise(text)  # composed: opener, core, tail, typo
    text = (text.str.replace_all("{item}", pl.col("item_name"), literal=True)
            .str.replace_all("{days}", pl.col("days").cast(pl.String), literal=True)
            .str.replace_all("{n}", pl.col("trips").cast(pl.String), literal=True))
    tag_list = pl.concat_list(tag("t0"), tag("t1"), tag("t2")).list.drop_nulls()
    out = frame.select(
        kind=pl.lit("rating"),
        rating_id=record_id_expr("R", seed),
        case_id=pl.when("has_case").then("case_id"),
        item_code="item_code",
        dept_code="dept_code",
        region_code="region_code",
        staff_id=pl.when("at_window").then("staff"),
        channel="ch",
        level="level",
        stage=pl.when(pl.col("stage") != "").then("stage"),
        tags=pl.when(tag_list.list.len() > 0).then(tag_list),
        comment=pl.when(pl.col("c") >= 0).then(text),
        rated_at=iso_expr("t"),
        real_name="real",
        default_rating="default",
        rater=pl.when("real").then(pl.struct(id_number="pid", phone="phone", name="pname")),
    )
    return out, draft
