"""A straightforward pandas implementation of the case and rating indicators: the benchmark's baseline.

It is written the way one would write it without a working-day index: per case, walk the calendar
day by day (DOMAIN rules 1–6 read literally), with pandas group-by for the rest. It must give exactly
the engine's figures; `bench/metrics.py` checks that before comparing speed.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

ONE_DAY = dt.timedelta(days=1)


class DayWalker:
    """Working-day questions answered by walking the calendar (no index)."""

    def __init__(self, working_days: set[dt.date]):
        self.working = working_days

    def deadline(self, accepted: dt.date, limit: int, stops: list[tuple[dt.date, dt.date]]) -> dt.date:
        if limit == 0:
            return accepted
        count, day = 0, accepted
        while count < limit:
            day += ONE_DAY
            if day in self.working and not any(s < day <= r for s, r in stops):
                count += 1
        return day

    def counted_between(self, after: dt.date, upto: dt.date, stops=()) -> int:
        count, day = 0, after
        while day < upto:
            day += ONE_DAY
            if day in self.working and not any(s < day <= r for s, r in stops):
                count += 1
        return count


def _pair(times_a: list, times_b: list) -> list[tuple]:
    """Each start with the first end after (or at) it."""
    pairs = []
    for start in times_a:
        later = [t for t in times_b if t >= start]
        pairs.append((start, min(later) if later else None))
    return pairs


def case_facts(events: pd.DataFrame, items: pd.DataFrame, walker: DayWalker) -> pd.DataFrame:
    events = events.drop_duplicates("event_id").sort_values(["event_time", "event_id"])
    versions_by_item: dict[str, list[tuple[dt.date, int]]] = {}
    for code, since, limit in items.sort_values("valid_from")[["item_code", "valid_from", "promised_limit_days"]].itertuples(index=False):
        versions_by_item.setdefault(code, []).append((since, int(limit)))

    def one(case: pd.DataFrame) -> dict:
        by_type = {t: list(g["event_time"]) for t, g in case.groupby("event_type")}
        first = lambda t: by_type[t][0] if t in by_type else None  # noqa: E731
        ends = [(first(t), t) for t in ("completed", "rejected", "withdrawn") if first(t) is not None]
        end_at, end_type = min(ends) if ends else (None, None)
        accepted = first("accepted")
        state = end_type or ("accepted" if accepted is not None else "submitted")
        submitted_rows = case[case["event_type"] == "submitted"]
        row = {
            "case_id": case["case_id"].iloc[0],
            "item_code": case["item_code"].iloc[0], "dept_code": case["dept_code"].iloc[0],
            "region_code": case["region_code"].iloc[0],
            "state": state,
            "completed_at": end_at if state == "completed" else None,
            "trips": int(case["onsite"].sum()),
            "online": bool(len(submitted_rows)) and submitted_rows["channel"].iloc[0] in ("online", "mobile"),
            "on_time": None, "net_working_days": None, "same_day": None,
        }
        if state != "completed" or accepted is None:
            return row
        a, c = accepted.date(), end_at.date()
        versions = versions_by_item.get(row["item_code"])
        if not versions:
            return row
        in_force = [limit for since, limit in versions if since <= a]
        limit = in_force[-1] if in_force else versions[0][1]
        stops = []
        for s, r in _pair(by_type.get("suspended", []), by_type.get("resumed", [])):
            stops.append((max(s.date(), a), min((r or end_at).date(), c)))
        for s, r in _pair(by_type.get("supplement_requested", []), by_type.get("supplement_received", [])):
            if s > accepted:
                stops.append((s.date(), min((r or end_at).date(), c)))
        deadline = walker.deadline(a, limit, stops)
        row.update(on_time=c <= deadline, net_working_days=walker.counted_between(a, c, stops), same_day=c == a)
        return row

    return pd.DataFrame([one(g) for _, g in events.groupby("case_id", sort=False)])


def rating_facts(ratings: pd.DataFrame, followups: pd.DataFrame, walker: DayWalker, rectify_days: int) -> pd.DataFrame:
    ratings = ratings.drop_duplicates("rating_id")
    fu = followups.drop_duplicates("followup_id").sort_values(["action_time", "followup_id"])
    decisions = fu[fu["action"].isin(["appeal_upheld", "appeal_rejected"])].groupby("rating_id")["action"].last()
    rectified = fu[fu["action"].isin(["rectified", "explained"])].groupby("rating_id")["action_time"].first()
    revisited = set(fu.loc[fu["action"] == "revisited", "rating_id"])
    out = ratings.copy()
    out["upheld"] = out["rating_id"].map(decisions).eq("appeal_upheld")
    out["counted"] = ~out["default_rating"] & ~out["upheld"]
    out["rectified_at"] = out["rating_id"].map(rectified)
    out["rectified"] = out["rectified_at"].notna()
    out["on_time"] = [
        bool(pd.notna(r)) and walker.counted_between(t.date(), r.date()) <= rectify_days
        for t, r in zip(out["rated_at"], out["rectified_at"])
    ]
    out["revisited"] = out["rating_id"].isin(revisited)
    return out


def indicators(facts: pd.DataFrame, rfacts: pd.DataFrame, start: dt.date, end: dt.date, by: str) -> pd.DataFrame:
    """Case and rating indicators per group (``by`` = 'all' or 'dept') for a period [start, end)."""
    key = (lambda df: pd.Series("all", index=df.index)) if by == "all" else (lambda df: df["dept_code"])
    rated = set(rfacts.loc[rfacts["counted"] & (rfacts["case_id"] != ""), "case_id"])
    done = facts[(facts["state"] == "completed")].copy()
    done = done[[start <= t.date() < end for t in done["completed_at"]]]
    done["group"] = key(done)
    done["rated"] = done["case_id"].isin(rated)
    cases = done.groupby("group").apply(lambda g: pd.Series({
        "cases_completed": len(g),
        "on_time_rate": (g["on_time"] == True).sum() / len(g),  # noqa: E712
        "avg_net_working_days": g["net_working_days"].dropna().mean() if g["net_working_days"].notna().any() else np.nan,
        "same_day_rate": (g["same_day"] == True).sum() / len(g),  # noqa: E712
        "zero_trip_rate": (g["trips"] == 0).sum() / len(g),
        "max_one_trip_rate": (g["trips"] <= 1).sum() / len(g),
        "online_rate": g["online"].sum() / len(g),
        "rating_coverage": g["rated"].sum() / len(g),
    }), include_groups=False)
    given = rfacts[rfacts["counted"] & [start <= t.date() < end for t in rfacts["rated_at"]]].copy()
    given["group"] = key(given)

    def rating_row(g: pd.DataFrame) -> pd.Series:
        bad = g[g["level"] <= 2]
        real_bad = bad[bad["real_name"]]
        return pd.Series({
            "ratings": len(g),
            "good_rate": (g["level"] >= 4).sum() / len(g),
            "bad_rate": len(bad) / len(g),
            "bad_rectified_rate": bad["rectified"].sum() / len(bad) if len(bad) else np.nan,
            "bad_rectified_on_time_rate": bad["on_time"].sum() / len(bad) if len(bad) else np.nan,
            "revisit_rate": real_bad["revisited"].sum() / len(real_bad) if len(real_bad) else np.nan,
        })

    ratings = given.groupby("group").apply(rating_row, include_groups=False)
    return cases.join(ratings, how="outer").sort_index()
