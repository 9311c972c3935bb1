"""The demo province generator: determinism, interchange validity, calendar, lifecycle and shares.

Small runs on the real working-day calendar. The record checker below is written from INTERCHANGE.md
on its own (it does not reuse the generator's vocabulary), so it can catch the generator drifting.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import polars as pl
import pytest

from hcp.demo.generator import DemoError, DemoParams, generate, previous_month, resolve_as_of
from hcp.demo.malformed import RULES
from hcp.workdays import WorkCalendar
from tests.conftest import run_hcp

# --- An independent checker of INTERCHANGE.md ---------------------------------------------------
EVENT_TYPES = {"submitted", "supplement_requested", "supplement_received", "accepted", "rejected", "suspended",
               "resumed", "completed", "delivered", "withdrawn"}
CASE_CHANNELS = {"online", "mobile", "hall", "self_service", "mail", "agent"}
RATING_CHANNELS = {"pc", "mobile_app", "mini_program", "sms", "hall_device", "qr_code", "hotline", "self_service"}
ACTIONS = {"verified", "rectified", "explained", "feedback", "revisited", "appealed", "appeal_upheld",
           "appeal_rejected"}
REASONS = {"efficiency", "attitude", "materials", "trips", "system", "policy", "other"}
CODE12 = re.compile(r"^\d{12}$")


def _str(v) -> bool:
    return isinstance(v, str) and v != ""


def _opt_str(v) -> bool:
    return v is None or isinstance(v, str)


def _opt_bool(v) -> bool:
    return v is None or isinstance(v, bool)


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def parse_time(v) -> dt.datetime | None:
    """ISO 8601 with an offset (none = Asia/Shanghai) → aware datetime, else None. An impossible offset
    (beyond ±14:00, or minutes ≥ 60, which Python would still read) is bad input (DOMAIN.md)."""
    if not isinstance(v, str):
        return None
    offset = re.search(r"[+-](\d{2}):?(\d{2})$", v)
    if offset and (int(offset.group(2)) >= 60 or int(offset.group(1)) * 60 + int(offset.group(2)) > 14 * 60):
        return None
    try:
        t = dt.datetime.fromisoformat(v)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone(dt.timedelta(hours=8)))


def _person(v, fields) -> bool:
    return v is None or (isinstance(v, dict) and all(_opt_str(v.get(f)) for f in fields))


def problems(r) -> list[str]:
    """Why a record breaks INTERCHANGE.md (empty list = valid)."""
    if not isinstance(r, dict):
        return ["not a JSON object"]
    kind = r.get("kind")
    out = []
    if kind == "case_event":
        out += [f for f in ("event_id", "case_id", "item_code", "dept_code") if not _str(r.get(f))]
        if r.get("event_type") not in EVENT_TYPES:
            out.append("event_type")
        if parse_time(r.get("event_time")) is None:
            out.append("event_time")
        if not (isinstance(r.get("region_code"), str) and CODE12.match(r["region_code"])):
            out.append("region_code")
        if r.get("event_type") == "submitted" and r.get("channel") not in CASE_CHANNELS:
            out.append("channel")
        if r.get("event_type") == "completed" and r.get("result") not in ("approved", "denied"):
            out.append("result")
        if not _opt_bool(r.get("onsite")):
            out.append("onsite")
        if not _opt_str(r.get("staff_id")):
            out.append("staff_id")
        app = r.get("applicant")
        if not _person(app, ("type", "name", "id_number", "phone")) or (
            app and app.get("type") not in ("person", "org")
        ):
            out.append("applicant")
    elif kind == "rating":
        out += [f for f in ("rating_id", "item_code", "dept_code") if not _str(r.get(f))]
        if not (isinstance(r.get("region_code"), str) and CODE12.match(r["region_code"])):
            out.append("region_code")
        if r.get("channel") not in RATING_CHANNELS:
            out.append("channel")
        if not (_int(r.get("level")) and 1 <= r["level"] <= 5):
            out.append("level")
        if r.get("stage") not in (None, "accepted", "completed"):
            out.append("stage")
        tags = r.get("tags")
        if not (tags is None or (isinstance(tags, list) and all(isinstance(t, str) for t in tags))):
            out.append("tags")
        if parse_time(r.get("rated_at")) is None:
            out.append("rated_at")
        out += [f for f in ("real_name", "default_rating") if not _opt_bool(r.get(f))]
        out += [f for f in ("case_id", "staff_id", "comment") if not _opt_str(r.get(f))]
        if not _person(r.get("rater"), ("id_number", "phone", "name")):
            out.append("rater")
    elif kind == "followup":
        out += [f for f in ("followup_id", "rating_id", "actor") if not _str(r.get(f))]
        if r.get("action") not in ACTIONS:
            out.append("action")
        if parse_time(r.get("action_time")) is None:
            out.append("action_time")
        out += [f for f in ("reason_category", "note") if not _opt_str(r.get(f))]
    elif kind == "item":
        out += [f for f in ("item_code", "item_name", "dept_code", "item_type") if not _str(r.get(f))]
        legal, promised = r.get("legal_limit_days"), r.get("promised_limit_days")
        if not (_int(legal) and legal >= 0):
            out.append("legal_limit_days")
        if not (_int(promised) and promised >= 0):
            out.append("promised_limit_days")
        elif _int(legal) and legal > 0 and promised > legal:
            out.append("promised > legal")
        if not (_int(r.get("online_depth")) and 1 <= r["online_depth"] <= 4):
            out.append("online_depth")
        if not (_int(r.get("max_trips")) and r["max_trips"] >= 0):
            out.append("max_trips")
        try:
            dt.date.fromisoformat(r.get("valid_from"))
        except (TypeError, ValueError):
            out.append("valid_from")
    elif kind == "department":
        out += [f for f in ("dept_code", "dept_name") if not _str(r.get(f))]
        if not (isinstance(r.get("region_code"), str) and CODE12.match(r["region_code"])):
            out.append("region_code")
    elif kind == "region":
        if not (isinstance(r.get("region_code"), str) and CODE12.match(r["region_code"])):
            out.append("region_code")
        if not _str(r.get("region_name")):
            out.append("region_name")
        if not (r.get("parent_code") is None or CODE12.match(str(r["parent_code"]))):
            out.append("parent_code")
    else:
        out.append("kind")
    return out


ID_OF = {"case_event": "event_id", "rating": "rating_id", "followup": "followup_id", "item": "item_code",
         "department": "dept_code", "region": "region_code"}
FILE_KIND = {"case_events": "case_event", "ratings": "rating", "followups": "followup", "items": "item",
             "departments": "department", "regions": "region"}


def file_kind(name: str) -> str:
    return FILE_KIND[re.match(r"^([a-z_]+)", name).group(1)]


def read_jsonl(path: Path) -> list:
    """Parsed lines; a line that is not JSON becomes its raw text."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            out.append(line)
    return out


