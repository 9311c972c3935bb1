"""Rating manipulation (刷评) injected into the demo, with labels the detector never sees.

Real halls know four shapes of manipulated ratings; the generator injects labelled *episodes* of each
(issue 14 §3), on top of the honest ratings of :mod:`hcp.demo.ratings`:

* ``device_press`` — **a window presses its own evaluation device**: 8–40 ratings of 非常满意 on one hall
  device (``channel`` ``hall_device``, the window's ``staff_id``, no case), one every 8–30 seconds with
  little jitter, in one sitting during office hours.
* ``one_phone`` — **one phone rates dozens of cases**: a single real-name rater (one phone, one name)
  rates 6–30 different cases of one department (completed before that day; a department with at least 8
  to choose from) on the app or mini program within a few hours of one day after the month's first third.
* ``fast_five`` — **5-star seconds after completion**: 4–15 of the cases a department completed on one
  day are rated 非常满意 on the hall device or QR code 2–45 seconds after their completion (the window
  officer taps it before the applicant could), with the case's own window officer.
* ``month_end`` — **a month-end surge**: on the last one or two working days of the month, a department
  among the 20 busiest receives 3–6 times its usual daily completions in ratings (at least 8), level 5
  (a few 4), for its cases completed in the month (those nobody had rated first, then a second rating of
  others), on remote channels over the day.

Every hall-device rating also carries a ``device_id`` (an unknown field of the interchange record, kept
in ``extra``): two neighbouring window officers share one device (``D`` + the window officer's number with
the officer digits halved), so that a device can be scored as a unit apart from its staff.

**Labels** go to ``labels/manipulation.json`` beside the demo files (never into the warehouse:
``hcp ingest DIR`` reads one level of a folder only): per episode its kind, department, day(s), the unit it
was made through and the ``rating_id`` of every injected rating. :mod:`models.anomaly` reads them only to
evaluate (precision@k, recall of episodes).

Episodes per batch: :data:`EPISODES_PER_CASES` cases give one episode of each kind (at least one each).
Every draw comes from the batch's own seeded generator, so the output stays byte-identical per seed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import polars as pl

from hcp.demo.cases import HALL, CaseBatch, CaseLabels, record_id_expr
from hcp.demo.catalogue import Catalogue
from hcp.demo.clock import DAY, NEVER, DemoCalendar, iso_expr
from hcp.demo.people import mobiles, person_names
from hcp.settings import private_dir
from models.anomaly_labels import LABELS_DIR, LABELS_FILE, read_labels  # the format the evaluation reads

KINDS = ("device_press", "one_phone", "fast_five", "month_end")
#: One episode of each kind per this many cases of a batch (rounded, at least one).
EPISODES_PER_CASES = 7_000
#: Office hours in which the episodes happen (seconds after midnight).
OPEN, CLOSE = 9 * 3600, 17 * 3600


def device_id_expr() -> pl.Expr:
    """``device_id`` of a hall-device rating: window officers 2k-1 and 2k share device k of their
    department (``W37132804003`` → ``D37132804002``); null on other channels or without staff."""
    staff = pl.col("staff_id")
    number = staff.str.slice(-3).cast(pl.Int64, strict=False)
    device = pl.concat_str(pl.lit("D"), staff.str.slice(1, staff.str.len_chars() - 4),
                           ((number + 1) // 2).cast(pl.String).str.zfill(3))
    return pl.when((pl.col("channel") == "hall_device") & staff.is_not_null() & number.is_not_null()).then(device)


def with_devices(ratings: pl.DataFrame) -> pl.DataFrame:
    """The ratings with their ``device_id`` column (see :func:`device_id_expr`)."""
    return ratings.with_columns(device_id=device_id_expr())


def _day_start(t: int) -> int:
    return int(t) // DAY * DAY


def inject(batch: CaseBatch, labels: CaseLabels, cat: Catalogue, cal: DemoCalendar, month: tuple[int, int],
           as_of: int, rated_src: np.ndarray, ratings: pl.DataFrame, first_id: int, seed: int,
           rng: np.random.Generator) -> tuple[pl.DataFrame, list[dict]]:
    """The injected rating records (same columns as ``ratings``, ids from ``first_id``, unordered) and the
    episodes' labels. ``month`` is the demo month as demo seconds [start, end); ``rated_src`` the cases
    that already have a rating (month-end surges rate only the others)."""
    n_each = max(1, int(round(batch.n / EPISODES_PER_CASES)))
    lo, hi = month
    hi = min(hi, as_of)
    region = cat.region[batch.item]
    dept = cat.dept[batch.item]
    multi = cat.multi_stage[region]
    done = batch.completed & (batch.t_comp >= lo) & (batch.t_comp < hi) & ~batch.unknown
    comp_day = np.where(done, batch.t_comp // DAY, -1)
    rows: list[dict] = []
    episodes: list[dict] = []
    used_depts: set[int] = set()

    def add(kind: str, src: np.ndarray, t: np.ndarray, channel: list[str] | np.ndarray, level: np.ndarray,
            has_case: bool, staff: bool, rater: dict | None = None, real_from_case: bool = False) -> None:
        k = len(src)
        start = first_id + sum(len(r["src"]) for r in rows)
        rows.append({"src": np.asarray(src, np.int64), "t": np.asarray(t, np.int64),
                     "channel": np.broadcast_to(np.asarray(channel, dtype=object), (k,)).tolist(),
                     "level": np.asarray(level, np.int64), "has_case": has_case, "staff": staff, "rater": rater,
                     "real_from_case": real_from_case, "start": start})
        s = int(src[0])
        days = sorted({_day_start(x) for x in t})
        episodes.append({"episode": f"M{seed:02d}-{len(episodes) + 1:04d}", "kind": kind,
                         "dept_code": labels.dept_code[s], "staff_id": labels.staff_id[s] if staff else None,
                         "days": [str(np.datetime64(d, "s").astype("datetime64[D]")) for d in days],
                         "ratings": k, "first_id": start})

    def pick_dept(candidates: np.ndarray) -> int | None:
        fresh = [d for d in candidates.tolist() if d not in used_depts]
        if not fresh:
            return None
        d = int(fresh[rng.integers(0, len(fresh))])
        used_depts.add(d)
        return d

    # device_press: a hall case's window officer presses the device in one sitting.
    hall = np.flatnonzero(done & (batch.channel == HALL))
    for _ in range(n_each):
        if not len(hall):
            break
        s = int(hall[rng.integers(0, len(hall))])
        used_depts.add(int(dept[s]))
        m = int(rng.integers(8, 41))
        gap = int(rng.integers(8, 31))
        day = _day_start(batch.t_comp[s])
        t0 = day + int(rng.integers(OPEN, CLOSE - m * (gap + 3)))
        t = t0 + np.cumsum(np.r_[0, gap + rng.integers(-2, 4, m - 1)])
        add("device_press", np.full(m, s), t, "hall_device", np.full(m, 5), has_case=False, staff=True)

    # one_phone: one rater rates many completed cases of a department within hours.
    per_dept_day = pl.DataFrame({"dept": dept, "day": comp_day}).filter(pl.col("day") >= 0).group_by(
        "dept", "day").len().sort("dept", "day")
    month_days = cal.working_days_between(*[np.datetime64(x // DAY, "D").astype(object) for x in (lo, hi - 1)])
    for _ in range(n_each):
        if not len(month_days):
            break
        on = int(month_days[rng.integers(len(month_days) // 3, len(month_days))])  # a day after the first third
        before = done & (batch.t_comp < on * DAY + OPEN)
        counts = np.bincount(dept[before], minlength=int(dept.max()) + 1)
        d = pick_dept(np.flatnonzero(counts >= 8))
        if d is None:
            break
        pool = np.flatnonzero(before & (dept == d))
        m = min(len(pool), int(rng.integers(6, 31)))
        src = np.sort(rng.choice(pool, size=m, replace=False))
        t = on * DAY + int(rng.integers(OPEN, CLOSE - 3 * 3600)) + np.cumsum(rng.integers(40, 400, m))
        if t[-1] >= hi:
            continue
        name = person_names(rng, np.array([rng.random() < 0.5]))[0]
        rater = {"id_number": None, "phone": mobiles(rng, 1)[0], "name": name}
        add("one_phone", src, t, rng.choice(["mobile_app", "mini_program"], size=m), np.full(m, 5),
            has_case=True, staff=False, rater=rater)

    # fast_five: a department's cases of one day rated seconds after completion.
    for _ in range(n_each):
        busy = per_dept_day.filter(pl.col("len") >= 4)
        busy = busy.filter(~pl.col("dept").is_in(list(used_depts)))
        if not busy.height:
            break
        row = busy.row(int(rng.integers(0, busy.height)), named=True)
        used_depts.add(int(row["dept"]))
        pool = np.flatnonzero(done & (dept == row["dept"]) & (comp_day == row["day"]))
        m = min(len(pool), int(rng.integers(4, 16)))
        src = np.sort(rng.choice(pool, size=m, replace=False))
        t = batch.t_comp[src] + rng.integers(2, 46, m)
        add("fast_five", src, t, rng.choice(["hall_device", "qr_code"], size=m, p=[0.8, 0.2]),
            np.full(m, 5), has_case=True, staff=True)

    # month_end: a surge of good ratings on the month's last working days for unrated cases.
    rated = np.zeros(batch.n, bool)
    rated[rated_src] = True
    month_end = month[1] // DAY - 1  # the month's last calendar day
    last_index = int(cal.index(np.array([month_end]))[0])
    days = cal.day_of_index(np.array([last_index - 1, last_index]))  # its last two working days
    if month[1] <= as_of:
        volume = pl.DataFrame({"dept": dept[done]}).group_by("dept").agg(
            per_day=pl.len() / max(1, (hi - lo) // DAY)).sort("dept")
        for _ in range(n_each):
            # among the busiest departments (at least one rating every other day)
            candidates = volume.filter(pl.col("per_day") >= 0.5).sort("per_day", "dept", descending=[True, False]).head(20)
            d = pick_dept(candidates["dept"].sort().to_numpy()) if candidates.height else None
            if d is None:
                break
            usual = float(volume.filter(pl.col("dept") == d)["per_day"][0])
            eligible = done & (dept == d) & (batch.t_comp < days[-1] * DAY)
            unrated, rerated = np.flatnonzero(eligible & ~rated), np.flatnonzero(eligible & rated)
            m = min(len(unrated) + len(rerated), max(8, int(round(usual * rng.uniform(3, 6)))))
            if m < 6:
                continue
            # the cases nobody rated first, then (a second rating) cases already rated
            src = rng.permutation(unrated)[:m]
            src = np.sort(np.concatenate([src, rng.permutation(rerated)[:m - len(src)]]))
            on = days[-1:] if rng.random() < 0.5 else days  # the last working day, or the last two
            on = on[rng.integers(0, len(on), m)]
            t = on * DAY + rng.integers(OPEN, CLOSE + 4 * 3600, m)
            t = np.maximum(t, batch.t_comp[src] + 600)
            keep = t < hi
            if keep.sum() < 6:
                continue
            src, t = src[keep], t[keep]
            level = np.where(rng.random(len(src)) < 0.9, 5, 4)
            add("month_end", src, t, rng.choice(["sms", "mobile_app", "mini_program", "pc"], size=len(src)), level,
                has_case=True, staff=False, real_from_case=True)

    if not rows:
        return ratings.clear(), []
    src = np.concatenate([r["src"] for r in rows])
    total = len(src)
    has_case = np.concatenate([np.full(len(r["src"]), r["has_case"]) for r in rows])
    staff = np.concatenate([np.full(len(r["src"]), r["staff"]) for r in rows])
    own = np.concatenate([np.full(len(r["src"]), r["real_from_case"]) for r in rows])
    rater = [r["rater"] for r in rows for _ in range(len(r["src"]))]
    person = labels.person.select("id_number", "phone", "name")[src]
    real = np.array([p is not None for p in rater]) | (own & (rng.random(total) < 0.6))
    frame = pl.DataFrame({
        "n": np.arange(first_id, first_id + total, dtype=np.int64),
        "t": np.concatenate([r["t"] for r in rows]),
        "has_case": has_case, "staff_on": staff,
        "ch": [c for r in rows for c in r["channel"]],
        "level": np.concatenate([r["level"] for r in rows]),
        "multi": multi[src],
        "real": real,
        "case_id": labels.case_id.gather(pl.Series(src)), "item_code": labels.item_code.gather(pl.Series(src)),
        "dept_code": labels.dept_code.gather(pl.Series(src)), "region_code": labels.region_code.gather(pl.Series(src)),
        "staff": labels.staff_id.gather(pl.Series(src)),
        "r_id": [p["id_number"] if p else v for p, v in zip(rater, person["id_number"].to_list())],
        "r_phone": [p["phone"] if p else v for p, v in zip(rater, person["phone"].to_list())],
        "r_name": [p["name"] if p else v for p, v in zip(rater, person["name"].to_list())],
    }, schema_overrides={"r_id": pl.String, "r_phone": pl.String, "r_name": pl.String})
    out = frame.select(
        kind=pl.lit("rating"),
        rating_id=record_id_expr("R", seed),
        case_id=pl.when("has_case").then("case_id"),
        item_code="item_code", dept_code="dept_code", region_code="region_code",
        staff_id=pl.when("staff_on").then("staff"),
        channel="ch", level="level",
        stage=pl.when(pl.col("has_case") & pl.col("multi")).then(pl.lit("completed")),
        tags=pl.lit(None, dtype=pl.List(pl.String)), comment=pl.lit(None, dtype=pl.String),
        rated_at=iso_expr("t"), real_name="real", default_rating=pl.lit(False),
        rater=pl.when("real").then(pl.struct(id_number="r_id", phone="r_phone", name="r_name")),
    )
    out = with_devices(out).select(ratings.columns).cast(dict(ratings.schema))
    for episode in episodes:
        start = episode.pop("first_id")
        episode["rating_ids"] = out["rating_id"].slice(start - first_id, episode["ratings"]).to_list()
    return out, episodes


def write_labels(out: Path, episodes: list[dict], seed: int) -> Path:
    """``labels/manipulation.json`` (0600, in a 0700 folder) beside the demo files; always rewritten, so
    a rerun never leaves the labels of an earlier run."""
    directory = private_dir(Path(out) / LABELS_DIR)
    path = directory / LABELS_FILE
    body = {"generator": "hcp.demo.manipulation", "seed": seed, "kinds": list(KINDS),
            "episodes": episodes, "ratings": sum(e["ratings"] for e in episodes)}
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(body, handle, ensure_ascii=False, indent=1)
    os.replace(tmp, path)
    return path


__all__ = ["KINDS", "device_id_expr", "with_devices", "inject", "write_labels", "read_labels", "NEVER"]
