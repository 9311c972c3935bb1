"""Malformed records: one injected per broken INTERCHANGE rule, so ingest's quarantine has work to do.

A malformed record is an *extra* copy of a valid record of the batch with one rule broken and a fresh
id of its own (``E07X…``, ``R07X…``, ``F07X…``; item codes with basic number ``8xx``), so the valid
stream stays complete and the quarantine can be counted exactly. Rules are taken in turn per record
kind across the whole run, so every rule appears once enough records are injected. Rules that
cannot be expressed in a typed Parquet column (wrong JSON types, lines that are not JSON) are only
used for JSON Lines output. The rule names are recorded in the manifest.
"""

from __future__ import annotations

import copy
import json
from collections import Counter

import numpy as np
import polars as pl

from hcp.domain import RECORD_ID_FIELD

ID_PREFIX = {"case_event": "E", "rating": "R", "followup": "F"}

RULES: dict[str, tuple[str, ...]] = {
    "case_event": (
        "missing:event_id", "missing:case_id", "missing:event_type", "missing:event_time", "missing:item_code",
        "missing:dept_code", "missing:region_code", "missing:kind", "unknown_kind", "unknown_event_type",
        "bad_region_code", "unparseable_time", "bad_channel", "bad_result", "wrong_type:onsite",
        "wrong_type:event_time", "wrong_type:applicant", "garbage",
    ),
    "rating": (
        "missing:rating_id", "missing:item_code", "missing:dept_code", "missing:region_code", "missing:channel",
        "missing:level", "missing:rated_at", "level_out_of_range", "bad_channel", "bad_region_code",
        "unparseable_time", "bad_stage", "wrong_type:level", "wrong_type:tags", "wrong_type:real_name", "garbage",
    ),
    "followup": (
        "missing:followup_id", "missing:rating_id", "missing:action", "missing:action_time", "missing:actor",
        "unknown_action", "unparseable_time", "wrong_type:actor",
    ),
    "item": (
        "promised_gt_legal", "online_depth_out_of_range", "negative_limit", "missing:item_code",
        "unparseable_date", "wrong_type:legal_limit_days",
    ),
    "department": ("bad_region_code", "missing:dept_code"),
    "region": ("bad_region_code", "missing:region_name"),
}
JSON_ONLY = ("wrong_type:", "garbage")
TIME_FIELD = {"case_event": "event_time", "rating": "rated_at", "followup": "action_time"}

#: Unreadable times, whatever the record's own time was.
BAD_TIMES = ("2025-13-45T25:61:00+08:00", "昨天下午3点", "")
#: Times typed wrongly around the record's own wall-clock time ``YYYY-MM-DDThh:mm:ss`` (``{t}``): an
#: impossible offset, a US-style date. Built from the record's own time so that even a lenient reader
#: that shifted or guessed them would land hours, not months, away (a fixed date made a phantom month).
BAD_TIME_FORMS = ("{t}+25:00", "{t}+08:60", "{t}+99:99", "{us}")
BAD_REGIONS = ("3702", "37020200000", "3702020000001", "37020A000000", "370202-000000")
BAD_EVENT_TYPES = ("approved", "办结", "closed", "in_review")
BAD_CASE_CHANNELS = ("wechat", "窗口", "phone", "web")
BAD_RATING_CHANNELS = ("wechat", "电话", "app", "email")
BAD_RESULTS = ("ok", "通过", "pending")
BAD_LEVELS = (6, 0, -1, 10)
BAD_STAGES = ("finished", "办结")
BAD_ACTIONS = ("closed", "整改完成", "resolved")
BAD_KINDS = ("case_events", "event", "CaseEvent")
#: Rules that set one field to a value drawn from a list: rule -> (field, values).
DRAWN: dict[str, tuple[str, tuple]] = {
    "unknown_kind": ("kind", BAD_KINDS),
    "unknown_event_type": ("event_type", BAD_EVENT_TYPES),
    "bad_region_code": ("region_code", BAD_REGIONS),
    "level_out_of_range": ("level", BAD_LEVELS),
    "bad_stage": ("stage", BAD_STAGES),
    "unknown_action": ("action", BAD_ACTIONS),
    "online_depth_out_of_range": ("online_depth", (0, 5)),
    "unparseable_date": ("valid_from", ("2025-02-30", "2025/13/01", "去年")),
    "wrong_type:onsite": ("onsite", ("是", "sometimes")),  # "yes"/"1" are valid text booleans (CSV, Excel)
    "wrong_type:level": ("level", ("满意", 4.5)),
}
#: Rules that set one field to a fixed value of the wrong type: rule -> (field, value).
FIXED = {
    "wrong_type:applicant": ("applicant", "张三 370202199001011234"),
    "wrong_type:tags": ("tags", "办事效率高"),
    "wrong_type:real_name": ("real_name", "是"),
    "wrong_type:legal_limit_days": ("legal_limit_days", "二十个工作日"),
}


def rules_for(kind: str, fmt: str) -> tuple[str, ...]:
    rules = RULES[kind]
    return rules if fmt == "jsonl" else tuple(r for r in rules if not r.startswith(JSON_ONLY))