class Run:
    """A generated directory, parsed: valid records per kind (first copy per id), invalid counts per file."""

    def __init__(self, out: Path, reader=read_jsonl):
        self.out = out
        self.manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        self.valid: dict[str, dict[str, dict]] = defaultdict(dict)
        self.items: list[dict] = []  # every valid item record (versions share a code)
        self.invalid: Counter = Counter()
        self.repeats: Counter = Counter()
        self.identical_repeats = True
        self.files: dict[str, list] = {}
        for f in self.manifest["files"]:
            records = reader(out / f["name"])
            self.files[f["name"]] = records
            kind = file_kind(f["name"])
            for r in records:
                if problems(r):
                    self.invalid[kind] += 1
                    continue
                if kind == "item":
                    self.items.append(r)
                    continue
                key = r[ID_OF[kind]]
                if key in self.valid[kind]:
                    self.repeats[kind] += 1
                    self.identical_repeats &= self.valid[kind][key] == r
                else:
                    self.valid[kind][key] = r

    def events(self) -> list[dict]:
        return list(self.valid["case_event"].values())

    def ratings(self) -> list[dict]:
        return list(self.valid["rating"].values())


MONTH = "2025-10"
AS_OF = dt.datetime(2025, 11, 11, tzinfo=dt.timezone(dt.timedelta(hours=8)))


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Run:
    out = tmp_path_factory.mktemp("demo") / "2025-10"
    generate(DemoParams(month=MONTH, out=out, cases=20_000, seed=7, chunk_cases=8_000, malformed_share=0.01))
    return Run(out)


