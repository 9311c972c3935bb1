"""A small province in October 2025 whose every indicator is worked out by hand (see the test module).

D1 (市场监管局, Qingdao 370202) and D2 (行政审批局, Jinan 370102). Items: ITEM5 (D1, promised 5 / legal 10,
depth 4, 0 trips), ITEM3 (D1, 3/6, depth 2, 1 trip; a later version from Nov 1 with depth 4), ITEM0 (D2,
immediate 0/0, depth 3, 0 trips), ITEM2 (D2, 2/5, depth 3, 0 trips).
"""

from __future__ import annotations

import polars as pl

from tests.builders import (event, events_frame, followup, followups_frame, items_frame, lifecycle, rating,
                            ratings_frame)

QD, JN = "370202000000", "370102000000"


def events() -> pl.DataFrame:
    d1 = {"dept": "D1", "region": QD}
    d2 = {"dept": "D2", "region": JN}
    rows = [
        # A: accepted Fri Sep 26, limit 5 → D Oct 10; completed Sat Oct 11 (make-up): overdue 1, net 6; 1 trip.
        event("A", "submitted", "2025-09-26 09:00", channel="hall", onsite=True, **d1),
        event("A", "accepted", "2025-09-26 09:30", **d1),
        event("A", "completed", "2025-10-11 11:00", **d1),
        # B: accepted Tue Sep 30, limit 3 → D Oct 11 (make-up Sat); completed that day: on time, net 3; online.
        event("B", "submitted", "2025-09-30 08:00", item="ITEM3", channel="online", **d1),
        event("B", "accepted", "2025-09-30 09:30", item="ITEM3", **d1),
        event("B", "completed", "2025-10-11 16:00", item="ITEM3", **d1),
        # C: accepted Thu Oct 9, suspended Oct 10 → resumed Oct 14 (3 days stopped) → D Oct 20; completed
        # Oct 17: on time, net 4; mobile; an on-site pick-up on Oct 20 (1 trip).
        event("C", "submitted", "2025-10-09 08:00", channel="mobile", **d1),
        event("C", "accepted", "2025-10-09 09:30", **d1),
        event("C", "suspended", "2025-10-10 10:00", **d1),
        event("C", "resumed", "2025-10-14 09:00", **d1),
        event("C", "completed", "2025-10-17 15:00", **d1),
        event("C", "delivered", "2025-10-20 10:00", onsite=True, **d1),
        # F1: immediate, done on the spot Oct 9: on time, same day, net 0; 2 trips (hall submit + on-site result).
        event("F1", "submitted", "2025-10-09 09:00", item="ITEM0", channel="hall", onsite=True, **d2),
        event("F1", "accepted", "2025-10-09 09:05", item="ITEM0", **d2),
        event("F1", "completed", "2025-10-09 09:20", item="ITEM0", onsite=True, **d2),
        # F2: immediate, accepted Oct 9, completed Oct 10: overdue 1, net 1; online, 0 trips.
        event("F2", "submitted", "2025-10-09 08:00", item="ITEM0", channel="online", **d2),
        event("F2", "accepted", "2025-10-09 09:00", item="ITEM0", **d2),
        event("F2", "completed", "2025-10-10 09:00", item="ITEM0", **d2),
        # X: ITEM2 accepted Tue Oct 28 → D Thu Oct 30; still open.
        *lifecycle("X", "2025-10-28", item="ITEM2", **d2),
        # K: ITEM2 accepted Oct 9, suspended Oct 10, never resumed: clock stopped.
        *lifecycle("K", "2025-10-09", item="ITEM2", **d2),
        event("K", "suspended", "2025-10-10 11:00", item="ITEM2", **d2),
        # M: ITEM3 accepted Mon Oct 20 → D Thu Oct 23; suspended Oct 27, after its deadline; open.
        *lifecycle("M", "2025-10-20", item="ITEM3", **d1),
        event("M", "suspended", "2025-10-27 10:00", item="ITEM3", **d1),
        # Y: a September case (not in October's figures).
        *lifecycle("Y", "2025-09-19", item="ITEM3", completed="2025-09-24 10:00", **d1),
        # W: withdrawn.
        *lifecycle("W", "2025-10-13", item="ITEM2", **d2),
        event("W", "withdrawn", "2025-10-14 10:00", item="ITEM2", **d2),
    ]
    return events_frame(rows)


