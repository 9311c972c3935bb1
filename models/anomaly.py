"""Model 3 — rating manipulation (异常评价): unit-days whose rating behaviour is unlike their peers'.

**Units.** Every rater-given rating (system-written defaults are not the rater's act) counts for up to
four units on its day (Asia/Shanghai): the window officer (``staff``, its ``staff_id``), the hall device
(``device``: the ``device_id`` the device sends, or, for a hall channel without one, the department's
channel), the ``dept`` and the rater (``rater``: the keyed pseudonym of a real-name rater). A unit-day
with fewer than :data:`MIN_RATINGS` ratings is no pattern and is not scored.

**Features** (:func:`unit_days`; the SQL is in :mod:`warehouse.queries.ratings`, the rest Polars):

=================  ========================================================================  =========
feature            meaning                                                                   unusual
=================  ========================================================================  =========
``ratings``        ratings of the unit that day                                              high
``peak_hour``      most ratings in one clock hour                                            high
``top_share``      share of 非常满意 (level 5)                                                high
``median_secs``    median seconds from the case's completion to the rating                  low
``fast_share``     share of the ratings with a case given < 60 s after its completion        high
``gap_cv``         coefficient of variation of the gaps between consecutive ratings          low
``device_share``   share of the ratings on the unit's most used device                        high
``max_per_rater``  most cases one rater rated within the unit that day                        high
``spike``          the day's ratings ÷ the unit's own median per day of the window (≥ 1)       high
=================  ========================================================================  =========

**Two detectors side by side**, both fitted on nothing but the ratings (labels are never seen):

* **robust rules** (:func:`robust_z`, :func:`rule_scores`): every feature as a one-sided robust
  z-score against the unit's peers (same unit kind, same window): (x − median) ÷ (1.4826 · MAD), the
  scale floored (:data:`SCALE_FLOOR`) so that a feature nearly everyone shares (most ratings are
  非常满意) does not make a tiny difference look enormous; the rule score is the sum of the two largest,
  plus :data:`RULE_BONUS` when an existing rule of :mod:`supervision.suspicious` (a burst of top ratings
  for the staff member or the device) fired on the unit that day.
* **IsolationForest** on the same z-scores: how easily a unit-day is isolated from the others by
  random splits (scikit-learn's ``score_samples``, negated: 0.5 is ordinary, near 1 stands apart).

**Evidence**: the two or three features furthest from normal (largest z), in words with the unit's own
figures ("42 条评价在 11 分钟内，平均间隔 15 秒").

An anomaly is **a prompt to look, never a sanction**: a busy hall on a deadline day is unusual too.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import numpy as np
import polars as pl

from hcp.i18n import tr
from hcp.periods import Period
from hcp.settings import hcp_home
from hcp.textable import render
from models.anomaly_labels import EPISODE_KINDS, LABELS_DIR, LABELS_FILE, read_labels
from models.registry import ModelKind, TrainResult
from models.store import TooLittleData
from supervision.settings import SupervisionSettings
from supervision.suspicious import PATTERNS, top_rating_bursts
from warehouse.client import SHANGHAI
from warehouse.queries import ratings as q

FEATURE_VERSION = 1
UNIT_KINDS = {"staff": ("窗口人员", "staff"), "device": ("评价器/渠道", "device/channel"),
              "dept": ("部门", "department"), "rater": ("评价人", "rater")}
HALL_CHANNELS = ("hall_device", "qr_code", "self_service")
#: A unit-day with fewer ratings is not scored (no pattern in two or three ratings).
MIN_RATINGS = 4
#: Fewer scored unit-days (or days of ratings) than this: no model.
MIN_UNIT_DAYS = 100
MIN_DAYS = 14
#: Training window: the ratings of the last this many days up to the latest rating.
TRAIN_DAYS = 120
#: ``hcp models anomalies --as-of``: the window that ends at the instant.
AS_OF_DAYS = 30
#: A rating this many seconds or fewer after the case's completion is "fast".
FAST_SECONDS = 60
#: Consecutive ratings of a unit at most this many seconds apart form a run (the evidence quotes the
#: longest run: "42 条评价在 11 分钟内，平均间隔 15 秒").
RUN_GAP_SECONDS = 120
#: Evidence lists a feature only when its z-score reaches this.
EVIDENCE_Z = 2.0
#: IsolationForest settings.
TREES = 300
RULE_BONUS = 3.0
TOP_EVIDENCE = 3
#: Ratings of an injected episode must make up this share of a unit-day (and be at least
#: MIN_HIT_RATINGS) for it to count as a true positive; it "finds" an episode when it also holds at
#: least FIND_SHARE of the episode's ratings of that day.
HIT_SHARE = 0.25
MIN_HIT_RATINGS = 3
FIND_SHARE = 0.5
KS = (10, 20, 50)

#: feature → (direction: +1 high is unusual, −1 low is unusual; transform; scale floor)
FEATURES = {
    "ratings": (1, "log", 0.3),
    "peak_hour": (1, "log", 0.3),
    "top_share": (1, "id", 0.1),
    "median_secs": (-1, "log", 0.5),
    "fast_share": (1, "id", 0.1),
    "gap_cv": (-1, "id", 0.2),
    "device_share": (1, "id", 0.1),
    "max_per_rater": (1, "log", 0.5),
    "spike": (1, "log", 0.3),
}
FEATURE_NAMES = list(FEATURES)
SCALE_FLOOR = {name: floor for name, (_, _, floor) in FEATURES.items()}
FEATURE_LABELS = {
    "ratings": ("当日评价数", "ratings that day"), "peak_hour": ("一小时内最多评价数", "most ratings in an hour"),
    "top_share": ("非常满意占比", "share of top ratings"), "median_secs": ("办结到评价秒数中位数", "median seconds completion→rating"),
    "fast_share": ("办结后 60 秒内评价占比", "share rated < 60 s after completion"),
    "gap_cv": ("评价间隔变异系数", "regularity of gaps (CV)"), "device_share": ("同一评价器占比", "share on one device"),
    "max_per_rater": ("同一评价人评价办件数", "cases rated by one rater"), "spike": ("当日为日常中位数的倍数", "day ÷ own median"),
}
ANOMALY_COLUMNS = ("unit_kind", "unit_id", "day", "score", "rule_score", "ratings", "dept_code", "region_code", "rules",
                   "evidence")


# Features -----------------------------------------------------------------------------------------
def unit_ratings(ratings: pl.DataFrame) -> pl.DataFrame:
    """One row per (rating, unit it counts for): ``unit_kind``, ``unit_id`` beside the rating's columns.

    Staff: a non-empty ``staff_id``. Device: the ``device_id``, or ``<dept>/<channel>`` for a hall
    channel without one. Department: always. Rater: a non-empty rater pseudonym."""
    device = pl.when(pl.col("device_id").fill_null("") != "").then(pl.col("device_id")).when(
        pl.col("channel").is_in(HALL_CHANNELS)).then(pl.concat_str("dept_code", pl.lit("/"), "channel"))
    # Sorted by kind, unit, time, rating: the ratings once by time and rating, then each kind's rows by unit
    # alone, keeping that order (a stable sort), in the kinds' order — the same rows in the same order as one
    # sort of every row by the four keys, in half the time (the 3.85 M ratings of a 10 M-case month: 8.0 → 4.0 s).
    timed = ratings.sort("rated_at", "rating_id")
    parts = {
        "staff": timed.filter(pl.col("staff_id").fill_null("") != "").with_columns(unit_kind=pl.lit("staff"), unit_id="staff_id"),
        "device": timed.with_columns(unit_kind=pl.lit("device"), unit_id=device).filter(pl.col("unit_id").is_not_null()),
        "dept": timed.with_columns(unit_kind=pl.lit("dept"), unit_id="dept_code"),
        "rater": timed.filter(pl.col("rater_key").fill_null("") != "").with_columns(unit_kind=pl.lit("rater"), unit_id="rater_key"),
    }
    return pl.concat([parts[kind].sort("unit_id", maintain_order=True) for kind in sorted(parts)])


def unit_days(ratings: pl.DataFrame, *, min_ratings: int = MIN_RATINGS) -> pl.DataFrame:
    """The behaviour features of every unit-day (see the module doc) with ``min_ratings`` or more
    ratings, plus the figures the evidence quotes (``span_minutes``, ``mean_gap``, ``fast_n``,
    ``own_median``, ``month_end``) and the ``rating_ids``. Sorted by kind, unit, day."""
    u = unit_ratings(ratings)  # sorted by kind, unit, time: a unit-day's ratings are consecutive rows
    key = ["unit_kind", "unit_id", "day"]
    secs = (pl.col("rated_at") - pl.col("completed_at")).dt.total_seconds()
    new = pl.any_horizontal([pl.col(k) != pl.col(k).shift(1) for k in key]).fill_null(True)
    # One integer per unit-day and per run (no string keys in the group-bys below), both running totals and so
    # sorted: marked as such, the group-bys take each group as a slice (a 10 M-case month: 3.1 M unit-days).
    u = u.with_columns(_new=new).with_columns(
        _g=pl.col("_new").cum_sum().set_sorted(),
        _secs=pl.when(secs >= 0).then(secs),
        _gap=pl.when(~pl.col("_new")).then(pl.col("rated_at").diff().dt.total_seconds()),
        _hour=pl.col("rated_at").dt.hour(),
    ).with_columns(_run=(pl.col("_new") | (pl.col("_gap") > RUN_GAP_SECONDS)).cum_sum().set_sorted())
    # A unit-day's longest run (the earliest of equally long ones): runs in their order, the first largest.
    runs = u.group_by("_run", maintain_order=True).agg(
        _g=pl.col("_g").first(), _run_n=pl.len(),
        _run_seconds=(pl.col("rated_at").max() - pl.col("rated_at").min()).dt.total_seconds(),
    ).group_by(pl.col("_g").set_sorted(), maintain_order=True).agg(
        run_n=pl.col("_run_n").max(), run_seconds=pl.col("_run_seconds").get(pl.col("_run_n").arg_max()))
    days = u.group_by("_g").agg(
        *[pl.col(k).first() for k in key],
        ratings=pl.len(),
        top_n=(pl.col("level") == 5).sum(),
        top_share=(pl.col("level") == 5).mean(),
        median_secs=pl.col("_secs").median(),
        fast_n=(pl.col("_secs") <= FAST_SECONDS).sum(),
        with_completion=pl.col("_secs").is_not_null().sum(),
        gap_mean=pl.col("_gap").mean(),
        gap_std=pl.col("_gap").std(),
        span_minutes=(pl.col("rated_at").max() - pl.col("rated_at").min()).dt.total_seconds() / 60,
        dept_code=pl.col("dept_code").first(),  # of the unit-day's first rating
        region_code=pl.col("region_code").first(),
        rater_phone=pl.col("rater_phone_masked").first(),
        rating_ids=pl.col("rating_id"),
    )
    peak = u.group_by("_g", "_hour").len().group_by("_g").agg(peak_hour=pl.col("len").max())
    device = (u.filter(pl.col("device_id").fill_null("") != "").group_by("_g", "device_id").len()
              .group_by("_g").agg(_top_device=pl.col("len").max()))
    rater = (u.filter((pl.col("rater_key").fill_null("") != "") & (pl.col("case_id").fill_null("") != ""))
             .group_by("_g", "rater_key").agg(_cases=pl.col("case_id").n_unique())
             .group_by("_g").agg(max_per_rater=pl.col("_cases").max()))
    days = (days.join(peak, on="_g", how="left").join(runs, on="_g", how="left").join(device, on="_g", how="left")
            .join(rater, on="_g", how="left").drop("_g"))
    # The unit's own median ratings per calendar day of the window, days without a rating counted as 0
    # (floored at 1): the lower median of W values of which W − k are zeros.
    span = (days["day"].max() - days["day"].min()).days + 1 if days.height else 1
    own = days.group_by("unit_kind", "unit_id").agg(_counts=pl.col("ratings").sort(), _k=pl.len()).with_columns(
        _at=(span - 1) // 2 - (span - pl.col("_k")))
    own = own.select("unit_kind", "unit_id", own_median=pl.when(pl.col("_at") >= 0).then(
        pl.col("_counts").list.get(pl.col("_at").clip(lower_bound=0), null_on_oob=True)).otherwise(0)
        .clip(lower_bound=1).cast(pl.Float64))
    month_last = pl.col("day").dt.month_end()
    days = days.join(own, on=["unit_kind", "unit_id"]).with_columns(
        fast_share=pl.when(pl.col("with_completion") > 0).then(pl.col("fast_n") / pl.col("with_completion")).otherwise(0.0),
        gap_cv=pl.when(pl.col("ratings") < 3).then(None).when(pl.col("gap_mean") > 0)
        .then(pl.col("gap_std").fill_null(0) / pl.col("gap_mean")).otherwise(0.0),
        device_n=pl.col("_top_device").fill_null(0),
        device_share=(pl.col("_top_device").fill_null(0) / pl.col("ratings")),
        max_per_rater=pl.col("max_per_rater").fill_null(0),
        spike=pl.col("ratings") / pl.col("own_median"),
        month_end=(month_last - pl.col("day")).dt.total_days() <= 2,
        mean_gap=pl.col("gap_mean").fill_null(0.0),
    )
    return (days.filter(pl.col("ratings") >= min_ratings)
            .drop("_top_device", "gap_mean", "gap_std")
            .with_columns(pl.col("ratings", "peak_hour", "max_per_rater", "fast_n", "with_completion", "run_n", "top_n",
                                 "device_n").cast(pl.Int64))
            .sort(key))


#: Shares (and the gaps' CV) of a unit-day are shrunk towards their kind's overall value with this many
#: pseudo-ratings, so that 3 of 4 on one device is not as unusual as 30 of 40.
SHRINK = 5
#: share feature → (its count column, the count it is a share of)
SHARES = {"top_share": ("top_n", "ratings"), "fast_share": ("fast_n", "with_completion"),
          "device_share": ("device_n", "ratings")}


def _transformed(name: str) -> pl.Expr:
    _, transform, _ = FEATURES[name]
    col = pl.col(name).cast(pl.Float64)
    if name in SHARES:
        k, n = (pl.col(c).cast(pl.Float64) for c in SHARES[name])
        overall = (k.sum() / n.sum()).over("unit_kind").fill_nan(0.0).fill_null(0.0)
        col = (k + SHRINK * overall) / (n + SHRINK)
    elif name == "gap_cv":  # n − 1 gaps; a Poisson stream has CV 1
        gaps = (pl.col("ratings") - 1).clip(lower_bound=0).cast(pl.Float64)
        col = (col * gaps + SHRINK) / (gaps + SHRINK)
    elif name == "median_secs":  # no case with a completion: as ordinary as the peers' median
        col = col.fill_null(col.median().over("unit_kind")).fill_null(3600.0)
    return col.log1p() if transform == "log" else col


def robust_z(days: pl.DataFrame) -> pl.DataFrame:
    """``z_<feature>`` for every feature: the one-sided robust z-score against every unit-day of the same
    unit kind in the frame (also those too small to be scored) — (x − median) ÷ max(1.4826 · MAD,
    floor), signed so that positive is the unusual direction (:data:`FEATURES`). Shares and the gaps'
    CV are first shrunk towards the kind's overall value (:data:`SHRINK`); a feature a unit-day does not
    have (the gaps of one or two ratings) is 0, ordinary."""
    exprs = []
    for name, (direction, _, floor) in FEATURES.items():
        x = _transformed(name)
        median = x.median().over("unit_kind")
        mad = (x - median).abs().median().over("unit_kind")
        scale = pl.max_horizontal(1.4826 * mad, pl.lit(floor))
        exprs.append((direction * (x - median) / scale).fill_null(0.0).alias(f"z_{name}"))
    return days.with_columns(exprs)


def z_matrix(frame: pl.DataFrame) -> np.ndarray:
    """The detectors' input: the z-scores, clipped to ±20 (float64, columns :data:`FEATURE_NAMES`)."""
    return np.clip(frame.select([f"z_{n}" for n in FEATURE_NAMES]).to_numpy().astype(np.float64), -20, 20)


