"""Every number a monthly bulletin prints, gathered once into a plain, canonical dictionary.

The indicators, scores, ranks and bottom-two marks are read through the same code path as
``hcp metrics`` — :class:`metrics.jobs.MetricsJob` brings the stored results up to date, then
:func:`warehouse.queries.group_metrics.read_group_metrics` and :func:`metrics.records.metrics_records` give the very records
``hcp metrics --format json`` prints. Nothing here recomputes an indicator. The lists behind the figures
(overdue cases, bad ratings and their rectification, inconsistent cases) come from the same facts the
metrics use: ``case_facts`` for completed cases, :func:`metrics.flags.flags_as_of` for cases still open and
red at the end of the month, :func:`metrics.ratings.rating_facts` over the month's ratings and their
follow-ups, and :func:`metrics.quality.inconsistent_cases`.

The result is JSON-ready (dates as ISO strings, no timestamps of the run itself), so the same data gives
the same dictionary, and its canonical JSON is what the archive checksums (:mod:`reports.archive`).

**As of.** Whether a bad rating's rectification limit has passed (逾期未整改 or 整改中) is judged on the
day the figures are computed — the day the metrics job runs for them — and so is the number of working
days an in-progress rating has left. That day is part of the figures (``as_of``) and of the data
version. Once every rating of the month is due (the day after the last possible due date of a rating
made on the month's last day, :func:`as_of_day`) nothing depends on the day any more, and ``as_of``
stays at that day: a bulletin re-published later from the same data has the same checksum.

A **scope** is the whole warehouse (``all``) or a region subtree given by a 12-digit code at province,
city or county level. Its office ranks the regions below it (cities and counties, or a city's counties)
beside the 本级 rows of the governments in it (``region:own``: 山东省本级, 济南市本级), and its **own
government's departments** (本级部门: departments whose region is the scope's region; for ``all``, the
province's). The figures carry every department and every region of the scope — each with its
``rank_status`` (ranked, 样本不足, no data), a unit without any stored figure as a short no-data record —
for the workbook; the bulletin picks what it prints.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

import polars as pl

from hcp.config import Config, get_config
from hcp.errors import HcpError
from hcp.indicators import DEFAULT_TARGETS
from hcp.periods import Period
from hcp.scope import Scope
from hcp.workdays import CalendarRangeError, WorkCalendar, region_prefix
from warehouse.queries.events import first_applicant_names
from warehouse.queries.facts import cases_of, load_case_facts, overdue_completed
from warehouse.queries.group_metrics import read_group_metrics
from warehouse.queries.ratings import load_followups, load_ratings, rated_in, rater_names
from warehouse.queries.reference import group_names, load_calendar, load_departments, region_rows
from warehouse.queries.sql import Where, scope_condition
from warehouse.queries.state import data_stamp
from metrics.flags import flags_as_of
from metrics.records import metrics_records
from metrics.jobs import MetricsJob, MetricsSettings, peer_groups
from metrics.score import mark_bottom_two, rank_within_peers
from models import cause, cause_data, store as model_store
from supervision.urges import per_department as urges_per_department, urge_outcomes
from metrics.quality import inconsistent_cases, per_department, untimed_cases
from metrics.ratings import rating_facts
from warehouse.client import SHANGHAI, Warehouse

#: Bump when the structure of the figures (and so of every checksum) changes.
FIGURES_FORMAT = 6  # 4: urges (督办); 5: bad_causes (verified and predicted apart); 6: quality.untimed

LEVELS = {2: "province", 4: "city", 6: "county"}
#: Region groupings shown below a scope of each level (``region:own``: the 本级 rows of its governments).
SUB_GROUPINGS = {
    "all": ("region:city", "region:county", "region:own"),
    "province": ("region:city", "region:county", "region:own"),
    "city": ("region:county", "region:own"),
    "county": (),
}
#: Which regions of the scope each grouping holds: a code's significant digits.
GROUPING_WIDTH = {"region:city": (4,), "region:county": (6,), "region:own": (2, 4)}
#: Order of rank statuses in every list: ranked units first, then 样本不足, then no data.
STATUS_ORDER = {"ranked": 0, "small_sample": 1, "no_data": 2}

@dataclass(frozen=True)
class DataVersion:
    """What the figures were computed from: the newest raw record's arrival, the settings in force and,
    for a bulletin, the day rectification due-ness is judged on.

    ``watermark`` is ``max(received_at)`` over the raw tables (``None`` for an empty warehouse: the
    watermark of :func:`warehouse.queries.state.data_stamp`);
    ``settings`` fingerprints the scoring and rectification settings; ``as_of`` is the as-of day
    (:func:`as_of_day`; ``None`` where nothing depends on it). Two runs with the same data version see
    the same data under the same rules on the same day, so they give the same figures.
    """

    watermark: str | None
    settings: str
    as_of: str | None = None

    @property
    def key(self) -> str:
        base = f"{self.watermark or '-'}|{self.settings}"
        return f"{base}|{self.as_of}" if self.as_of else base


def report_settings_fingerprint(settings: MetricsSettings, config: Config) -> str:
    text = json.dumps([settings.fingerprint(), settings.warning_days, report_targets(config)], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def data_version(wh: Warehouse, settings: MetricsSettings, config: Config, *, as_of: dt.date | None = None) -> DataVersion:
    return DataVersion(data_stamp(wh).watermark, report_settings_fingerprint(settings, config),
                       as_of.isoformat() if as_of else None)


def as_of_day(period: Period, today: dt.date, settings: MetricsSettings, calendar: WorkCalendar) -> dt.date:
    """The day a bulletin of ``period`` judges rectification due-ness on: ``today``, but never later than
    the day on which every bad rating of the period is due — the day after the due date of a rating made
    on the period's last day under the longest limit in force, in every locality's calendar. From then on
    the figures no longer depend on the day."""
    last = period.end - dt.timedelta(days=1)
    limit = max([settings.rectify_days, *settings.rectify_days_by_locality.values()])
    try:
        latest = max(calendar.add_working_days(last, limit, locality) for locality in calendar.localities)
    except CalendarRangeError:
        return today
    return min(today, latest + dt.timedelta(days=1))


def report_targets(config: Config) -> dict[str, float]:
    """Targets to print: the scoring targets, plus ``[reports.targets]`` for indicators not scored, over the
    indicators' default targets (:mod:`hcp.indicators`)."""
    targets = {**DEFAULT_TARGETS, **config.reports.targets}
    targets.update(config.scoring.targets)
    return {k: float(v) for k, v in sorted(targets.items())}