def items() -> pl.DataFrame:
    return items_frame({
        "ITEM5": (5, 10, 4, 0, "D1", "2024-01-01"),
        "ITEM3": (3, 6, 2, 1, "D1", "2024-01-01"),
        "ITEM0": (0, 0, 3, 0, "D2", "2024-01-01"),
        "ITEM2": (2, 5, 3, 0, "D2", "2024-01-01"),
    }).vstack(items_frame({"ITEM3": (3, 6, 4, 0, "D1", "2025-11-01")}))


def departments() -> pl.DataFrame:
    return pl.DataFrame({"dept_code": ["D1", "D2"], "dept_name": ["青岛市市南区市场监督管理局", "济南市历下区行政审批服务局"],
                         "region_code": [QD, JN]})


def regions() -> pl.DataFrame:
    return pl.DataFrame({
        "region_code": ["370000000000", "370100000000", "370102000000", "370200000000", QD],
        "region_name": ["山东省", "济南市", "历下区", "青岛市", "市南区"],
        "parent_code": ["", "370000000000", "370100000000", "370000000000", "370200000000"],
    })


def ratings() -> pl.DataFrame:
    d1 = {"dept": "D1", "region": QD}
    d2 = {"dept": "D2", "region": JN, "item": "ITEM0"}
    return ratings_frame([
        rating("r1", "A", 1, "2025-10-13 10:00", real_name=True, **d1),   # bad, rectified on time, revisited
        rating("r2", "B", 5, "2025-10-12 10:00", item="ITEM3", dept="D1", region=QD),
        rating("r3", "C", 2, "2025-10-20 10:00", **d1),                   # bad, explained late
        rating("r4", "F1", 5, "2025-10-09 18:00", default=True, channel="sms", **d2),  # default: excluded
        rating("r5", "F2", 1, "2025-10-11 10:00", real_name=True, **d2),  # appeal upheld: excluded
        rating("r6", "F2", 4, "2025-10-11 10:05", real_name=True, **d2),  # 一事多评, counted
        rating("r7", "", 3, "2025-10-15 10:00", channel="hall_device", **d2),  # hall rating without a case
        rating("r8", "A", 2, "2025-10-14 10:00", real_name=True, **d1),   # appeal rejected: counted, open
        rating("r9", "Y", 5, "2025-09-26 10:00", item="ITEM3", dept="D1", region=QD),  # September
    ])


def followups() -> pl.DataFrame:
    return followups_frame([
        followup("r1", "verified", "2025-10-14 10:00", reason="efficiency"),
        followup("r1", "rectified", "2025-10-20 10:00"),   # 5 working days after Oct 13 ≤ 15
        followup("r1", "feedback", "2025-10-21 10:00"),
        followup("r1", "revisited", "2025-10-22 10:00"),
        followup("r3", "verified", "2025-10-21 10:00", reason="policy"),
        followup("r3", "explained", "2025-11-12 10:00"),   # 17 working days after Oct 20 > 15
        followup("r5", "appealed", "2025-10-13 10:00"),
        followup("r5", "appeal_upheld", "2025-10-15 10:00"),
        followup("r8", "appealed", "2025-10-15 10:00"),
        followup("r8", "appeal_rejected", "2025-10-17 10:00"),
    ])


def load(wh) -> None:
    wh.insert_df("regions", regions())
    wh.insert_df("departments", departments())
    wh.insert_df("items", items())
    wh.insert_df("case_events", events())
    wh.insert_df("ratings", ratings())
    wh.insert_df("followups", followups())