# --- Determinism ----------------------------------------------------------------------------------
def _bytes(out: Path) -> dict[str, bytes]:
    """Every file the run wrote, by path (the manipulation labels are in ``labels/``)."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_different_seed_different(tmp_path):
    params = dict(month="2025-09", cases=1_500, chunk_cases=600, malformed_share=0.01)
    generate(DemoParams(out=tmp_path / "a", seed=11, **params))
    generate(DemoParams(out=tmp_path / "b", seed=11, **params))
    generate(DemoParams(out=tmp_path / "c", seed=12, **params))
    a, b, c = _bytes(tmp_path / "a"), _bytes(tmp_path / "b"), _bytes(tmp_path / "c")
    assert a == b
    assert a.keys() == c.keys()
    assert a["case_events-00001.jsonl"] != c["case_events-00001.jsonl"]
    assert a["ratings-00001.jsonl"] != c["ratings-00001.jsonl"]
    generate(DemoParams(out=tmp_path / "p", seed=11, fmt="parquet", **params))
    generate(DemoParams(out=tmp_path / "q", seed=11, fmt="parquet", **params))
    assert _bytes(tmp_path / "p") == _bytes(tmp_path / "q")


def test_rerun_into_same_directory_replaces_old_chunks(tmp_path):
    generate(DemoParams(month="2025-09", out=tmp_path, cases=900, chunk_cases=300))
    generate(DemoParams(month="2025-09", out=tmp_path, cases=400, chunk_cases=300))
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    expected = [f["name"] for f in manifest["files"]] + ["manifest.json", "labels"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(expected)
    assert manifest["injected"]["manipulation"]["labels"] == "labels/manipulation.json"


# --- Interchange validity and injected records ----------------------------------------------------
def test_every_record_is_valid_or_counted_as_malformed(run):
    injected = run.manifest["injected"]["malformed"]
    assert sum(run.invalid.values()) == injected["total"] > 0
    for kind, rules in injected["by_kind"].items():
        assert run.invalid[kind] == sum(rules.values()), kind
    # Every rule of the two big streams is exercised at a 1 % share.
    assert set(injected["by_kind"]["case_event"]) == set(RULES["case_event"])
    assert set(injected["by_kind"]["rating"]) == set(RULES["rating"])
    assert injected["by_kind"]["item"].get("promised_gt_legal", 0) >= 1


def test_counts_duplicates_and_unknown_items_match_manifest(run):
    m = run.manifest
    for kind in ("case_event", "rating", "followup", "department", "region"):
        assert len(run.valid[kind]) == m["counts"][kind], kind
    assert len(run.items) == m["counts"]["item"]
    assert dict(run.repeats) == {k: v for k, v in m["injected"]["duplicates"].items() if v}
    assert run.identical_repeats
    catalogue = {r["item_code"] for r in run.items}
    unknown = [e for e in run.events() if e["item_code"] not in catalogue]
    assert len(unknown) == m["injected"]["unknown_item"]["case_events"] > 0
    assert len({e["case_id"] for e in unknown}) == m["injected"]["unknown_item"]["cases"]


def test_late_events_arrive_hours_to_days_after_they_happened(run):
    """A late event keeps its true time but is written where the stream has reached its arrival (an hour
    to four days later), in a later file: out of time order, never far."""
    seen: set[str] = set()
    late = []  # (event, how far the stream had gone past its time when it arrived)
    duplicates = 0
    for name, records in run.files.items():
        if not name.startswith("case_events"):
            continue
        latest = None
        for r in records:
            if not isinstance(r, dict) or problems(r):
                continue
            t = parse_time(r["event_time"])
            if r["event_id"] in seen:
                duplicates += 1  # an exact re-send, appended at the end of a later file
            elif latest is not None and t < latest:
                late.append((r, latest - t))
            seen.add(r["event_id"])
            latest = t if latest is None else max(latest, t)
    injected = run.manifest["injected"]
    assert duplicates == injected["duplicates"]["case_event"]
    # Most late events overtake some other event; those that arrive in a quiet hour do not.
    assert 0.5 * injected["late_events"] < len(late) <= injected["late_events"]
    assert max(behind for _, behind in late) <= dt.timedelta(days=4)
    assert max(behind for _, behind in late) >= dt.timedelta(hours=12)


def inconsistent_case_ids(run) -> set[str]:
    """DOMAIN.md: a case whose completion (or acceptance) falls before its submission, or whose completion
    falls before its acceptance."""
    times: dict[str, dict[str, dt.datetime]] = defaultdict(dict)
    for e in run.events():
        times[e["case_id"]][e["event_type"]] = parse_time(e["event_time"])
    out = set()
    for case_id, t in times.items():
        sub, acc, comp = t.get("submitted"), t.get("accepted"), t.get("completed")
        if (comp and comp < sub) or (acc and acc < sub) or (comp and acc and comp < acc):
            out.add(case_id)
    return out


def test_no_event_precedes_its_case_except_the_deliberately_inconsistent_cases(run):
    submitted = {e["case_id"]: parse_time(e["event_time"]) for e in run.events() if e["event_type"] == "submitted"}
    inconsistent = inconsistent_case_ids(run)
    early = {e["case_id"] for e in run.events() if parse_time(e["event_time"]) < submitted[e["case_id"]]}
    assert early <= inconsistent
    # About one case in 5,000, deterministic, and exactly as many as the manifest reports.
    assert len(inconsistent) == run.manifest["injected"]["inconsistent_cases"] == 4
    assert run.manifest["parameters"]["inconsistent_every"] == 5_000
    cal = WorkCalendar()
    by_case: dict[str, dict[str, dict]] = defaultdict(dict)
    for e in run.events():
        if e["case_id"] in inconsistent:
            by_case[e["case_id"]][e["event_type"]] = e
    for case_id, ev in by_case.items():
        # A clerical slip: the completion typed 1-3 working days before the acceptance, on a working day.
        accepted, completed = (parse_time(ev[k]["event_time"]) for k in ("accepted", "completed"))
        assert 1 <= cal.working_days_between(completed.date(), accepted.date()) <= 3, case_id
        assert cal.is_working(completed.date()) and "result" in ev["completed"]
        # The whole case stays inside the demo month: it creates no event in another one.
        assert all(e["event_time"].startswith(MONTH) for e in ev.values()), ev


def _window(manifest) -> tuple[dt.datetime, dt.datetime]:
    tz = dt.timezone(dt.timedelta(hours=8))
    first = dt.datetime.fromisoformat(manifest["period"]["first_submission"]).replace(tzinfo=tz)
    return first, dt.datetime.fromisoformat(manifest["as_of"])


def test_every_time_of_the_demo_falls_in_its_window(run):
    """From the first submission (the weeks before the month) to the as-of: no phantom month."""
    first, as_of = _window(run.manifest)
    assert first.date() < dt.date(2025, 10, 1) and as_of.date() == dt.date(2025, 11, 11)
    for kind, field in (("case_event", "event_time"), ("rating", "rated_at"), ("followup", "action_time")):
        times = [parse_time(r[field]) for r in run.valid[kind].values()]
        assert first <= min(times) and max(times) <= as_of, kind


def _text_date(value) -> dt.date | None:
    """The calendar date a time text starts with (ISO or US-style ``M/D/YYYY``), if it is a real date."""
    if not isinstance(value, str):
        return None
    iso = re.match(r"^(\d{4})-(\d{2})-(\d{2})", value)
    us = re.match(r"^(\d{1,2})/(\d{1,2})/(\d{4})", value)
    try:
        if iso:
            return dt.date(*map(int, iso.groups()))
        if us:
            return dt.date(int(us.group(3)), int(us.group(1)), int(us.group(2)))
    except ValueError:
        return None
    return None


def test_malformed_times_of_another_month_stay_near_their_record(tmp_path):
    """Regression: a malformed copy of a completed event carried a fixed 2025-10-09T09:30:00+25:00, which a
    reader shifting the offset stored a year before a 2026 case's submission (a phantom month)."""
    out = tmp_path / "2026-03"
    manifest = generate(DemoParams(month="2026-03", out=out, cases=3_000, seed=5, malformed_share=0.05))
    run = Run(out)
    first, as_of = _window(manifest)
    dates = []
    for name, records in run.files.items():
        kind = file_kind(name)
        field = {"case_event": "event_time", "rating": "rated_at", "followup": "action_time"}.get(kind)
        dates += [_text_date(r.get(field)) for r in records if field and isinstance(r, dict)]
    dates = [d for d in dates if d is not None]
    assert dates and first.date() <= min(dates) and max(dates) <= as_of.date()
    bad_offsets = [r for records in run.files.values() for r in records
                   if isinstance(r, dict) and re.search(r"\+(25:00|08:60|99:99)$", str(r.get("event_time")))]
    assert bad_offsets  # impossible offsets are still injected, on the record's own wall-clock time
    assert manifest["injected"]["inconsistent_cases"] == 1  # 3,000 cases: one, rounded up