def resolve_scope(wh: Warehouse, region: str | None, lang: str = "zh") -> Scope:
    """The scope of a bulletin; ``None`` is the whole warehouse (titled with its province if there is one)."""
    names = dict(region_rows(wh))
    if not region or region == "all":
        provinces = sorted(code for code in names if code.endswith("0000000000"))
        name = names[provinces[0]] if len(provinces) == 1 else ("全部地区" if lang != "en" else "All regions")
        return Scope.everywhere(name)
    code = region.strip()
    if len(code) != 12 or not code.isdigit():
        raise HcpError(f"区划代码应为 12 位数字 / a region code has 12 digits: {region!r}")
    prefix = region_prefix(code)
    level = LEVELS.get(len(prefix))
    if level is None:
        raise HcpError(f"通报只到县级 / bulletins cover province, city or county regions, not {code}")
    if code not in names:
        raise HcpError(f"未知区划 / unknown region {code} (not in the regions table)")
    return Scope.of_region(code, names[code])


def own_governments(scope: Scope, region_names: dict[str, str]) -> list[str]:
    """The government(s) whose departments the scope's office ranks (本级部门): the scope's own region;
    for the whole warehouse, its province(s)."""
    if scope.level == "all":
        return sorted(code for code in region_names if code.endswith("0000000000"))
    return [scope.code]


