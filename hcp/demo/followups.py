"""The bad-rating loop (差评整改闭环) for the simulated bad ratings.

For every bad rating (level 1–2, not a default rating), following DOMAIN.md:

1. ``verified`` by the handling department 1–3 working days after the rating, with the
   ``reason_category`` of the rating's cause ("谁办理、谁负责");
2. about 6 % (a quarter of policy/other causes) are ``appealed`` 0–2 working days later; the
   supervisory office (actor ``ZW<county6>01``) decides 3–10 working days after: ``appeal_upheld``
   (the loop ends, the rating leaves the scores) or ``appeal_rejected`` (rectification follows);
3. ``rectified`` (or ``explained`` — mostly for policy causes) 1–12 working days after verification;
   a department-dependent share is late (14–25 working days, past the default 15-day limit);
4. ``feedback`` to the rater 0–2 working days later; ``revisited`` 1–5 working days after that for
   95 % of real-name ratings (an anonymous rater cannot be called back).

Department actions carry the window officer's code as ``actor``. Actions after the as-of instant
are not emitted, so some loops are still open.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from hcp.demo.cases import record_id_expr
from hcp.demo.catalogue import Catalogue
from hcp.demo.clock import DemoCalendar, choose, iso_expr, staff_step
from hcp.demo.texts import CAUSES, FOLLOWUP_NOTES, flat
from hcp.domain import FOLLOWUP_ACTIONS

ACTIONS = tuple(FOLLOWUP_ACTIONS)
VERIFIED, RECTIFIED, EXPLAINED, FEEDBACK, REVISITED, APPEALED, UPHELD, APPEAL_REJECTED = (
    ACTIONS.index(a) for a in ("verified", "rectified", "explained", "feedback", "revisited", "appealed",
                               "appeal_upheld", "appeal_rejected"))
POLICY, OTHER = CAUSES.index("policy"), CAUSES.index("other")

FOLLOWUP_SCHEMA = {
    "kind": pl.String, "followup_id": pl.String, "rating_id": pl.String, "action": pl.String,
    "action_time": pl.String, "actor": pl.String, "reason_category": pl.String, "note": pl.String,
}


def followup_frame(
    rating_ids: pl.Series,
    t_rating: np.ndarray,
    cause: np.ndarray,
    real_name: np.ndarray,
    dept: np.ndarray,
    staff: np.ndarray,
    cat: Catalogue,
    cal: DemoCalendar,
    as_of: int,
    rng: np.random.Generator,
    first_id: int,
    seed: int,
) -> pl.DataFrame:
    """The ``followup`` records of the given bad ratings in time order, ids ``F<seed><12 digits>``."""
    n = len(t_rating)
    if n == 0:
        return pl.DataFrame(schema=FOLLOWUP_SCHEMA)
    depts = cat.departments
    t_ver = staff_step(cal, rng, t_rating, choose(rng, n, [1, 2, 3], [0.5, 0.35, 0.15]))
    appeal = rng.random(n) < np.where((cause == POLICY) | (cause == OTHER), 0.25, 0.06)
    t_app = staff_step(cal, rng, t_ver, rng.integers(0, 3, n))
    t_dec = staff_step(cal, rng, t_app, rng.integers(3, 11, n))
    upheld = appeal & (rng.random(n) < 0.45)
    rejected = appeal & ~upheld

    explain = rng.random(n) < np.where(cause == POLICY, 0.8, np.where(cause == OTHER, 0.5, 0.15))
    late = rng.random(n) < depts.late_p[dept]
    k_fix = np.where(late, rng.integers(14, 26, n), np.where(explain, rng.integers(1, 6, n), rng.integers(1, 13, n)))
    t_fix = staff_step(cal, rng, np.where(rejected, t_dec, t_ver), k_fix)
    t_fb = staff_step(cal, rng, t_fix, rng.integers(0, 3, n))
    t_rev = staff_step(cal, rng, t_fb, rng.integers(1, 6, n))
    revisit = real_name & (rng.random(n) < 0.95)
    resolves = ~upheld

    rows: list[tuple[np.ndarray, ...]] = []

    def add(mask, action, t, supervisor=False):
        idx = np.flatnonzero(mask)
        rows.append((idx, np.full(len(idx), action, np.int8), t[idx], np.full(len(idx), supervisor)))

    everyone = np.ones(n, bool)
    add(everyone, VERIFIED, t_ver)
    add(appeal, APPEALED, t_app)
    add(upheld, UPHELD, t_dec, supervisor=True)
    add(rejected, APPEAL_REJECTED, t_dec, supervisor=True)
    add(resolves & ~explain, RECTIFIED, t_fix)
    add(resolves & explain, EXPLAINED, t_fix)
    add(resolves, FEEDBACK, t_fb)
    add(resolves & revisit, REVISITED, t_rev)
    idx, action, t, supervisor = (np.concatenate(c) for c in zip(*rows))
    keep = t <= as_of
    idx, action, t, supervisor = idx[keep], action[keep], t[keep], supervisor[keep]
    order = np.lexsort((action, idx, t))
    idx, action, t, supervisor = idx[order], action[order], t[order], supervisor[order]
    m = len(idx)
    if m == 0:
        return pl.DataFrame(schema=FOLLOWUP_SCHEMA)

    note_texts, note_off, note_size = flat(FOLLOWUP_NOTES, ACTIONS)
    note = np.array(note_off)[action] + (rng.random(m) * np.array(note_size)[action]).astype(int)
    supervisor_code = np.array(["ZW" + c[:6] + "01" for c in cat.regions.code])[depts.region[dept[idx]]]

    frame = pl.DataFrame(
        {
            "n": pl.int_range(first_id, first_id + m, eager=True, dtype=pl.Int64),
            "rating_id": rating_ids.gather(pl.Series(idx)),
            "a": action,
            "action": pl.Series(ACTIONS).gather(pl.Series(action)),
            "t": t,
            "staff": staff[idx],
            "sup": supervisor,
            "sup_code": supervisor_code,
            "cause": pl.Series(CAUSES).gather(pl.Series(cause[idx])),
            "note": pl.Series(note_texts).gather(pl.Series(note)),
        },
        schema_overrides={"staff": pl.String, "sup_code": pl.String},
    )
    return frame.select(
        kind=pl.lit("followup"),
        followup_id=record_id_expr("F", seed),
        rating_id="rating_id",
        action="action",
        action_time=iso_expr("t"),
        actor=pl.when("sup").then("sup_code").otherwise("staff"),
        reason_category=pl.when(pl.col("a") == VERIFIED).then("cause"),
        note="note",
    )
