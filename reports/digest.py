"""The daily red/yellow digest (红黄牌日报): the open cases that are overdue or due soon at an instant.

The list is :func:`metrics.api.flags_as_of` — exactly what ``hcp flags --as-of`` prints — after the
incremental metrics refresh; the digest adds counts per department and a text page for people. It is
archived like a bulletin (``digest/<date>/all/vN``), once per data version.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from hcp.config import load_config
from hcp.i18n import fmt_int, tr
from hcp.textable import render
from metrics.api import flags_as_of, group_names
from metrics.jobs import MetricsJob, MetricsSettings
from reports.archive import Archive, Computed, Published
from reports.figures import canonical_json, data_version, figures_checksum
from warehouse.client import SHANGHAI, Warehouse

#: How many cases the text page lists (the JSON has them all).
TEXT_ROWS = 50


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
        "red": sum(1 for f in flags if f["flag"] == "red"), "yellow": sum(1 for f in flags if f["flag"] == "yellow"),
        "by_department": [{"dept_code": r["dept_code"], "dept_name": names.get(r["dept_code"], ""),
                           "red": int(r["red"]), "yellow": int(r["yellow"])} for r in per_dept.iter_rows(named=True)],
        "flags": flags,
        "urges": urges,
    }


def _open_urges(wh: Warehouse, as_of: dt.datetime, names: dict) -> dict:
    """督办 not answered at ``as_of`` (:func:`supervision.urges.urge_outcomes`: open until the department acts
    after the urge), in all and per department (most first)."""
    from supervision.urges import per_department, urge_outcomes

    opened = urge_outcomes(wh, ("1", {}), as_of).filter(pl.col("open"))
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
    return "\n".join(lines) + "\n"


def publish_digest(wh: Warehouse, archive: Archive, as_of: dt.datetime, *, lang: str = "zh",
                   trigger: str = "manual", config: dict | None = None) -> Published:
    config = config if config is not None else load_config()
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