def test_nothing_after_as_of_and_times_have_offset(run):
    assert run.manifest["as_of"] == "2025-11-11T00:00:00+08:00"
    for e in run.events():
        assert e["event_time"].endswith("+08:00") and parse_time(e["event_time"]) <= AS_OF
    for r in run.ratings():
        assert parse_time(r["rated_at"]) <= AS_OF
    for f in run.valid["followup"].values():
        assert parse_time(f["action_time"]) <= AS_OF


# --- Calendar -------------------------------------------------------------------------------------
STAFF_ACTIONS = {"accepted", "rejected", "suspended", "resumed", "completed", "supplement_requested"}


def test_window_events_fall_on_working_days_incl_make_up_days(run):
    cal = WorkCalendar()
    days = Counter()
    for e in run.events():
        t = parse_time(e["event_time"])
        if e["staff_id"] is not None or e["event_type"] in STAFF_ACTIONS:
            assert cal.is_working(t.date()), e
            days[t.date()] += 1
            if e["staff_id"] is not None:
                assert dt.time(8, 30) <= t.time() <= dt.time(20, 0), e
    # 2025: Sun Sep 28 and Sat Oct 11 are make-up working days; Oct 1–8 are the holiday.
    assert days[dt.date(2025, 9, 28)] > 0 and days[dt.date(2025, 10, 11)] > 0
    assert not any(days[dt.date(2025, 10, d)] for d in range(1, 9))
    assert days[dt.date(2025, 10, 12)] == 0  # an ordinary Sunday


