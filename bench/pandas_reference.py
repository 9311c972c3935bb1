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

    def counts(self, day: dt.date, stops) -> bool:
        """A working day outside every clock stop ``s < day <= r`` counts towards the limit."""
        return day in self.working and not any(s < day <= r for s, r in stops)

    def deadline(self, accepted: dt.date, limit: int, stops: list[tuple[dt.date, dt.date]]) -> dt.date:
        if limit == 0:
            return accepted
        count, day = 0, accepted
        while count < limit:
            day += ONE_DAY
            count += self.counts(day, stops)
        return day

    def counted_between(self, after: dt.date, upto: dt.date, stops=()) -> int:
        count, day = 0, after
        while day < upto:
            day += ONE_DAY
            count += self.counts(day, stops)
        return count


def _pairs(events: pd.DataFrame, start_type: str, end_type: str) -> pd.DataFrame:
    """Each start event with the next end event of the same case (merge_asof forward)."""
    starts = events.loc[events["event_type"] == start_type, ["case_id", "event_time"]].rename(columns={"event_time": "start"})
    ends = events.loc[events["event_type"] == end_type, ["case_id", "event_time"]].rename(columns={"event_time": "end"})
    return pd.merge_asof(starts.sort_values("start"), ends.sort_values("end"), left_on="start", right_on="end",
                         by="case_id", direction="forward")


def case_facts(events: pd.DataFrame, items: pd.DataFrame, walker: DayWalker) -> pd.DataFrame:
    """Milestones, stops and codes with pandas; deadlines and net days by walking the calendar per case."""
    events = events.drop_duplicates("event_id").sort_values(["event_time", "event_id"])
    first = events.groupby(["case_id", "event_type"])["event_time"].min().unstack()
    for col in ("submitted", "accepted", "completed", "rejected", "withdrawn"):
        if col not in first:
            first[col] = pd.NaT
    cases = events.groupby("case_id")[["item_code", "dept_code", "region_code"]].first()
    cases["trips"] = events.groupby("case_id")["onsite"].sum().astype(int)
    channel = events[events["event_type"] == "submitted"].groupby("case_id")["channel"].first()
    cases["online"] = channel.reindex(cases.index).isin(["online", "mobile"])
    ends = first[["completed", "rejected", "withdrawn"]]
    end_at = ends.min(axis=1)
    state = ends.fillna(pd.Timestamp.max.tz_localize("Asia/Shanghai")).idxmin(axis=1).where(end_at.notna())
    state = state.fillna(first["accepted"].notna().map({True: "accepted", False: "submitted"}))
    cases["state"] = state
    cases["accepted_at"] = first["accepted"]
    cases["completed_at"] = end_at.where(state == "completed")
    # DOMAIN: events that contradict each other (completion or acceptance before submission, completion
    # before acceptance) make a case inconsistent; it is left out of every case indicator.
    submitted = first["submitted"]
    cases["inconsistent"] = ((cases["completed_at"] < submitted) | (cases["accepted_at"] < submitted)
                             | (cases["completed_at"] < cases["accepted_at"])).fillna(False)

    suspensions = _pairs(events, "suspended", "resumed")
    supplements = _pairs(events, "supplement_requested", "supplement_received")
    supplements = supplements[supplements["start"] > supplements["case_id"].map(first["accepted"])]
    stops = pd.concat([suspensions, supplements])
    stops_by_case: dict[str, list] = {}
    for case_id, start, end in stops.itertuples(index=False):
        stops_by_case.setdefault(case_id, []).append((start, end))

    versions_by_item: dict[str, list[tuple[dt.date, int]]] = {}
    for code, since, limit in items.sort_values("valid_from")[["item_code", "valid_from", "promised_limit_days"]].itertuples(index=False):
        versions_by_item.setdefault(code, []).append((since, int(limit)))

    on_time, net, same_day = [], [], []
    done = cases[(cases["state"] == "completed") & cases["accepted_at"].notna()]
    for case_id, item, accepted, completed in zip(done.index, done["item_code"], done["accepted_at"], done["completed_at"]):
        a, c = accepted.date(), completed.date()
        clipped = [(max(s.date(), a), min((r if pd.notna(r) else completed).date(), c))
                   for s, r in stops_by_case.get(case_id, [])]
        net.append(walker.counted_between(a, c, clipped))
        same_day.append(c == a)
        versions = versions_by_item.get(item)
        if not versions:  # an item missing from the catalogue: no deadline, neither on time nor overdue
            on_time.append(None)
            continue
        in_force = [limit for since, limit in versions if since <= a]
        limit = in_force[-1] if in_force else versions[0][1]
        on_time.append(c <= walker.deadline(a, limit, clipped))
    cases["on_time"] = pd.Series(on_time, index=done.index, dtype="object")
    cases["net_working_days"] = pd.Series(net, index=done.index, dtype="float")
    cases["same_day"] = pd.Series(same_day, index=done.index, dtype="object")
    return cases.reset_index()


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
    # Coverage: a case the applicant rated (any rating but a default one; an appeal-upheld rating too).
    rated = set(rfacts.loc[~rfacts["default_rating"] & (rfacts["case_id"] != ""), "case_id"])
    lo, hi = pd.Timestamp(start, tz="Asia/Shanghai"), pd.Timestamp(end, tz="Asia/Shanghai")
    done = facts[(facts["state"] == "completed") & ~facts["inconsistent"].astype(bool)
                 & (facts["completed_at"] >= lo) & (facts["completed_at"] < hi)].copy()
    done["group"] = key(done)
    done["rated"] = done["case_id"].isin(rated)
    cases = done.groupby("group").apply(lambda g: pd.Series({
        "cases_completed": len(g),
        "on_time_rate": (g["on_time"] == True).sum() / g["on_time"].notna().sum() if g["on_time"].notna().any() else np.nan,  # noqa: E712
        "avg_net_working_days": g["net_working_days"].dropna().mean() if g["net_working_days"].notna().any() else np.nan,
        "same_day_rate": (g["same_day"] == True).sum() / len(g),  # noqa: E712
        "zero_trip_rate": (g["trips"] == 0).sum() / len(g),
        "max_one_trip_rate": (g["trips"] <= 1).sum() / len(g),
        "online_rate": g["online"].sum() / len(g),
        "rating_coverage": g["rated"].sum() / len(g),
    }), include_groups=False)
    given = rfacts[rfacts["counted"] & (rfacts["rated_at"] >= lo) & (rfacts["rated_at"] < hi)].copy()
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