def existing_rule_hits(ratings: pl.DataFrame) -> pl.DataFrame:
    """The unit-days on which a burst rule of :mod:`supervision.suspicious` fired: ``unit_kind``,
    ``unit_id``, ``day``, ``rules`` (the patterns). Thresholds from ``[supervision.suspicious]``."""
    settings = SupervisionSettings.load().suspicious
    frame = ratings.with_columns(default_rating=pl.lit(False), stage=pl.lit(""),
                                 staff_id=pl.col("staff_id").fill_null(""), device_id=pl.col("device_id").fill_null(""))
    parts = []
    for key, pattern, unit in (("staff_id", "top_burst_staff", "staff"), ("device_id", "top_burst_device", "device")):
        found = top_rating_bursts(frame, key, pattern, settings)
        if found.height:
            parts.append(found.select(unit_kind=pl.lit(unit), unit_id="subject",
                                      day=pl.col("first_at").dt.date(), rule=pl.lit(pattern)))
    if not parts:
        return pl.DataFrame(schema={"unit_kind": pl.String, "unit_id": pl.String, "day": pl.Date,
                                    "rules": pl.List(pl.String)})
    return pl.concat(parts).group_by("unit_kind", "unit_id", "day").agg(rules=pl.col("rule").unique().sort())


def rule_scores(z: pl.DataFrame, hits: pl.DataFrame) -> pl.DataFrame:
    """``rule_score``: the sum of the two largest positive z-scores, plus :data:`RULE_BONUS` when an
    existing rule fired on the unit-day (``rules``, empty list when none)."""
    zs = z_matrix(z).clip(0, None)
    top2 = np.sort(zs, axis=1)[:, -2:].sum(axis=1) if zs.size else np.zeros(z.height)
    out = z.with_columns(_top2=pl.Series(top2)).join(hits, on=["unit_kind", "unit_id", "day"], how="left")
    out = out.with_columns(rules=pl.col("rules").fill_null(pl.lit([], dtype=pl.List(pl.String))))
    return out.with_columns(rule_score=(pl.col("_top2") + RULE_BONUS * (pl.col("rules").list.len() > 0)).round(3)).drop("_top2")


