"""The daily red/yellow digest (红黄牌日报): the open cases that are overdue or due soon at an instant.

The list is :func:`metrics.flags.flags_as_of` — exactly what ``hcp flags --as-of`` prints — after the
incremental metrics refresh; the digest adds counts per department and a text page for people. It is
archived like a bulletin (``digest/<date>/all/vN``), once per data version.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from hcp.config import Config, get_config
from hcp.i18n import fmt_int, tr
from hcp.scope import Scope
from hcp.textable import render
from metrics.flags import flags_as_of
from metrics.jobs import MetricsJob, MetricsSettings
from models import risk, store as model_store
from reports.archive import Archive, Computed, Published
from reports.figures import canonical_json, data_version, figures_checksum
from supervision.urges import per_department, urge_outcomes
from warehouse.client import SHANGHAI, Warehouse
from warehouse.queries.reference import group_names

#: How many cases the text page lists (the JSON has them all).
TEXT_ROWS = 50
#: How many of a department's likely-to-go-overdue cases (riskiest first) the digest names.
LIKELY_PER_DEPARTMENT = 3


def likely_overdue_figures(wh: Warehouse, as_of: dt.datetime, warning_days: int, lang: str, names: dict) -> dict:
    """可能超期 / likely to go overdue at ``as_of``: the open cases neither red nor yellow that the current
    overdue-risk model scores at ``[models.risk] watch_threshold`` or more (:func:`models.risk.likely_overdue`),
    counted per department (most first) with each department's :data:`LIKELY_PER_DEPARTMENT` riskiest cases
    (risk, deadline, working days left, the factors in words). With no usable model: ``available`` false and
    the reason (``message``), nothing else — the digest still goes out."""
    threshold = risk.watch_threshold()
    try:
        model, manifest = model_store.load("risk", risk.FEATURE_VERSION, lang)
    except (model_store.ModelMissing, model_store.ModelIncompatible) as exc:
        return {"available": False, "message": str(exc), "threshold": threshold}
    likely = risk.likely_overdue(risk.score(wh, as_of, model, warning_days=warning_days), threshold)
    per_dept = likely.group_by("dept_code").agg(
        n=pl.len(), top=pl.struct("case_id", "risk", "deadline", "working_days_left", "item_code", "factors")
        .sort_by("risk", descending=True).head(LIKELY_PER_DEPARTMENT),
    ).sort(["n", "dept_code"], descending=[True, False])
    return {
        "available": True, "threshold": threshold, "model_version": manifest["version"], "count": likely.height,
        "by_department": [
            {"dept_code": r["dept_code"], "dept_name": names.get(r["dept_code"], ""), "likely": int(r["n"]),
             "top": [{"case_id": t["case_id"], "risk": t["risk"], "deadline": t["deadline"].isoformat(),
                      "working_days_left": t["working_days_left"], "item_code": t["item_code"],
                      "factors": risk.factor_words(t["factors"], lang)} for t in r["top"]]}
            for r in per_dept.iter_rows(named=True)],
    }


def likely_overdue_lines(likely: dict | None, lang: str) -> list[str]:
    """The digest's 可能超期 section: the count, then per department its count and its riskiest cases."""
    if likely is None:  # a digest archived before the section existed
        return []
    title = tr(lang, "可能超期（超期风险模型预测，尚未红黄牌）", "Likely to go overdue (overdue-risk model, neither red nor yellow)")
    if not likely["available"]:
        return ["", title, tr(lang, f"未列出：{likely['message']}", f"Not listed: {likely['message']}")]
    lines = ["", title,
             tr(lang, f"风险 ≥ {likely['threshold']:.0%} 的 {fmt_int(likely['count'])} 件（模型 v{likely['model_version']}）。"
                      "风险分是提示关注的线索，不是处罚依据。",
                f"{fmt_int(likely['count'])} cases at risk ≥ {likely['threshold']:.0%} (model v{likely['model_version']}). "
                "A risk score is a prompt to look, never a sanction.")]
    if not likely["by_department"]:
        return lines
    rows = []
    for d in likely["by_department"]:
        rows.append([d["dept_code"], d["dept_name"], fmt_int(d["likely"]), "", "", "", ""])
        rows += [["", "", "", t["case_id"], f"{t['risk']:.0%}", f"{t['deadline']} ({t['working_days_left']})", t["factors"]]
                 for t in d["top"]]
    lines.append(render([tr(lang, "部门", "department"), tr(lang, "名称", "name"), tr(lang, "件数", "cases"),
                         tr(lang, "办件编号", "case"), tr(lang, "风险", "risk"),
                         tr(lang, "期限（剩余工作日）", "deadline (days left)"), tr(lang, "主要因素", "main factors")],
                        rows, right_align=[False, False, True, False, True, False, False]))
    return lines