# --- Lifecycle ------------------------------------------------------------------------------------
def test_each_case_follows_the_lifecycle(run):
    by_case: dict[str, list[dict]] = defaultdict(list)
    for e in run.events():
        by_case[e["case_id"]].append(e)
    assert len(by_case) == run.manifest["cases"]["generated"]
    keys = {"item_code", "dept_code", "region_code"}
    inconsistent = inconsistent_case_ids(run)
    for case_id, events in by_case.items():
        # A deliberately inconsistent case's completion is mistyped before its acceptance: put it back.
        order = {e["event_type"]: e["event_time"] for e in events}
        if case_id in inconsistent:
            order["completed"] = order["accepted"] + "~"  # right after the acceptance
        events.sort(key=lambda e: order[e["event_type"]] if e["event_type"] in ("accepted", "completed")
                    else e["event_time"])
        types = [e["event_type"] for e in events]
        assert types[0] == "submitted" and types.count("submitted") == 1, types
        assert len({tuple(e[k] for k in keys) for e in events}) == 1
        assert case_id.startswith(events[0]["region_code"][:6] + "-")
        assert types.count("accepted") + types.count("rejected") <= 1
        if "completed" in types:
            assert "accepted" in types and types.index("accepted") < types.index("completed")
            assert set(types[types.index("completed") + 1:]) <= {"delivered"}
        if "delivered" in types:
            assert "completed" in types
        for end in ("rejected", "withdrawn"):
            if end in types:
                assert types[-1] == end and types.count(end) == 1
        for first, then in (("suspended", "resumed"), ("supplement_requested", "supplement_received")):
            assert types.count(then) <= types.count(first)
            for i, t in enumerate(types):
                if t == then:
                    assert first in types[:i]
        for e in events:
            assert (e["channel"] is not None) == (e["event_type"] == "submitted")
            assert (e["result"] is not None) == (e["event_type"] == "completed")
            if e["event_type"] == "submitted" and e["channel"] == "hall":
                assert e["onsite"] and e["staff_id"]
            if e["event_type"] == "submitted" and e["channel"] in ("online", "mobile"):
                assert not e["onsite"]