def prepare(ratings: pl.DataFrame) -> pl.DataFrame:
    """The unit-days with :data:`MIN_RATINGS` or more ratings, with their z-scores (against every
    unit-day of their kind) and rule scores: the detectors' common input."""
    days = unit_days(ratings, min_ratings=1)
    if days.is_empty():
        return days
    scored = robust_z(days).filter(pl.col("ratings") >= MIN_RATINGS)
    return rule_scores(scored, existing_rule_hits(ratings))


# Evidence ---------------------------------------------------------------------------------------
def _n(x: float, digits: int = 0) -> str:
    return f"{x:,.{digits}f}"


def evidence_sentence(feature: str, row: dict, lang: str) -> str:
    """One feature of a unit-day in words, with the unit's own figures."""
    n = row["ratings"]
    if feature == "ratings":
        return tr(lang, f"当日 {n} 条评价", f"{n} ratings that day")
    if feature == "peak_hour":
        return tr(lang, f"一小时内 {row['peak_hour']} 条评价（当日共 {n} 条）",
                  f"{row['peak_hour']} ratings within one hour ({n} that day)")
    if feature == "gap_cv":
        k, seconds = row["run_n"], row["run_seconds"]
        if k >= 3:
            return tr(lang, f"{k} 条评价在 {_n(max(seconds / 60, 1))} 分钟内，平均间隔 {_n(seconds / (k - 1))} 秒",
                      f"{k} ratings within {_n(max(seconds / 60, 1))} minutes, {_n(seconds / (k - 1))} s apart on average")
        return tr(lang, f"评价间隔异常规律（变异系数 {row['gap_cv']:.2f}）", f"evenly spaced ratings (gap CV {row['gap_cv']:.2f})")
    if feature == "top_share":
        return tr(lang, f"{row['top_share'] * 100:.0f}% 为非常满意（{n} 条）", f"{row['top_share'] * 100:.0f}% top ratings ({n})")
    if feature in ("median_secs", "fast_share"):
        med = row["median_secs"]
        med_text = "—" if med is None else _n(med)
        return tr(lang, f"{row['fast_n']} 条在办结后 {FAST_SECONDS} 秒内评价，中位 {med_text} 秒",
                  f"{row['fast_n']} rated within {FAST_SECONDS} s of completion, median {med_text} s")
    if feature == "device_share":
        return tr(lang, f"{row['device_share'] * 100:.0f}% 来自同一评价器", f"{row['device_share'] * 100:.0f}% on one device")
    if feature == "max_per_rater":
        return tr(lang, f"同一评价人评价了 {row['max_per_rater']} 件办件", f"one rater rated {row['max_per_rater']} cases")
    if feature == "spike":
        when = tr(lang, "（月末）", " (month end)") if row["month_end"] else ""
        return tr(lang, f"当日 {n} 条，是其日常中位数 {row['own_median']:g} 条的 {row['spike']:.1f} 倍{when}",
                  f"{n} that day, {row['spike']:.1f}× its usual {row['own_median']:g}{when}")
    raise KeyError(feature)