def digest_figures(wh: Warehouse, as_of: dt.datetime, *, lang: str = "zh", settings: MetricsSettings | None = None,
                   refresh: bool = True) -> dict:
    settings = settings or MetricsSettings.load()
    if refresh:
        MetricsJob(wh, settings).run()
    as_of = as_of.astimezone(SHANGHAI)
    frame = flags_as_of(wh, as_of, settings.warning_days)
    names = group_names(wh, "dept")
    flags = [
        {"case_id": r["case_id"], "flag": r["flag"], "deadline": r["deadline"].isoformat(),
         "overdue_working_days": r["overdue_working_days"], "working_days_left": r["working_days_left"],
         "dept_code": r["dept_code"], "item_code": r["item_code"], "region_code": r["region_code"]}
        for r in frame.iter_rows(named=True)
    ]
    urges = _open_urges(wh, as_of, names)
    per_dept = (
        frame.group_by("dept_code").agg(red=(pl.col("flag") == "red").sum(), yellow=(pl.col("flag") == "yellow").sum())
        .sort(["red", "yellow", "dept_code"], descending=[True, True, False])
    )
    return {
        "kind": "digest", "format": 1, "lang": lang, "as_of": as_of.isoformat(timespec="seconds"),
        "warning_days": settings.warning_days,
        "likely": likely_overdue_figures(wh, as_of, settings.warning_days, lang, names),
        "red": sum(1 for f in flags if f["flag"] == "red"), "yellow": sum(1 for f in flags if f["flag"] == "yellow"),
        "by_department": [{"dept_code": r["dept_code"], "dept_name": names.get(r["dept_code"], ""),
                           "red": int(r["red"]), "yellow": int(r["yellow"])} for r in per_dept.iter_rows(named=True)],
        "flags": flags,
        "urges": urges,
    }


def _open_urges(wh: Warehouse, as_of: dt.datetime, names: dict) -> dict:
    """督办 not answered at ``as_of`` (:func:`supervision.urges.urge_outcomes`: open until the department acts
    after the urge), in all and per department (most first)."""
    opened = urge_outcomes(wh, Scope(), as_of).filter(pl.col("open"))
    return {"open": opened.height,
            "by_department": [{"dept_code": r["dept_code"], "dept_name": names.get(r["dept_code"], ""), "open": int(r["open"])}
                              for r in per_department(opened).iter_rows(named=True)]}


def digest_text(figures: dict, watermark: str | None) -> str:
    lang = figures["lang"]
    as_of = figures["as_of"][:16].replace("T", " ")
    lines = [
        tr(lang, f"红黄牌日报 · 截至 {as_of}", f"Red/yellow digest · as of {as_of}"),
        tr(lang, f"红牌（已超期）{fmt_int(figures['red'])} 件，黄牌（{figures['warning_days']} 个工作日内到期）"
                 f"{fmt_int(figures['yellow'])} 件。",
           f"{fmt_int(figures['red'])} red (overdue), {fmt_int(figures['yellow'])} yellow "
           f"(due within {figures['warning_days']} working days)."),
        tr(lang, f"数据截至 {(watermark or '—')[:19]}", f"Data received up to {(watermark or '—')[:19]}"),
        "",
    ]
    if figures["by_department"]:
        lines.append(render([tr(lang, "部门", "department"), tr(lang, "名称", "name"), tr(lang, "红牌", "red"),
                             tr(lang, "黄牌", "yellow")],
                            [[d["dept_code"], d["dept_name"], fmt_int(d["red"]), fmt_int(d["yellow"])]
                             for d in figures["by_department"]], right_align=[False, False, True, True]))
        lines.append("")
        rows = [[f["case_id"], tr(lang, "红牌", "red") if f["flag"] == "red" else tr(lang, "黄牌", "yellow"), f["deadline"],
                 str(f["overdue_working_days"] if f["flag"] == "red" else f["working_days_left"]), f["dept_code"],
                 f["item_code"]] for f in figures["flags"][:TEXT_ROWS]]
        lines.append(render([tr(lang, "办件编号", "case"), tr(lang, "牌", "flag"), tr(lang, "期限", "deadline"),
                             tr(lang, "超期/剩余工作日", "over/left"), tr(lang, "部门", "dept"), tr(lang, "事项", "item")],
                            rows, right_align=[False, False, False, True, False, False]))
    else:
        lines.append(tr(lang, "无红黄牌办件。", "No red or yellow cases."))
    urges = figures.get("urges") or {"open": 0, "by_department": []}
    lines += ["", tr(lang, f"督办未回应 {fmt_int(urges['open'])} 件。", f"{fmt_int(urges['open'])} urges not answered.")]
    if urges["by_department"]:
        lines.append(render([tr(lang, "部门", "department"), tr(lang, "名称", "name"), tr(lang, "督办未回应", "urges open")],
                            [[d["dept_code"], d["dept_name"], fmt_int(d["open"])] for d in urges["by_department"]],
                            right_align=[False, False, True]))
    lines += likely_overdue_lines(figures.get("likely"), lang)
    return "\n".join(lines) + "\n"


def publish_digest(wh: Warehouse, archive: Archive, as_of: dt.datetime, *, lang: str = "zh",
                   trigger: str = "manual", config: Config | None = None) -> Published:
    config = config or get_config()
    settings = MetricsSettings.load(config)
    day = as_of.astimezone(SHANGHAI).date().isoformat()

    def current():
        return data_version(wh, settings, config)

    def compute() -> Computed:
        version = current()
        figures = digest_figures(wh, as_of, lang=lang, settings=settings)
        return Computed(version, figures_checksum(figures), (figures, version))

    def render_files(payload, number: int) -> dict[str, bytes]:
        figures, version = payload
        stem = f"digest-{day}" + ("-en" if lang == "en" else "")
        return {f"{stem}.json": canonical_json(figures).encode("utf-8"),
                f"{stem}.txt": digest_text(figures, version.watermark).encode("utf-8")}

    return archive.publish(kind="digest", period=day, scope="all" + (".en" if lang == "en" else ""), lang=lang,
                           current=current, compute=compute, render=render_files, trigger=trigger)