def test_some_cases_are_open_at_as_of(run):
    stats = run.manifest["cases"]
    assert 0 < stats["open_at_as_of"] < 0.15 * stats["generated"]
    assert stats["completed"] + stats["rejected"] + stats["withdrawn"] + stats["open_at_as_of"] == stats["generated"]
    events = run.events()
    assert any(e["event_type"] == "suspended" for e in events)


def test_personal_data_looks_real(run):
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    applicants = [e["applicant"] for e in run.events() if e["applicant"]]
    assert applicants and {a["type"] for a in applicants} == {"person", "org"}
    for a in applicants:
        assert re.fullmatch(r"1[358]\d{9}", a["phone"])
        if a["type"] == "person":
            pid = a["id_number"]
            assert re.fullmatch(r"\d{17}[\dX]", pid)
            assert "10X98765432"[sum(int(c) * w for c, w in zip(pid, weights)) % 11] == pid[17]
            dt.date(int(pid[6:10]), int(pid[10:12]), int(pid[12:14]))
            assert 2 <= len(a["name"]) <= 4
        else:
            assert re.fullmatch(r"91\d{6}[0-9A-Z]{10}", a["id_number"]) and a["name"].endswith("公司")
    names = Counter(a["id_number"] for a in applicants)
    assert names.most_common(1)[0][1] > 1  # regular applicants recur


# --- Shares ---------------------------------------------------------------------------------------
def test_catalogue_shape(run):
    latest: dict[str, dict] = {}
    for item in sorted(run.items, key=lambda r: r["valid_from"]):
        latest[item["item_code"]] = item
    assert len(run.items) > len(latest)  # re-issued versions
    first = min(r["valid_from"] for r in run.items)
    assert first < "2025-09-01"
    items = list(latest.values())
    assert 300 <= len(items) <= 2_000
    assert 0.25 <= sum(i["promised_limit_days"] == 0 for i in items) / len(items) <= 0.36
    assert sum(i["online_depth"] >= 3 for i in items) / len(items) >= 0.8
    assert sum(i["max_trips"] == 0 for i in items) / len(items) >= 0.75
    regions = run.valid["region"]
    assert len([c for c in regions if c.endswith("00000000") and not c.endswith("0000000000")]) == 16
    assert 130 <= len([c for c in regions if not c.endswith("00000000")]) <= 145
    assert all(r["parent_code"] is None or r["parent_code"] in regions for r in regions.values())
    assert all(d["region_code"] in regions for d in run.valid["department"].values())


def test_online_share_differs_by_city(run):
    online, total = Counter(), Counter()
    for e in run.events():
        city = e["region_code"][:4]
        if e["event_type"] == "submitted" and city != "3700":
            total[city] += 1
            online[city] += e["channel"] in ("online", "mobile")
    shares = [online[c] / total[c] for c in total]
    assert len(shares) == 16
    assert 0.3 <= min(shares) and max(shares) <= 0.95 and max(shares) - min(shares) >= 0.2