#: Below these values a feature is not told as evidence, whatever its z-score (one rater rating two
#: cases, one fast rating are ordinary).
EVIDENCE_MIN = {"max_per_rater": 3, "fast_share": 2, "median_secs": 2, "spike": 2.0}


def _tellable(feature: str, row: dict) -> bool:
    if row[f"z_{feature}"] < EVIDENCE_Z:
        return False
    value = row["fast_n"] if feature in ("fast_share", "median_secs") else row[feature]
    return value is not None and value >= EVIDENCE_MIN.get(feature, float("-inf"))


#: Features told by one sentence: the volume (the count, or its ratio to the unit's own median), the
#: timing (the longest run of close ratings, or the busiest hour), the speed after completion.
FAMILIES = {"ratings": "volume", "spike": "volume", "peak_hour": "timing", "gap_cv": "timing",
            "median_secs": "speed", "fast_share": "speed"}


def _family_sentence(family: str, members: list[str], row: dict, lang: str) -> tuple[str, str]:
    """(the feature told, its sentence) for one family of tellable features."""
    if family == "volume":
        told = "spike" if "spike" in members else "ratings"
    elif family == "timing":
        told = "gap_cv" if row["run_n"] >= 5 else "peak_hour"
    else:
        told = members[0]
    return told, evidence_sentence(told, row, lang)