def stochastic_count(rng: np.random.Generator, rows: int, share: float) -> int:
    """``rows · share`` rounded up or down at random (so small batches still get their share on average)."""
    expected = rows * share
    return int(expected) + int(rng.random() < expected - int(expected))


def bad_time(own: str, choice: int) -> str:
    """Bad time number ``choice`` of :data:`BAD_TIMES` followed by :data:`BAD_TIME_FORMS` (the latter
    built from ``own``, an ISO time ``YYYY-MM-DDThh:mm:ss+08:00``)."""
    if choice < len(BAD_TIMES):
        return BAD_TIMES[choice]
    wall = own[:19]
    us = f"{int(wall[5:7])}/{int(wall[8:10])}/{wall[:4]} {int(wall[11:13])}:{wall[14:16]}"
    return BAD_TIME_FORMS[choice - len(BAD_TIMES)].format(t=wall, us=us)


class Malformer:
    """Makes malformed records and keeps the count per kind and rule (for the manifest)."""

    def __init__(self, fmt: str, seed: int):
        self.fmt, self.seed = fmt, seed
        self.turn: Counter = Counter()
        self.serial = 0
        self.injected: dict[str, Counter] = {k: Counter() for k in RULES}

    def make(self, kind: str, frame: pl.DataFrame, count: int, rng: np.random.Generator) -> list[dict | str]:
        """``count`` malformed records of ``kind`` built from random rows of ``frame``: dicts, or for
        non-JSON garbage, raw text lines."""
        if count <= 0 or frame.height == 0:
            return []
        rules = rules_for(kind, self.fmt)
        out: list[dict | str] = []
        for row in rng.integers(0, frame.height, count):
            rule = rules[self.turn[kind] % len(rules)]
            self.turn[kind] += 1
            self.serial += 1
            record = copy.deepcopy(frame.row(int(row), named=True))
            self._fresh_id(kind, record)
            out.append(self._break(kind, rule, record, rng))
            self.injected[kind][rule] += 1
        return out

    def _fresh_id(self, kind: str, record: dict) -> None:
        field = RECORD_ID_FIELD[kind]
        if kind in ID_PREFIX:
            record[field] = f"{ID_PREFIX[kind]}{self.seed:02d}X{self.serial:011d}"
        elif kind == "item":
            record[field] = f"{record[field][:-3]}8{self.serial % 100:02d}"
        elif kind == "department":
            record[field] = record[field][:-3] + f"9{self.serial % 100:02d}"
        elif kind == "region":
            record[field] = record[field][:6] + f"9{self.serial % 100:02d}000"

    def _missing(self, record: dict, field: str) -> dict:
        if self.fmt == "jsonl":
            record.pop(field, None)
        else:
            record[field] = None
        return record

    def _break(self, kind: str, rule: str, r: dict, rng: np.random.Generator) -> dict | str:
        pick = lambda values: values[int(rng.integers(0, len(values)))]  # noqa: E731
        if rule.startswith("missing:"):
            return self._missing(r, rule.split(":", 1)[1])
        if rule in DRAWN:
            field, values = DRAWN[rule]
            r[field] = pick(values)
        elif rule in FIXED:
            field, value = FIXED[rule]
            r[field] = value
        elif rule == "unparseable_time":
            field = TIME_FIELD[kind]
            r[field] = bad_time(r[field], int(rng.integers(0, len(BAD_TIMES) + len(BAD_TIME_FORMS))))
        elif rule == "bad_channel" and kind == "case_event":
            r["event_type"], r["channel"] = "submitted", pick(BAD_CASE_CHANNELS)
        elif rule == "bad_channel":
            r["channel"] = pick(BAD_RATING_CHANNELS)
        elif rule == "bad_result":
            r["event_type"], r["result"] = "completed", pick(BAD_RESULTS)
        elif rule == "promised_gt_legal":
            legal = max(1, int(r["legal_limit_days"] or 0))
            r["legal_limit_days"], r["promised_limit_days"] = legal, legal + int(rng.integers(1, 10))
        elif rule == "negative_limit":
            r["legal_limit_days"] = -int(rng.integers(1, 30))
        elif rule == "wrong_type:event_time":
            r["event_time"] = int(rng.integers(1_700_000_000, 1_800_000_000))
        elif rule == "wrong_type:actor":
            r["actor"] = int(rng.integers(1000, 9999))
        elif rule == "garbage":
            text = json.dumps(r, ensure_ascii=False, separators=(",", ":"))
            return pick((text[: len(text) // 2], "<html><body><h1>502 Bad Gateway</h1></body></html>", "NULL",
                         f"{r.get('kind')},{r.get(RECORD_ID_FIELD[kind])},,,"))
        else:  # pragma: no cover - every rule is handled above
            raise ValueError(rule)
        return r

    def summary(self) -> dict:
        """Injected counts: {kind: {rule: n}} for the kinds that got any, and the total."""
        per_kind = {k: dict(sorted(c.items())) for k, c in self.injected.items() if c}
        return {"by_kind": per_kind, "total": sum(sum(c.values()) for c in self.injected.values())}