def test_rating_shares(run):
    completed_in_month = {e["case_id"] for e in run.events()
                          if e["event_type"] == "completed" and e["event_time"].startswith(MONTH)}
    own = [r for r in run.ratings() if not r["default_rating"]]
    rated = {r["case_id"] for r in own if r["case_id"]}
    coverage = len(completed_in_month & rated) / len(completed_in_month)
    assert 0.60 <= coverage <= 0.85
    levels = Counter(r["level"] for r in own if r["rated_at"].startswith(MONTH))
    n = sum(levels.values())
    assert (levels[4] + levels[5]) / n > 0.95
    assert 0.005 <= (levels[1] + levels[2]) / n <= 0.02
    defaults = [r for r in run.ratings() if r["default_rating"]]
    assert defaults and all(r["level"] == 5 and r["channel"] in ("sms", "pc") and not r["real_name"] for r in defaults)
    assert any(r["stage"] == "accepted" for r in own) and any(r["case_id"] is None for r in own)
    assert all(r["rater"] for r in own if r["real_name"])
    bad_comments = {r["comment"] for r in own if r["level"] <= 2 and r["comment"]}
    assert len(bad_comments) >= 25


def test_ratings_come_after_the_step_they_rate(run):
    done: dict[str, str] = {}
    accepted: dict[str, str] = {}
    for e in run.events():
        if e["event_type"] == "completed":
            done[e["case_id"]] = e["event_time"]
        if e["event_type"] in ("accepted", "rejected"):
            accepted[e["case_id"]] = e["event_time"]
    for r in run.ratings():
        if r["case_id"] is None:
            continue
        if r["stage"] == "accepted" or r["case_id"] not in done:
            assert parse_time(r["rated_at"]) > parse_time(accepted[r["case_id"]])
        else:
            assert parse_time(r["rated_at"]) > parse_time(done[r["case_id"]])


def test_followups_close_the_loop_of_bad_ratings(run):
    ratings = run.valid["rating"]
    loops: dict[str, list[dict]] = defaultdict(list)
    for f in run.valid["followup"].values():
        rating = ratings[f["rating_id"]]
        assert rating["level"] <= 2 and not rating["default_rating"]
        assert parse_time(f["action_time"]) > parse_time(rating["rated_at"])
        loops[f["rating_id"]].append(f)
    actions = Counter()
    for rating_id, steps in loops.items():
        steps.sort(key=lambda f: f["action_time"])
        assert steps[0]["action"] == "verified" and steps[0]["reason_category"] in REASONS
        assert all(s["reason_category"] is None for s in steps[1:])
        actions.update(s["action"] for s in steps)
    assert actions["rectified"] and actions["explained"] and actions["revisited"] and actions["appealed"]
    bad = [r for r in ratings.values() if r["level"] <= 2 and not r["default_rating"]]
    assert len(loops) <= len(bad)


# --- Small helpers --------------------------------------------------------------------------------
def test_previous_month_and_default_as_of():
    assert previous_month(dt.date(2026, 1, 15)) == "2025-12"
    assert previous_month(dt.date(2025, 10, 1)) == "2025-09"
    october = dt.date(2025, 10, 1)
    later = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    assert resolve_as_of(None, october, now=later) == dt.datetime(2025, 11, 11)
    during = dt.datetime(2025, 10, 20, 1, 2, 3, tzinfo=dt.timezone.utc)  # 09:02:03 in Shanghai
    assert resolve_as_of(None, october, now=during) == dt.datetime(2025, 10, 20, 9, 2)
    with pytest.raises(DemoError):
        resolve_as_of(dt.datetime(2025, 9, 30), october)