def evidence(row: dict, lang: str) -> list[dict]:
    """The :data:`TOP_EVIDENCE` features furthest from normal (z ≥ :data:`EVIDENCE_Z`, and a value worth
    telling, :data:`EVIDENCE_MIN`), each ``{feature, z, text}``; features of one :data:`FAMILIES` are told
    in one sentence (the longest run "42 条评价在 11 分钟内，平均间隔 15 秒" when there is one of 5 or more),
    ``feature`` naming the one told and ``z`` the family's largest. Then the existing rules of
    :mod:`supervision.suspicious` that fired (``z`` null)."""
    groups: dict[str, list[str]] = {}
    for feature in sorted(FEATURE_NAMES, key=lambda f: (-row[f"z_{f}"], FEATURE_NAMES.index(f))):
        if _tellable(feature, row):
            groups.setdefault(FAMILIES.get(feature, feature), []).append(feature)
    out = []
    for family, members in list(groups.items())[:TOP_EVIDENCE]:
        told, text = _family_sentence(family, members, row, lang)
        out.append({"feature": told, "z": round(float(row[f"z_{members[0]}"]), 2), "text": text})
    for rule in row.get("rules") or []:
        out.append({"feature": rule, "z": None, "text": tr(lang, *PATTERNS[rule])})
    return out


# Detector -----------------------------------------------------------------------------------------
def _forest(seed: int):
    from sklearn.ensemble import IsolationForest  # lazy: scikit-learn is heavy; loaded only to fit

    return IsolationForest(n_estimators=TREES, max_samples=256, contamination="auto", random_state=seed)


def forest_scores(model, frame: pl.DataFrame) -> np.ndarray:
    """IsolationForest anomaly score in (0, 1): 0.5 ordinary, near 1 stands apart."""
    return -model.score_samples(z_matrix(frame)) if frame.height else np.zeros(0)


EVIDENCE_SCHEMA = pl.List(pl.Struct({"feature": pl.String, "z": pl.Float64, "text": pl.String}))


def _masked_expr() -> pl.Expr:
    """A unit as shown: a staff number masked in its middle (``W371****4001``; a short one but its first
    character), a rater by the first 8 characters of its pseudonym and the masked phone when known;
    departments and devices as they are."""
    uid = pl.col("unit_id")
    staff = pl.when(uid.str.len_chars() > 8).then(uid.str.slice(0, 4) + "****" + uid.str.slice(-4)).otherwise(
        uid.str.slice(0, 1) + "****")
    phone = pl.when(pl.col("rater_phone").fill_null("") != "").then(" " + pl.col("rater_phone")).otherwise(pl.lit(""))
    rater = uid.str.slice(0, 8) + "…" + phone
    return pl.when(pl.col("unit_kind") == "staff").then(staff).when(pl.col("unit_kind") == "rater").then(rater).otherwise(uid)