def _iso(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


def _in_scope(code: str | None, scope: Scope) -> bool:
    return code is not None and code.startswith(scope.region_prefix)


def _order(record: dict) -> tuple:
    """Ranked units by rank, then 样本不足 units by their (reference) score, then units without data."""
    score = record.get("composite_score")
    return (STATUS_ORDER[record["rank_status"]], record["rank"] or 0, -(score if score is not None else -1.0),
            record["group"])


def no_data_record(code: str, name: str, peer_group: str, peers: int) -> dict:
    """A unit of the scope without any stored figure this month: no data, no score, no rank."""
    return {"group": code, "name": name, "rank_status": "no_data", "rank": None, "peer_group": peer_group,
            "peers": peers, "composite_score": None, "bottom_two": False, "bottom_two_consecutive": False}


class FigureReader:
    """Reads the stored metrics of a month the way ``hcp metrics`` does (same functions, same names)."""

    def __init__(self, wh: Warehouse):
        self.wh = wh
        self._names: dict[str, dict[str, str]] = {}

    def names(self, grouping: str) -> dict[str, str]:
        key = "region" if grouping.startswith("region:") else grouping
        if key not in self._names:
            self._names[key] = group_names(self.wh, grouping)
        return self._names[key]

    def records(self, month: str, grouping: str) -> list[dict]:
        return metrics_records(read_group_metrics(self.wh, month, grouping), self.names(grouping))


def _headline(records: list[dict], scope: Scope) -> dict | None:
    wanted = "all" if scope.level == "all" else scope.code
    return next((r for r in records if r["group"] == wanted), None)


def _complete(records: list[dict], units: dict[str, str], grouping: str, settings: MetricsSettings,
              departments: pl.DataFrame, period: Period) -> list[dict]:
    """``records`` of the units in ``units`` (code → name), plus a no-data record for each unit that has
    none; the peer group of such a unit is the one the metrics would give it (:func:`metrics.jobs.peer_groups`)."""
    have = {r["group"] for r in records}
    missing = sorted(set(units) - have)
    out = [r for r in records if r["group"] in units]
    if missing:
        peers = {}
        for r in records:
            peers[r["peer_group"]] = max(peers.get(r["peer_group"], 0), r["peers"] or 0)
        frame = peer_groups(pl.DataFrame({"group": missing}, schema={"group": pl.String}), grouping,
                            pl.DataFrame(), departments, period, settings.ranking)
        out += [no_data_record(code, units[code], peer, peers.get(peer, 0))
                for code, peer in frame.select("group", "peer_group").iter_rows()]
    return out


def _case(r: dict, names: dict, *, accepted) -> dict:
    """The columns an overdue case is listed with, completed or still open."""
    return {"case_id": r["case_id"], "dept_code": r["dept_code"], "dept_name": names["dept"].get(r["dept_code"], ""),
            "item_code": r["item_code"], "item_name": names["item"].get(r["item_code"], ""),
            "region_code": r["region_code"], "region_name": names["region"].get(r["region_code"], ""),
            "accepted": _iso(accepted), "deadline": _iso(r["deadline"])}


def _overdue(wh: Warehouse, period: Period, scope: Scope, warning_days: int, names: dict) -> dict:
    """Cases completed late in the month, and cases still open and red at its last instant."""
    late = overdue_completed(period, scope_condition(scope))
    facts = load_case_facts(wh, late)
    applicants = first_applicant_names(wh, cases_of(late), late.params)
    completed = [
        {**_case(r, names, accepted=r["acceptance_date"]), "completed": _iso(r["completion_date"]),
         "overdue_working_days": r["overdue_days"], "applicant_masked": applicants.get(r["case_id"], "")}
        for r in facts.sort(["overdue_days", "completion_date", "case_id"], descending=[True, False, False],
                            nulls_last=True).iter_rows(named=True)
    ]
    as_of = dt.datetime.combine(period.end, dt.time(), SHANGHAI) - dt.timedelta(milliseconds=1)
    in_scope = scope_condition(scope)
    flags = flags_as_of(wh, as_of, warning_days, where=in_scope.sql(), parameters=in_scope.params)
    red = flags.filter(pl.col("flag") == "red")
    open_red = [
        {**_case(r, names, accepted=r["accepted_at"].date() if r["accepted_at"] else None),
         "overdue_working_days": r["overdue_working_days"]}
        for r in red.sort(["overdue_working_days", "case_id"], descending=[True, False]).iter_rows(named=True)
    ]
    return {"as_of": as_of.strftime("%Y-%m-%d %H:%M:%S"), "completed": completed, "open_red": open_red}


#: Rectification status of a bad rating, in the order the bulletin lists them.
RECTIFICATION_STATUSES = ("overdue", "in_progress", "rectified", "explained")


def _bad_ratings(wh: Warehouse, period: Period, scope: Scope, settings: MetricsSettings, names: dict,
                 as_of: dt.date, calendar: WorkCalendar) -> list[dict]:
    """The month's counted bad ratings in scope with their rectification state as of ``as_of``.

    The same rating facts as the indicators (:func:`metrics.ratings.rating_facts`, follow-ups known now):
    ``due`` is the last day of the rectification limit. ``status`` is ``rectified`` or ``explained`` once
    done (on time or not), else ``overdue`` (逾期未整改: the limit has passed by ``as_of``) or
    ``in_progress`` (整改中: not yet due; ``working_days_left`` = working days after ``as_of`` up to and
    including the due date, 0 when it is due that very day). Overdue first, then in progress, each by
    due date.
    """
    rated = scope_condition(scope, Where(*rated_in(period)))
    ratings = load_ratings(wh, rated)
    followups = load_followups(wh, rated)
    facts = rating_facts(ratings, followups, calendar, rectify_days=settings.rectify_days,
                         rectify_days_by_locality=settings.rectify_days_by_locality, as_of=as_of)
    bad = facts.filter(pl.col("counted") & pl.col("bad"))
    if bad.height == 0:
        return []
    ordered = followups.unique(subset="followup_id", keep="first").sort("action_time", "followup_id")
    first_done = dict(ordered.filter(pl.col("action").is_in(["rectified", "explained"]))
                      .group_by("rating_id", maintain_order=True).agg(pl.col("action").first()).rows())
    reasons = dict(ordered.filter(pl.col("reason_category") != "")
                   .group_by("rating_id", maintain_order=True).agg(pl.col("reason_category").first()).rows())
    raters = rater_names(wh, rated)
    slot = calendar.locality_expr("region_code")
    bad = bad.with_columns(
        status=pl.when(pl.col("rectified")).then(pl.lit("done"))
        .when(pl.col("due")).then(pl.lit("overdue")).otherwise(pl.lit("in_progress")),
        left=calendar.index_expr(pl.col("due_date"), slot) - calendar.index_expr(pl.lit(as_of), slot),
    ).with_columns(order=pl.col("status").replace_strict({"overdue": 0, "in_progress": 1, "done": 2},
                                                          return_dtype=pl.Int8))
    rows = []
    for r in bad.sort(["order", "due_date", "rated_at", "rating_id"]).iter_rows(named=True):
        status = first_done.get(r["rating_id"], "rectified") if r["status"] == "done" else r["status"]
        rows.append({
            "rating_id": r["rating_id"], "case_id": r["case_id"], "level": r["level"], "channel": r["channel"],
            "dept_code": r["dept_code"], "dept_name": names["dept"].get(r["dept_code"], ""),
            "item_code": r["item_code"], "item_name": names["item"].get(r["item_code"], ""),
            "region_code": r["region_code"], "region_name": names["region"].get(r["region_code"], ""),
            "rated": _iso(r["rated_at"]), "real_name": bool(r["real_name"]),
            "reason": reasons.get(r["rating_id"], ""),
            "status": status, "due": _iso(r["due_date"]),
            "working_days_left": int(r["left"]) if status == "in_progress" and r["left"] is not None else None,
            "rectified": _iso(r["rectified_at"]),
            "rectified_on_time": bool(r["rectified_on_time"]), "revisited": bool(r["revisited"]),
            "rater_masked": raters.get(r["rating_id"], ""),
        })
    return rows


def _bad_causes(wh: Warehouse, bad: list[dict]) -> dict:
    """The month's bad ratings by cause, **verified and predicted apart**: ``verified`` counts the causes
    departments verified; ``predicted`` counts, for the bad ratings not verified yet, the cause the current
    complaint-cause model suggests (:mod:`models.cause`; a text that says nothing is ``other`` by its rule),
    with ``model_version`` — or no ``predicted`` counts (``model_version`` null) when no trained, compatible
    model is current. A predicted cause is a suggestion, never a verified cause."""
    causes = cause.CAUSES
    verified = {c: sum(1 for r in bad if r["reason"] == c) for c in causes}
    pending = [r["rating_id"] for r in bad if not r["reason"]]
    out = {"causes": list(causes), "verified": verified, "unverified": len(pending), "model_version": None,
           "predicted": None}
    try:
        model, manifest = model_store.load("cause", cause.FEATURE_VERSION)
    except (model_store.ModelMissing, model_store.ModelIncompatible):
        return out
    counts = (dict(cause.predict(model, cause_data.load_texts(wh, pending)).group_by("cause").len().rows())
              if pending else {})
    out.update(model_version=manifest["version"], predicted={c: int(counts.get(c, 0)) for c in causes})
    return out


def _quality(wh: Warehouse, period: Period, scope: Scope, names: dict) -> dict:
    """The inconsistent cases of the month in scope (:func:`metrics.quality.inconsistent_cases`: any
    milestone in the month) for correction, and how many each department has; and the cases completed in
    the month that cannot be timed (:func:`metrics.quality.untimed_cases`: item not in the catalogue), per
    department."""
    in_scope = scope_condition(scope)
    cases = inconsistent_cases(wh, period, where=in_scope)
    listed = [
        {"case_id": r["case_id"], "problem": r["problem"],
         "dept_code": r["dept_code"], "dept_name": names["dept"].get(r["dept_code"], ""),
         "item_code": r["item_code"], "item_name": names["item"].get(r["item_code"], ""),
         "region_code": r["region_code"], "region_name": names["region"].get(r["region_code"], ""),
         "submitted": _iso(r["submitted_at"]), "accepted": _iso(r["accepted_at"]), "completed": _iso(r["completed_at"])}
        for r in cases.iter_rows(named=True)
    ]
    by_dept = [{"dept_code": r["dept_code"], "dept_name": names["dept"].get(r["dept_code"], ""), "cases": int(r["cases"])}
               for r in per_department(cases).iter_rows(named=True)] if cases.height else []
    untimed = untimed_cases(wh, period, where=in_scope)
    untimed_by_dept = [{"dept_code": r["dept_code"], "dept_name": names["dept"].get(r["dept_code"], ""),
                        "cases": int(r["cases"])} for r in per_department(untimed).iter_rows(named=True)]
    return {"cases": listed, "per_department": by_dept,
            "untimed": {"cases": untimed.height, "per_department": untimed_by_dept}}


def _urges(wh: Warehouse, period: Period, scope: Scope, as_of: dt.date, names: dict) -> dict:
    """督办 of the month in scope (by the urged case's or rating's region): how many urges were made in the
    month (``issued``; ``repeated`` = 再次督办 among them) and how many were still not answered by the
    department at the end of the as-of day (``open``), in all and per department
    (:func:`supervision.urges.outcomes`: open until the department acts after the urge)."""
    end = dt.datetime.combine(as_of, dt.time(), SHANGHAI) + dt.timedelta(days=1) - dt.timedelta(milliseconds=1)
    start = dt.datetime.combine(period.start, dt.time(), SHANGHAI)
    stop = dt.datetime.combine(period.end, dt.time(), SHANGHAI)
    outcome = urge_outcomes(wh, scope, end)
    month = outcome.filter((pl.col("urged_at") >= start) & (pl.col("urged_at") < stop))
    return {
        "issued": month.height, "repeated": month.filter(pl.col("times") > 1).height,
        "open": month.filter(pl.col("open")).height,
        "by_department": [{"dept_code": r["dept_code"], "dept_name": names["dept"].get(r["dept_code"], ""),
                           "urges": int(r["urges"]), "repeated": int(r["repeated"]), "open": int(r["open"])}
                          for r in urges_per_department(month).iter_rows(named=True)],
    }


def rank_within_office(records: list[dict], previous: list[dict], office: str, settings: MetricsSettings) -> list[dict]:
    """A city office ranks its own counties (DOMAIN: "a region against the regions of the same level under
    the same office"): rank, peers and the bottom-two marks recomputed among the ranked counties of the
    city, with the same scores and the same rules (:mod:`metrics.score`); the province-wide rank is kept
    as ``province_rank`` / ``province_peers``. ``previous`` are last month's records of the same counties,
    for the bottom-two-months-running mark."""
    def ranked(rows: list[dict]) -> pl.DataFrame:
        frame = pl.DataFrame(
            {"group": [r["group"] for r in rows], "composite_score": [r["composite_score"] for r in rows],
             "rank_status": [r["rank_status"] for r in rows], "peer_group": [office] * len(rows)},
            schema={"group": pl.String, "composite_score": pl.Float64, "rank_status": pl.String,
                    "peer_group": pl.String})
        return rank_within_peers(frame)

    before = mark_bottom_two(ranked(previous), None, settings.ranking.bottom_min_peers,
                             settings.ranking.bottom_margin_points) if previous else None
    now = mark_bottom_two(ranked(records), before.select("group", "bottom_two") if before is not None else None,
                          settings.ranking.bottom_min_peers, settings.ranking.bottom_margin_points)
    by_group = {row["group"]: row for row in now.to_dicts()}
    out = []
    for r in records:
        new = by_group[r["group"]]
        out.append(dict(r, peer_group=office, rank=new["rank"], peers=new["peers"], bottom_two=new["bottom_two"],
                        bottom_two_consecutive=new["bottom_two_consecutive"],
                        province_rank=r["rank"], province_peers=r["peers"]))
    return out


def gather(wh: Warehouse, month: str, region: str | None = None, *, lang: str = "zh", refresh: bool = True,
           config: Config | None = None, settings: MetricsSettings | None = None,
           clock=None) -> tuple[dict, DataVersion]:
    """The figures of the monthly bulletin of ``month`` (``YYYY-MM``) for a scope, and their data version.

    ``refresh`` first runs the incremental metrics job (as ``hcp metrics`` does) with the same clock, so
    the figures reflect every record in the warehouse at the data watermark read just before it, and
    rectification due-ness is judged on the day of ``clock()`` (default: now), capped by :func:`as_of_day`.
    """
    try:
        period = Period.parse(month)
    except ValueError as exc:
        raise HcpError(str(exc)) from exc
    if not period.is_month:
        raise HcpError(f"月度通报需要月份 YYYY-MM / a monthly bulletin needs a month YYYY-MM, not {month!r}")
    config = config or get_config()
    settings = settings or MetricsSettings.load(config)
    now = (clock or (lambda: dt.datetime.now(SHANGHAI)))()
    calendar = load_calendar(wh)
    as_of = as_of_day(period, now.astimezone(SHANGHAI).date(), settings, calendar)
    version = data_version(wh, settings, config, as_of=as_of)
    if refresh:
        MetricsJob(wh, settings, clock=lambda: now).run()
    scope = resolve_scope(wh, region, lang)
    reader = FigureReader(wh)
    previous = period.previous_month()
    region_names = reader.names("region:city")
    headline = _headline(reader.records(period.label, scope.grouping), scope)
    if headline is not None:
        headline = dict(headline, peer_name=region_names.get(headline["peer_group"], ""))
    before = _headline(reader.records(previous.label, scope.grouping), scope)

    dept_names = reader.names("dept")
    departments_frame = load_departments(wh)
    dept_region = dict(departments_frame.select("dept_code", "region_code").iter_rows())
    own = own_governments(scope, region_names)
    in_scope = {code: dept_names.get(code, "") for code, reg in dept_region.items() if _in_scope(reg, scope)}
    departments = sorted(
        (dict(r, region_code=dept_region.get(r["group"], ""), peer_name=region_names.get(r["peer_group"], ""))
         for r in _complete(reader.records(period.label, "dept"), in_scope, "dept", settings, departments_frame,
                            period)),
        key=lambda r: (r["peer_group"], *_order(r)))
    regions = {}
    for grouping in SUB_GROUPINGS[scope.level]:
        widths = GROUPING_WIDTH[grouping]
        units = {code: name for code, name in region_names.items()
                 if code.startswith(scope.region_prefix) and len(region_prefix(code)) in widths
                 and (grouping == "region:own" or code != scope.code)}
        rows = _complete(reader.records(period.label, grouping), units, grouping, settings, departments_frame, period)
        if grouping == "region:county" and scope.level == "city" and settings.ranking.county_peers == "province":
            earlier = [r for r in reader.records(previous.label, grouping) if r["group"] in units]
            rows = rank_within_office(rows, earlier, scope.code, settings)
        regions[grouping] = sorted(
            rows, key=lambda r: (r["peer_group"] != "", *_order(r)) if grouping == "region:own" else _order(r))

    def marked(flag: str) -> list[dict]:
        """Units this office ranks — its own departments and the regions below it — with the mark."""
        units = [("dept", r) for r in departments if r["region_code"] in own]
        units += [(g, r) for g, rows in regions.items() for r in rows]
        return [{"grouping": g, "group": r["group"], "name": r["name"], "rank": r["rank"], "peers": r["peers"],
                 "peer_group": r["peer_group"], "peer_name": region_names.get(r["peer_group"], ""),
                 "composite_score": r["composite_score"]}
                for g, r in units if r[flag]]

    names = {"dept": dept_names, "item": reader.names("item"), "region": region_names}
    figures = {
        "format": FIGURES_FORMAT,
        "kind": "monthly",
        "month": period.label,
        "period": {"start": period.start.isoformat(), "end": (period.end - dt.timedelta(days=1)).isoformat()},
        "previous_month": previous.label,
        "as_of": as_of.isoformat(),
        "lang": lang,
        "scope": scope.as_dict(),
        "own": {"codes": own, "names": [region_names.get(code, "") for code in own]},
        "targets": report_targets(config),
        "direction": dict(sorted(settings.scoring.direction.items())),
        "weights": dict(sorted(settings.scoring.weights.items())),
        "rectify_days": settings.rectify_days,
        "ranking": {"min_cases": settings.ranking.min_cases, "min_ratings": settings.ranking.min_ratings,
                    "bottom_min_peers": settings.ranking.bottom_min_peers,
                    "bottom_margin_points": settings.ranking.bottom_margin_points,
                    "county_peers": settings.ranking.county_peers},
        "empty": headline is None or headline["rank_status"] == "no_data",
        "headline": headline,
        "previous": before,
        "departments": departments,
        "regions": regions,
        "talks": marked("bottom_two_consecutive"),
        "bottom_two": marked("bottom_two"),
        "overdue": _overdue(wh, period, scope, settings.warning_days, names),
        "bad_ratings": _bad_ratings(wh, period, scope, settings, names, as_of, calendar),
        "quality": _quality(wh, period, scope, names),
        "urges": _urges(wh, period, scope, as_of, names),
    }
    figures["bad_causes"] = _bad_causes(wh, figures["bad_ratings"])
    return figures, version


def canonical_json(figures: dict) -> str:
    """The one serialisation that is checksummed: sorted keys, no insignificant whitespace."""
    return json.dumps(figures, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)


def figures_checksum(figures: dict) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(figures).encode("utf-8")).hexdigest()
