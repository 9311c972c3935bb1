"""Every number a monthly bulletin prints, gathered once into a plain, canonical dictionary.

The indicators, scores, ranks and bottom-two marks are read through the same code path as
``hcp metrics`` — :class:`metrics.jobs.MetricsJob` brings the stored results up to date, then
:func:`metrics.store.read_group_metrics` and :func:`metrics.api.metrics_records` give the very records
``hcp metrics --format json`` prints. Nothing here recomputes an indicator. The lists behind the figures
(overdue cases, bad ratings and their rectification) come from the same facts the metrics use:
``case_facts`` for completed cases, :func:`metrics.api.flags_as_of` for cases still open and red at the
end of the month, and :func:`metrics.ratings.rating_facts` over the month's ratings and their follow-ups.

The result is JSON-ready (dates as ISO strings, no timestamps of the run itself), so the same data gives
the same dictionary, and its canonical JSON is what the archive checksums (:mod:`reports.archive`).

A **scope** is the whole warehouse (``all``) or a region subtree given by a 12-digit code at province,
city or county level: the bulletin of that office covers the region itself (its headline row), the
regions one or two levels below it, and the departments whose region lies in the subtree.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

import polars as pl

from hcp.config import load_config
from hcp.errors import HcpError
from hcp.workdays import region_prefix
from metrics import store
from metrics.api import flags_as_of, group_names, metrics_records
from metrics.indicators import Period
from metrics.jobs import MetricsJob, MetricsSettings
from metrics.ratings import locality_value_expr, rating_facts
from warehouse.client import SHANGHAI, Warehouse

#: Bump when the structure of the figures (and so of every checksum) changes.
FIGURES_FORMAT = 1

#: Raw tables whose newest ``received_at`` is the data watermark.
RAW_TABLES = ("regions", "departments", "items", "calendar_overrides", "case_events", "ratings", "followups")

LEVELS = {2: "province", 4: "city", 6: "county"}
#: Region groupings shown below a scope of each level.
SUB_GROUPINGS = {
    "all": ("region:city", "region:county"),
    "province": ("region:city", "region:county"),
    "city": ("region:county",),
    "county": (),
}

#: Targets printed in the bulletin for indicators the scoring does not weigh (DOMAIN.md targets).
DEFAULT_REPORT_TARGETS = {"depth3plus_item_rate": 0.9, "immediate_item_rate": 0.3, "zero_trip_item_rate": 0.9}


@dataclass(frozen=True)
class Scope:
    """What a bulletin covers: ``code`` is ``all`` or a 12-digit region code."""

    code: str
    name: str
    level: str  # all | province | city | county
    prefix: str  # region-code prefix of the subtree ('' for all)

    @property
    def grouping(self) -> str:
        return "all" if self.level == "all" else f"region:{self.level}"

    def as_dict(self) -> dict:
        return {"code": self.code, "name": self.name, "level": self.level, "grouping": self.grouping}


@dataclass(frozen=True)
class DataVersion:
    """What the figures were computed from: the newest raw record's arrival and the settings in force.

    ``watermark`` is ``max(received_at)`` over the raw tables (``None`` for an empty warehouse);
    ``settings`` fingerprints the scoring and rectification settings. Two runs with the same data version
    see the same data under the same rules, so they give the same figures.
    """

    watermark: str | None
    settings: str

    @property
    def key(self) -> str:
        return f"{self.watermark or '-'}|{self.settings}"


def data_watermark(wh: Warehouse) -> str | None:
    """``max(received_at)`` over every raw table, as ``YYYY-MM-DD hh:mm:ss.fff`` (Asia/Shanghai)."""
    parts = " UNION ALL ".join(f"SELECT max(received_at) AS t, count() AS n FROM {t}" for t in RAW_TABLES)
    value = wh.query_value(f"SELECT maxIf(t, n > 0) FROM ({parts})")
    if value is None or (isinstance(value, dt.datetime) and value.year <= 1970):
        return None
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def report_settings_fingerprint(settings: MetricsSettings, config: dict) -> str:
    text = json.dumps([settings.fingerprint(), settings.warning_days, report_targets(config)], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def data_version(wh: Warehouse, settings: MetricsSettings, config: dict) -> DataVersion:
    return DataVersion(data_watermark(wh), report_settings_fingerprint(settings, config))


def report_targets(config: dict) -> dict[str, float]:
    """Targets to print: the scoring targets, plus ``[reports.targets]`` for indicators not scored."""
    targets = {**DEFAULT_REPORT_TARGETS, **config.get("reports", {}).get("targets", {})}
    targets.update(config.get("scoring", {}).get("targets", {}))
    return {k: float(v) for k, v in sorted(targets.items())}


def resolve_scope(wh: Warehouse, region: str | None, lang: str = "zh") -> Scope:
    """The scope of a bulletin; ``None`` is the whole warehouse (titled with its province if there is one)."""
    names = dict(wh.query_rows("SELECT region_code, region_name FROM regions FINAL"))
    if not region or region == "all":
        provinces = sorted(code for code in names if code.endswith("0000000000"))
        name = names[provinces[0]] if len(provinces) == 1 else ("全部地区" if lang != "en" else "All regions")
        return Scope("all", name, "all", "")
    code = region.strip()
    if len(code) != 12 or not code.isdigit():
        raise HcpError(f"区划代码应为 12 位数字 / a region code has 12 digits: {region!r}")
    prefix = region_prefix(code)
    level = LEVELS.get(len(prefix))
    if level is None:
        raise HcpError(f"通报只到县级 / bulletins cover province, city or county regions, not {code}")
    if code not in names:
        raise HcpError(f"未知区划 / unknown region {code} (not in the regions table)")
    return Scope(code, names[code], level, prefix)


def _iso(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


def _in_scope(code: str | None, scope: Scope) -> bool:
    return code is not None and code.startswith(scope.prefix)


def _rank_key(record: dict) -> tuple:
    return (record["peer_group"], record["rank"] is None, record["rank"] or 0, record["group"])


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
        return metrics_records(store.read_group_metrics(self.wh, month, grouping), self.names(grouping))


def _headline(records: list[dict], scope: Scope) -> dict | None:
    wanted = "all" if scope.level == "all" else scope.code
    return next((r for r in records if r["group"] == wanted), None)


def _case(r: dict, names: dict, *, accepted) -> dict:
    """The columns an overdue case is listed with, completed or still open."""
    return {"case_id": r["case_id"], "dept_code": r["dept_code"], "dept_name": names["dept"].get(r["dept_code"], ""),
            "item_code": r["item_code"], "item_name": names["item"].get(r["item_code"], ""),
            "region_code": r["region_code"], "region_name": names["region"].get(r["region_code"], ""),
            "accepted": _iso(accepted), "deadline": _iso(r["deadline"])}


def _overdue(wh: Warehouse, period: Period, scope: Scope, warning_days: int, names: dict) -> dict:
    """Cases completed late in the month, and cases still open and red at its last instant."""
    where, params = store.completed_in(period)
    where += " AND on_time = false AND startsWith(region_code, {prefix:String})"
    params = {**params, "prefix": scope.prefix}
    facts = store.load_case_facts(wh, where, params)
    applicants = dict(wh.query_rows(
        "SELECT case_id, argMin(applicant_name_masked, event_time) FROM case_events FINAL "
        f"WHERE applicant_name_masked != '' AND case_id IN (SELECT case_id FROM case_facts FINAL WHERE {where}) "
        "GROUP BY case_id", params))
    completed = [
        {**_case(r, names, accepted=r["acceptance_date"]), "completed": _iso(r["completion_date"]),
         "overdue_working_days": r["overdue_days"], "applicant_masked": applicants.get(r["case_id"], "")}
        for r in facts.sort(["overdue_days", "completion_date", "case_id"], descending=[True, False, False],
                            nulls_last=True).iter_rows(named=True)
    ]
    as_of = dt.datetime.combine(period.end, dt.time(), SHANGHAI) - dt.timedelta(milliseconds=1)
    flags = flags_as_of(wh, as_of, warning_days)
    red = flags.filter((pl.col("flag") == "red") & pl.col("region_code").str.starts_with(scope.prefix))
    open_red = [
        {**_case(r, names, accepted=r["accepted_at"].date() if r["accepted_at"] else None),
         "overdue_working_days": r["overdue_working_days"]}
        for r in red.iter_rows(named=True)
    ]
    return {"as_of": as_of.strftime("%Y-%m-%d %H:%M:%S"), "completed": completed, "open_red": open_red}


def _bad_ratings(wh: Warehouse, period: Period, scope: Scope, settings: MetricsSettings, names: dict) -> list[dict]:
    """The month's counted bad ratings in scope with their rectification state, most urgent first.

    The same rating facts as the indicators (:func:`metrics.ratings.rating_facts`, follow-ups known now).
    ``due`` is the rectification limit: ``rectify_days`` working days after the rating date.
    """
    where, params = store.rated_in(period)
    ratings = store.load_ratings(wh, where, params)
    followups = store.load_followups(wh, f"SELECT rating_id FROM ratings FINAL WHERE {where}", params)
    calendar = store.load_calendar(wh)
    facts = rating_facts(ratings, followups, calendar, rectify_days=settings.rectify_days,
                         rectify_days_by_locality=settings.rectify_days_by_locality)
    bad = facts.filter(pl.col("counted") & pl.col("bad") & pl.col("region_code").str.starts_with(scope.prefix))
    if bad.height == 0:
        return []
    slot = calendar.locality_expr("region_code")
    limit = locality_value_expr("region_code", settings.rectify_days, settings.rectify_days_by_locality)
    bad = bad.with_columns(
        due=calendar.add_working_days_expr(pl.col("rated_at").dt.date(), limit, slot))
    ordered = followups.unique(subset="followup_id", keep="first").sort("action_time", "followup_id")
    first_done = dict(ordered.filter(pl.col("action").is_in(["rectified", "explained"]))
                      .group_by("rating_id", maintain_order=True).agg(pl.col("action").first()).rows())
    reasons = dict(ordered.filter(pl.col("reason_category") != "")
                   .group_by("rating_id", maintain_order=True).agg(pl.col("reason_category").first()).rows())
    raters = dict(wh.query_rows(f"SELECT rating_id, rater_name_masked FROM ratings FINAL WHERE {where}", params))
    rows = []
    for r in bad.sort(["rectified", "due", "rated_at", "rating_id"]).iter_rows(named=True):
        rows.append({
            "rating_id": r["rating_id"], "case_id": r["case_id"], "level": r["level"], "channel": r["channel"],
            "dept_code": r["dept_code"], "dept_name": names["dept"].get(r["dept_code"], ""),
            "item_code": r["item_code"], "item_name": names["item"].get(r["item_code"], ""),
            "region_code": r["region_code"], "region_name": names["region"].get(r["region_code"], ""),
            "rated": _iso(r["rated_at"]), "real_name": bool(r["real_name"]),
            "reason": reasons.get(r["rating_id"], ""),
            "status": first_done.get(r["rating_id"], "open"),
            "rectified": _iso(r["rectified_at"]), "due": _iso(r["due"]),
            "rectified_on_time": bool(r["rectified_on_time"]), "revisited": bool(r["revisited"]),
            "rater_masked": raters.get(r["rating_id"], ""),
        })
    return rows


def gather(wh: Warehouse, month: str, region: str | None = None, *, lang: str = "zh", refresh: bool = True,
           config: dict | None = None, settings: MetricsSettings | None = None) -> tuple[dict, DataVersion]:
    """The figures of the monthly bulletin of ``month`` (``YYYY-MM``) for a scope, and their data version.

    ``refresh`` first runs the incremental metrics job (as ``hcp metrics`` does), so the figures reflect
    every record in the warehouse at the data watermark read just before it.
    """
    try:
        period = Period.parse(month)
    except ValueError as exc:
        raise HcpError(str(exc)) from exc
    if not period.is_month:
        raise HcpError(f"月度通报需要月份 YYYY-MM / a monthly bulletin needs a month YYYY-MM, not {month!r}")
    config = config if config is not None else load_config()
    settings = settings or MetricsSettings.load(config)
    version = data_version(wh, settings, config)
    if refresh:
        MetricsJob(wh, settings).run()
    scope = resolve_scope(wh, region, lang)
    reader = FigureReader(wh)
    previous = period.previous_month()
    headline = _headline(reader.records(period.label, scope.grouping), scope)
    before = _headline(reader.records(previous.label, scope.grouping), scope)

    dept_region = dict(wh.query_rows("SELECT dept_code, region_code FROM departments FINAL"))
    region_names = reader.names("region:city")
    departments = sorted(
        (dict(r, peer_name=region_names.get(r["peer_group"], ""))
         for r in reader.records(period.label, "dept") if _in_scope(dept_region.get(r["group"]), scope)),
        key=_rank_key)
    regions = {
        grouping: sorted((r for r in reader.records(period.label, grouping)
                          if r["group"].startswith(scope.prefix) and r["group"] != scope.code),
                         key=lambda r: (r["rank"] is None, r["rank"] or 0, r["group"]))
        for grouping in SUB_GROUPINGS[scope.level]
    }

    def marked(flag: str) -> list[dict]:
        units = [("dept", r) for r in departments] + [(g, r) for g, rows in regions.items() for r in rows]
        return [{"grouping": g, "group": r["group"], "name": r["name"], "rank": r["rank"], "peers": r["peers"],
                 "peer_group": r["peer_group"], "peer_name": r.get("peer_name", ""),
                 "composite_score": r["composite_score"]}
                for g, r in units if r[flag]]

    names = {"dept": reader.names("dept"), "item": reader.names("item"), "region": region_names}
    figures = {
        "format": FIGURES_FORMAT,
        "kind": "monthly",
        "month": period.label,
        "period": {"start": period.start.isoformat(), "end": (period.end - dt.timedelta(days=1)).isoformat()},
        "previous_month": previous.label,
        "lang": lang,
        "scope": scope.as_dict(),
        "targets": report_targets(config),
        "direction": dict(sorted(settings.scoring.direction.items())),
        "weights": dict(sorted(settings.scoring.weights.items())),
        "rectify_days": settings.rectify_days,
        "headline": headline,
        "previous": before,
        "departments": departments,
        "regions": regions,
        "talks": marked("bottom_two_consecutive"),
        "bottom_two": marked("bottom_two"),
        "overdue": _overdue(wh, period, scope, settings.warning_days, names),
        "bad_ratings": _bad_ratings(wh, period, scope, settings, names),
    }
    return figures, version


def canonical_json(figures: dict) -> str:
    """The one serialisation that is checksummed: sorted keys, no insignificant whitespace."""
    return json.dumps(figures, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)


def figures_checksum(figures: dict) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(figures).encode("utf-8")).hexdigest()