def with_scores(frame: pl.DataFrame, model) -> pl.DataFrame:
    """The unit-days (:func:`prepare`) with their IsolationForest ``score`` (:func:`forest_scores`). A unit-day's
    score depends on it alone, so the unit-days of the whole window can be scored once and any scope's taken
    from them."""
    if frame.is_empty():
        return frame.with_columns(score=pl.lit(None, dtype=pl.Float64))
    return frame.with_columns(score=pl.Series(np.round(forest_scores(model, frame), 4)))


def in_scope(frame: pl.DataFrame, region_prefix: str = "", dept_code: str | None = None) -> pl.DataFrame:
    """The unit-days of a region subtree (``region_prefix``) and/or one department (a user's scope)."""
    if frame.height and region_prefix:
        frame = frame.filter(pl.col("region_code").str.starts_with(region_prefix))
    if frame.height and dept_code:
        frame = frame.filter(pl.col("dept_code") == dept_code)
    return frame


def ranked(scored: pl.DataFrame, lang: str = "zh", *, top: int | None = None, by: str = "score",
           evidence_top: int | None = None) -> pl.DataFrame:
    """Scored unit-days (:func:`with_scores`) ranked by the IsolationForest ``score`` (``by="score"``) or by
    ``rule_score`` (``by="rules"``), with masked unit ids and evidence: columns :data:`ANOMALY_COLUMNS`. ``top``
    keeps the first rows; the evidence (words, built per row) is given for the first ``evidence_top`` rows
    (default: every row kept), the others have an empty list."""
    if scored.is_empty():
        return pl.DataFrame(schema={"unit_kind": pl.String, "unit_id": pl.String, "day": pl.Date, "score": pl.Float64,
                                    "rule_score": pl.Float64, "ratings": pl.Int64, "dept_code": pl.String,
                                    "region_code": pl.String, "rules": pl.List(pl.String), "evidence": EVIDENCE_SCHEMA})
    first, second = ("score", "rule_score") if by == "score" else ("rule_score", "score")
    ranked = scored.sort([first, second, "unit_kind", "unit_id", "day"], descending=[True, True, False, False, False])
    if top is not None:
        ranked = ranked.head(top)
    told = ranked.height if evidence_top is None else min(evidence_top, ranked.height)
    words = pl.Series([evidence(r, lang) for r in ranked.head(told).to_dicts()], dtype=EVIDENCE_SCHEMA)
    # The rows without evidence get an empty list from Polars: 148 k of them built as Python lists took 3.4 s.
    no_words = pl.Series([[]], dtype=EVIDENCE_SCHEMA).new_from_index(0, ranked.height - told)
    return ranked.select(
        "unit_kind", _masked_expr().alias("unit_id"), "day", "score", pl.col("rule_score").cast(pl.Float64),
        "ratings", "dept_code", "region_code", "rules",
    ).with_columns(evidence=pl.concat([words, no_words]))


def anomalies(frame: pl.DataFrame, model, lang: str = "zh", *, top: int | None = None,
              by: str = "score", evidence_top: int | None = None) -> pl.DataFrame:
    """The unit-days (:func:`prepare`) scored and ranked: :func:`ranked` of :func:`with_scores`."""
    return ranked(with_scores(frame, model), lang, top=top, by=by, evidence_top=evidence_top)