# --- The command line -----------------------------------------------------------------------------
def test_cli_generate_writes_manifest_and_summary(tmp_path, hcp_home):
    out = tmp_path / "jsonl"
    result = run_hcp("--lang", "en", "demo", "generate", "--month", "2025-09", "--cases", "1500", "--seed", "3",
                     "--out", str(out), "--as-of", "2025-10-05T12:00:00+08:00", check=True)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["parameters"]["cases"] == 1500 and manifest["as_of"] == "2025-10-05T12:00:00+08:00"
    assert "case events" in result.stdout and "files" in result.stdout
    assert f"inconsistent cases {manifest['injected']['inconsistent_cases']}" in result.stdout
    run = Run(out)
    assert max(e["event_time"] for e in run.events()) <= "2025-10-05T12:00:00+08:00"

    bad = run_hcp("demo", "generate", "--month", "2025-9", "--out", str(out))
    assert bad.returncode == 2 and "2025-10" in bad.stderr


def test_cli_parquet_has_the_same_columns_typed(tmp_path, hcp_home):
    out = tmp_path / "parquet"
    run_hcp("demo", "generate", "--month", "2025-09", "--cases", "1500", "--format", "parquet",
            "--malformed-share", "0.01", "--out", str(out), check=True)
    events = pl.read_parquet(next(out.glob("case_events-*.parquet")))
    assert isinstance(events.schema["applicant"], pl.Struct) and events.schema["onsite"] == pl.Boolean
    ratings = pl.read_parquet(next(out.glob("ratings-*.parquet")))
    assert ratings.schema["tags"] == pl.List(pl.String) and isinstance(ratings.schema["rater"], pl.Struct)
    assert ratings.schema["level"] == pl.Int64
    run = Run(out, reader=lambda p: pl.read_parquet(p).to_dicts())
    assert sum(run.invalid.values()) == run.manifest["injected"]["malformed"]["total"] > 0


# --- Deadlines (DOMAIN.md rules 1–5, computed here with the real calendar) -------------------------
def _deadline_facts(run: Run):
    """Per accepted case without a clock stop: acceptance date, promised limit in force, deadline, completion."""
    cal = WorkCalendar()
    versions: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for item in run.items:
        versions[item["item_code"]].append((item["valid_from"], item["promised_limit_days"]))
    by_case: dict[str, dict[str, dict]] = defaultdict(dict)
    supplements: dict[str, list[str]] = defaultdict(list)
    for e in run.events():
        by_case[e["case_id"]][e["event_type"]] = e
        if e["event_type"] == "supplement_requested":
            supplements[e["case_id"]].append(e["event_time"])
    facts = []
    for case_id, ev in by_case.items():
        if "accepted" not in ev or {"suspended", "withdrawn"} & ev.keys():
            continue
        if ev["accepted"]["item_code"] not in versions:
            continue
        accepted = parse_time(ev["accepted"]["event_time"]).date()
        if any(t > ev["accepted"]["event_time"] for t in supplements[case_id]):
            continue  # a supplement after acceptance stops the clock
        limit = max(v for v in versions[ev["accepted"]["item_code"]] if v[0] <= accepted.isoformat())[1]
        deadline = accepted if limit == 0 else cal.add_working_days(accepted, limit)
        done = parse_time(ev["completed"]["event_time"]).date() if "completed" in ev else None
        facts.append((ev["accepted"]["dept_code"], accepted, limit, deadline, done))
    return cal, facts


def test_open_cases_include_red_and_yellow_and_overdue_varies_by_department(run):
    cal, facts = _deadline_facts(run)
    as_of = AS_OF.date()
    red = [f for f in facts if f[4] is None and as_of > f[3]]
    yellow = [f for f in facts if f[4] is None and as_of <= f[3] and cal.working_days_between(as_of, f[3]) <= 2]
    assert red and yellow
    completed = [f for f in facts if f[4] is not None]
    overdue = [f for f in completed if f[4] > f[3]]
    assert 0.005 <= len(overdue) / len(completed) <= 0.08
    immediate = [f for f in completed if f[2] == 0]
    assert sum(f[4] == f[1] for f in immediate) / len(immediate) > 0.95  # 即办件: same day
    per_dept: dict[str, list[bool]] = defaultdict(list)
    for f in completed:
        per_dept[f[0]].append(f[4] > f[3])
    rates = [sum(v) / len(v) for v in per_dept.values() if len(v) >= 100]
    assert len(rates) >= 5 and max(rates) - min(rates) >= 0.03