def window_for(period: str | None = None, as_of: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a scoring window: a ``YYYY-MM`` month (or date range), or the :data:`AS_OF_DAYS`
    days that end at ``as_of``."""
    if period:
        p = Period.parse(period)
        return (dt.datetime.combine(p.start, dt.time(), SHANGHAI), dt.datetime.combine(p.end, dt.time(), SHANGHAI))
    assert as_of is not None
    end = as_of.astimezone(SHANGHAI)
    return end - dt.timedelta(days=AS_OF_DAYS), end


def window_scores(wh, model, start: dt.datetime, end: dt.datetime) -> pl.DataFrame:
    """Every unit-day of the ratings given in [start, end), scored (:func:`with_scores`). Peers are every unit
    of the window (the whole province), so a unit scores the same in every scope."""
    return with_scores(prepare(q.ratings_between(wh, start, end)), model).drop("rating_ids")


def score_window(wh, model, start: dt.datetime, end: dt.datetime, lang: str = "zh", *, top: int | None = None,
                 by: str = "score", evidence_top: int | None = None, region_prefix: str = "",
                 dept_code: str | None = None) -> pl.DataFrame:
    """The anomalies of the ratings given in [start, end), most unusual first (:func:`ranked`), of a user's
    scope (:func:`in_scope`) among the whole window's peers (:func:`window_scores`)."""
    scored = in_scope(window_scores(wh, model, start, end), region_prefix, dept_code)
    return ranked(scored, lang, top=top, by=by, evidence_top=evidence_top)


# Evaluation ---------------------------------------------------------------------------------------
def label_files() -> list[Path]:
    """The demo's manipulation labels under ``$HCP_HOME/demo/*/labels/`` (:mod:`models.anomaly_labels`)."""
    return sorted((hcp_home() / "demo").glob(f"*/{LABELS_DIR}/{LABELS_FILE}"))


def load_episodes(wh, paths: list[Path] | None = None) -> list[dict]:
    """Labelled episodes whose ratings the warehouse holds (at least half of them)."""
    episodes = [e for path in (label_files() if paths is None else paths) for e in read_labels(path)]
    present = q.existing_ratings(wh, [r for e in episodes for r in e["rating_ids"]])
    return [{**e, "rating_ids": [r for r in e["rating_ids"] if r in present]} for e in episodes
            if sum(r in present for r in e["rating_ids"]) * 2 >= len(e["rating_ids"]) > 0]


def truth(frame: pl.DataFrame, episodes: list[dict]) -> tuple[np.ndarray, list[set[int]]]:
    """Per unit-day: is it a true positive (episode ratings ≥ :data:`HIT_SHARE` of its ratings and at
    least :data:`MIN_HIT_RATINGS`), and which episodes it finds (it holds ≥ :data:`FIND_SHARE` of the
    episode's ratings of that day)."""
    owner = {r: i for i, e in enumerate(episodes) for r in e["rating_ids"]}
    per_day: dict[tuple[int, dt.date], int] = {}
    ratings_day = {}
    for row in frame.select("rating_ids", "day").iter_rows():
        for r in row[0]:
            if r in owner:
                ratings_day[r] = row[1]
    for r, i in owner.items():
        if r in ratings_day:
            per_day[(i, ratings_day[r])] = per_day.get((i, ratings_day[r]), 0) + 1
    positive = np.zeros(frame.height, bool)
    finds: list[set[int]] = []
    for j, (ids, day) in enumerate(frame.select("rating_ids", "day").iter_rows()):
        counts: dict[int, int] = {}
        for r in ids:
            if r in owner:
                counts[owner[r]] = counts.get(owner[r], 0) + 1
        injected = sum(counts.values())
        positive[j] = injected >= MIN_HIT_RATINGS and injected >= HIT_SHARE * len(ids)
        finds.append({i for i, c in counts.items() if positive[j] and c >= FIND_SHARE * per_day.get((i, day), 1)})
    return positive, finds


def ranking_report(order: np.ndarray, positive: np.ndarray, finds: list[set[int]], episodes: list[dict]) -> dict:
    """precision@k and recall of episodes at k, for k in :data:`KS`, and per episode kind at the largest k."""
    out: dict = {}
    for k in KS:
        top = order[:k]
        found = set().union(*[finds[i] for i in top]) if len(top) else set()
        out[f"precision@{k}"] = round(float(positive[top].mean()) if len(top) else 0.0, 3)
        out[f"recall@{k}"] = round(len(found) / len(episodes), 3) if episodes else 0.0
    found = set().union(*[finds[i] for i in order[:max(KS)]]) if len(order) else set()
    kinds = sorted({e["kind"] for e in episodes})
    out[f"recall@{max(KS)}_by_kind"] = {
        kind: f"{sum(1 for i, e in enumerate(episodes) if e['kind'] == kind and i in found)}/"
              f"{sum(1 for e in episodes if e['kind'] == kind)}" for kind in kinds}
    return out


SCORERS = {
    "isolation_forest": ("孤立森林", "IsolationForest"),
    "rules": ("稳健规则（中位数/MAD + 既有规则）", "robust rules (median/MAD + existing rules)"),
    "most_ratings": ("基线：当日评价最多", "baseline: most ratings that day"),
}


def evaluate(frame: pl.DataFrame, model, episodes: list[dict]) -> dict:
    """Every scorer's ranking judged against the labelled episodes (ties broken by unit, day)."""
    positive, finds = truth(frame, episodes)
    tie = np.lexsort((frame["day"].to_physical().to_numpy(), frame["unit_id"].to_numpy(), frame["unit_kind"].to_numpy()))
    rank = np.empty(frame.height, np.int64)
    rank[tie] = np.arange(frame.height)
    scores = {"isolation_forest": forest_scores(model, frame), "rules": frame["rule_score"].to_numpy(),
              "most_ratings": frame["ratings"].to_numpy().astype(float)}
    reports = {name: ranking_report(np.lexsort((rank, -s)), positive, finds, episodes) for name, s in scores.items()}
    return {"unit_days": frame.height, "positive_unit_days": int(positive.sum()), "episodes": len(episodes),
            "episodes_by_kind": {k: sum(1 for e in episodes if e["kind"] == k) for k in sorted({e["kind"] for e in episodes})},
            "scorers": reports}


# Training ---------------------------------------------------------------------------------------
def _too_little(lang: str, zh: str, en: str) -> TooLittleData:
    return TooLittleData(tr(lang, f"数据不足，未训练异常评价模型：{zh}", f"too little data, no rating-anomaly model trained: {en}"))


def fit(frame: pl.DataFrame, seed: int):
    model = _forest(seed)
    model.fit(z_matrix(frame))
    return model


def train(wh, *, seed: int = 0, progress=None, lang: str = "zh", label_paths: list[Path] | None = None) -> TrainResult:
    """Fit the IsolationForest on the unit-days of the last :data:`TRAIN_DAYS` days of ratings; evaluate
    it, the rules and the baseline on the demo's labelled episodes when there are any."""
    say = progress or (lambda message: None)
    started = time.perf_counter()
    span = q.rating_span(wh)
    if span is None:
        raise _too_little(lang, "仓库中没有评价", "the warehouse holds no rating")
    first, last = (t.astimezone(SHANGHAI) if t.tzinfo else t.replace(tzinfo=SHANGHAI) for t in span)
    end = last + dt.timedelta(seconds=1)
    start = max(first, end - dt.timedelta(days=TRAIN_DAYS))
    days = (end.date() - start.date()).days
    if days < MIN_DAYS:
        raise _too_little(lang, f"需要至少 {MIN_DAYS} 天的评价（现有 {days} 天）",
                          f"needs at least {MIN_DAYS} days of ratings (there are {days})")
    say(tr(lang, "读取评价并计算单元日特征", "reading ratings, unit-day features"))
    ratings = q.ratings_between(wh, start, end)
    frame = prepare(ratings)
    if frame.height < MIN_UNIT_DAYS:
        raise _too_little(lang, f"评价数不少于 {MIN_RATINGS} 条的单元日只有 {frame.height} 个（至少 {MIN_UNIT_DAYS}）",
                          f"only {frame.height} unit-days with {MIN_RATINGS}+ ratings (at least {MIN_UNIT_DAYS} needed)")
    say(tr(lang, f"孤立森林：{frame.height:,} 个单元日", f"IsolationForest on {frame.height:,} unit-days"))
    model = fit(frame, seed)
    episodes = load_episodes(wh, label_paths)
    evaluation = ({"labels": "demo", **evaluate(frame, model, episodes)} if episodes
                  else {"labels": None, "unit_days": frame.height})
    manifest = {
        "feature_version": FEATURE_VERSION,
        "trained_at": dt.datetime.now(SHANGHAI).isoformat(timespec="seconds"),
        "seed": seed,
        "data_watermark": last.isoformat(timespec="seconds"),
        "evaluation": evaluation,
        "final": {"ratings_from": start.isoformat(timespec="seconds"), "ratings_to": last.isoformat(timespec="seconds"),
                  "ratings": ratings.height, "unit_days": frame.height,
                  "unit_days_by_kind": dict(frame.group_by("unit_kind").len().sort("unit_kind").iter_rows())},
        "features": FEATURE_NAMES,
        "min_ratings": MIN_RATINGS,
        "train_seconds": round(time.perf_counter() - started, 1),
    }
    return TrainResult(estimator=model, manifest=manifest)


def evaluation_lines(manifest: dict, lang: str) -> list[str]:
    ev = manifest["evaluation"]
    final = manifest["final"]
    lines = [tr(lang,
                f"异常评价模型 v{manifest['version']}（{manifest['trained_at']} 训练；评价 {final['ratings_from'][:10]} 至 "
                f"{final['ratings_to'][:10]}，{final['ratings']:,} 条，{final['unit_days']:,} 个单元日）",
                f"rating-anomaly model v{manifest['version']} (trained {manifest['trained_at']}; ratings "
                f"{final['ratings_from'][:10]} to {final['ratings_to'][:10]}, {final['ratings']:,}, "
                f"{final['unit_days']:,} unit-days)")]
    if not ev.get("labels"):
        lines.append(tr(lang, "无标注的操纵样本（仅演示数据带标注），不计算 precision@k。",
                        "no labelled manipulation episodes (only the demo has labels): no precision@k."))
        return lines
    kinds = "、".join(f"{tr(lang, *EPISODE_KINDS.get(k, (k, k)))} {n}" for k, n in ev["episodes_by_kind"].items())
    kinds_en = ", ".join(f"{tr(lang, *EPISODE_KINDS.get(k, (k, k)))} {n}" for k, n in ev["episodes_by_kind"].items())
    lines.append(tr(lang, f"演示注入的操纵事件 {ev['episodes']} 起（{kinds}），正例单元日 {ev['positive_unit_days']} 个；"
                          "召回率 R@k 按事件计（前 k 名中至少命中一个单元日的事件占比），精确率 P@k 按单元日计",
                    f"{ev['episodes']} injected episodes ({kinds_en}), {ev['positive_unit_days']} positive unit-days; "
                    "recall R@k counts episodes (found in at least one of the top k unit-days), precision P@k unit-days"))
    headers = [tr(lang, "评分", "scorer")] + [f"P@{k}" for k in KS] + [f"R@{k}" for k in KS] + [
        tr(lang, f"R@{max(KS)} 按类型", f"R@{max(KS)} by kind")]
    rows = [[tr(lang, *SCORERS[name])] + [f"{r[f'precision@{k}']:.2f}" for k in KS] + [f"{r[f'recall@{k}']:.2f}" for k in KS]
            + [tr(lang, "、", ", ").join(f"{tr(lang, *EPISODE_KINDS.get(k, (k, k)))} {v}"
                                         for k, v in r[f"recall@{max(KS)}_by_kind"].items())]
            for name, r in ev["scorers"].items()]
    lines.append(render(headers, rows, right_align=[False] + [True] * (2 * len(KS)) + [False]))
    lines.append(tr(lang, "异常是提示关注的线索，不是处罚依据。", "An anomaly is a prompt to look, never a sanction."))
    return lines


KIND = ModelKind(name="anomaly", label=("异常评价", "rating anomaly"), feature_version=FEATURE_VERSION, train=train,
                 evaluation_lines=evaluation_lines)
