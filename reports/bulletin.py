"""The monthly bulletin (月度通报) as one self-contained HTML page, ready for print (A4) and for
:mod:`reports.pdf`. Everything printed comes from the figures (:mod:`reports.figures`); this module only
arranges and formats them.

Sections: headline figures against targets and last month (with a chart), department ranking,
region ranking (with charts), the units called in for a talk (bottom two months running), the worst
overdue cases and the unrectified bad ratings closest to (or past) their due date. The public bulletin
carries no personal data, not even masked: those columns stay in the internal workbook.
"""

from __future__ import annotations

from html import escape

from hcp.i18n import fmt_int, tr
from reports import charts
from reports.text import (CHART_KEYS, HEADLINE_KEYS, RANKING_KEYS, fmt_change, fmt_value, grouping_label, label,
                          marks, meets, met_label, period_text, rank_text, status_label, title, yes_no)

#: How many rows the bulletin lists of the worst overdue cases and unrectified bad ratings.
WORST_ROWS = 10

FONT_STACK = "'Noto Sans CJK SC', 'Noto Sans CJK', 'Source Han Sans SC', sans-serif"
SERIF_STACK = "'Noto Serif CJK SC', 'Noto Serif CJK', 'Source Han Serif SC', serif"

CSS = """
@page { size: A4; margin: 16mm 14mm 18mm 14mm;
  @bottom-center { content: counter(page) " / " counter(pages); font-size: 8pt; color: #7f7f7f; }
  @bottom-right { content: "%(checksum)s"; font-size: 6.5pt; color: #a6a6a6; } }
html { font-family: %(sans)s; font-size: 9.5pt; color: #262626; }
body { margin: 0; }
header { text-align: center; border-bottom: 2.5pt solid #c00000; padding-bottom: 6pt; margin-bottom: 10pt; }
header h1 { font-family: %(serif)s; color: #c00000; font-size: 19pt; margin: 0 0 6pt 0; letter-spacing: 0.5pt; }
header .meta { font-size: 8.5pt; color: #595959; }
h2 { font-size: 12.5pt; color: #1f3864; border-left: 4pt solid #c00000; padding-left: 6pt; margin: 14pt 0 6pt 0;
     page-break-after: avoid; }
h3 { font-size: 10.5pt; margin: 9pt 0 4pt 0; page-break-after: avoid; }
p { margin: 3pt 0 6pt 0; line-height: 1.55; text-align: justify; }
table { border-collapse: collapse; width: 100%%; margin: 4pt 0 8pt 0; font-size: 8.6pt; }
thead { display: table-header-group; }
th { background: #1f3864; color: #fff; font-weight: bold; padding: 3pt 3pt; border: 0.5pt solid #1f3864;
     white-space: nowrap; font-size: 8pt; }
td { padding: 1.8pt 3pt; border: 0.5pt solid #bfbfbf; }
tr { page-break-inside: avoid; }
tbody tr:nth-child(even) td { background: #f2f5fa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.c { text-align: center; white-space: nowrap; }
.ok { color: #2e7d32; font-weight: bold; }
.bad { color: #c0392b; font-weight: bold; }
tr.flag td { background: #fdecea !important; }
.chart { display: block; margin: 4pt auto 8pt auto; }
.none { color: #7f7f7f; }
.note { font-size: 8pt; color: #7f7f7f; }
footer { margin-top: 12pt; font-size: 7.5pt; color: #7f7f7f; border-top: 0.5pt solid #bfbfbf; padding-top: 4pt; }
"""


def _table(headers: list[str], rows: list[list[tuple[str, str]]], *, row_classes: list[str] | None = None) -> str:
    """Rows of (text, css class) cells."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        cells = "".join(f'<td class="{c}">{escape(t)}</td>' if c else f"<td>{escape(t)}</td>" for t, c in row)
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _none(lang: str) -> str:
    return f'<p class="none">{escape(tr(lang, "无。", "None."))}</p>'


def _summary_text(figures: dict, lang: str) -> str:
    h, prev = figures["headline"], figures["previous"] or {}
    if h is None:
        return tr(lang, "本月没有办结或评价数据。", "No completions or ratings this month.")
    t = figures["targets"]

    def v(key):
        return fmt_value(key, h[key])

    def ctx(key):
        parts = []
        if key in t:
            parts.append(tr(lang, f"目标 {fmt_value(key, t[key])}", f"target {fmt_value(key, t[key])}"))
        if prev.get(key) is not None:
            parts.append(tr(lang, f"上月 {fmt_value(key, prev[key])}", f"last month {fmt_value(key, prev[key])}"))
        return (tr(lang, "（", " (") + tr(lang, "，", ", ").join(parts) + tr(lang, "）", ")")) if parts else ""

    counts = h["counts"]
    name = figures["scope"]["name"]
    if lang == "en":
        return (f"{name} completed {v('cases_completed')} cases this month; on-time rate {v('on_time_rate')}"
                f"{ctx('on_time_rate')}, online rate {v('online_rate')}{ctx('online_rate')}, zero-trip rate "
                f"{v('zero_trip_rate')}{ctx('zero_trip_rate')}. {v('ratings')} ratings counted, good rate "
                f"{v('good_rate')}{ctx('good_rate')}; {v('bad_count')} bad ratings, of which "
                f"{fmt_int(counts['bad_rectified_n'])} rectified or explained (rate {v('bad_rectified_rate')}); "
                f"composite score {v('composite_score')}.")
    return (f"本月{name}共办结 {v('cases_completed')} 件，按时办结率 {v('on_time_rate')}{ctx('on_time_rate')}，"
            f"网办率 {v('online_rate')}{ctx('online_rate')}，零跑腿率 {v('zero_trip_rate')}{ctx('zero_trip_rate')}。"
            f"计入评价 {v('ratings')} 次，好评率 {v('good_rate')}{ctx('good_rate')}；差评 {v('bad_count')} 件，"
            f"已整改或解释说明 {fmt_int(counts['bad_rectified_n'])} 件，差评整改率 {v('bad_rectified_rate')}。"
            f"综合得分 {v('composite_score')}。")


def _headline(figures: dict, lang: str) -> str:
    h, prev = figures["headline"] or {}, figures["previous"] or {}
    targets, direction = figures["targets"], figures["direction"]
    rows, classes = [], []
    for key in HEADLINE_KEYS:
        now, before = h.get(key), prev.get(key)
        met = meets(key, now, targets, direction)
        rows.append([
            (label(key, lang), ""), (fmt_value(key, now), "num"), (fmt_value(key, before), "num"),
            (fmt_change(key, now, before, lang), "num"),
            (fmt_value(key, targets.get(key)) if key in targets else "—", "num"),
            (met_label(met, lang), "c " + ("" if met is None else ("ok" if met else "bad"))),
        ])
        classes.append("")
    headers = [tr(lang, "指标", "indicator"), tr(lang, "本月", "this month"), tr(lang, "上月", "last month"),
               tr(lang, "较上月", "change"), tr(lang, "目标", "target"), tr(lang, "达标情况", "target met")]
    chart = charts.rate_bars(
        [(label(k, lang), h.get(k), prev.get(k), targets.get(k)) for k in CHART_KEYS],
        title=tr(lang, "主要指标完成情况", "Key rates against targets"),
        legend=(tr(lang, "本月达标", "met"), tr(lang, "本月未达标", "not met"), tr(lang, "本月（无目标）", "no target"),
                tr(lang, "上月", "last month"), tr(lang, "目标", "target")),
    )
    return _table(headers, rows, row_classes=classes) + chart


def _ranking_rows(records: list[dict], lang: str, *, with_peer: bool) -> tuple[list, list]:
    rows, classes = [], []
    for r in records:
        row = [(rank_text(r, lang), "c"), (r["name"] or r["group"], "")]
        if with_peer:
            row.append((r.get("peer_name", "") or r["peer_group"], ""))
        row.append((fmt_value("composite_score", r["composite_score"]), "num"))
        row += [(fmt_value(k, r[k]), "num") for k in RANKING_KEYS]
        row.append((marks(r, lang), "c bad" if r["bottom_two"] else "c"))
        rows.append(row)
        classes.append("flag" if r["bottom_two_consecutive"] else "")
    return rows, classes


def _ranking_headers(lang: str, *, unit: str, with_peer: bool) -> list[str]:
    headers = [tr(lang, "排名", "rank"), unit]
    if with_peer:
        headers.append(tr(lang, "所属政府", "government"))
    return headers + [label("composite_score", lang)] + [label(k, lang) for k in RANKING_KEYS] + [tr(lang, "标记", "mark")]


def _score_chart(records: list[dict], title: str) -> str:
    if not records:
        return ""
    return charts.score_bars([(r["name"] or r["group"], r["composite_score"], r["bottom_two"]) for r in records],
                             title=title)


def _departments(figures: dict, lang: str) -> str:
    records = figures["departments"]
    if not records:
        return _none(lang)
    rows, classes = _ranking_rows(records, lang, with_peer=True)
    note = tr(lang, "部门在同级政府的部门中排名（排名/参评单位数）。",
              "Departments are ranked among the departments of the same government (rank/units ranked).")
    table = _table(_ranking_headers(lang, unit=tr(lang, "部门", "department"), with_peer=True), rows, row_classes=classes)
    chart = _score_chart(records, tr(lang, "部门综合得分", "Department composite scores"))
    return f'<p class="note">{escape(note)}</p>' + table + chart


def _regions(figures: dict, lang: str) -> str:
    parts = []
    for grouping, records in figures["regions"].items():
        unit = grouping_label(grouping, lang)
        parts.append(f"<h3>{escape(tr(lang, f'各{unit}排名', f'{unit.capitalize()} ranking'))}</h3>")
        if not records:
            parts.append(_none(lang))
            continue
        rows, classes = _ranking_rows(records, lang, with_peer=False)
        parts.append(_table(_ranking_headers(lang, unit=tr(lang, "地区", "region"), with_peer=False), rows,
                            row_classes=classes))
        parts.append(_score_chart(records, tr(lang, f"各{unit}综合得分", f"{unit.capitalize()} composite scores")))
    if not parts:
        return _none(lang)
    note = tr(lang, "地区在全省同级地区中排名（排名/参评单位数）。",
              "Regions are ranked among all regions of the same level province-wide (rank/units ranked).")
    return f'<p class="note">{escape(note)}</p>' + "".join(parts)


def _units_list(units: list[dict], lang: str) -> str:
    headers = [tr(lang, "类别", "kind"), tr(lang, "单位", "unit"), tr(lang, "所属", "peer group"),
               tr(lang, "本月排名", "rank"), label("composite_score", lang)]
    rows = [[(grouping_label(u["grouping"], lang), "c"), (u["name"] or u["group"], ""),
             (u["peer_name"] or (u["peer_group"] if u["grouping"] == "dept" else grouping_label(u["grouping"], lang)), ""),
             (rank_text(u, lang), "c"), (fmt_value("composite_score", u["composite_score"]), "num")] for u in units]
    return _table(headers, rows)


def _talks(figures: dict, lang: str) -> str:
    intro = tr(lang, "连续两个月在同组排名末两位的单位，列入约谈名单：",
               "Units in the bottom two of their peer group this month and last month are called in for a talk:")
    html = f"<p>{escape(intro)}</p>"
    html += _units_list(figures["talks"], lang) if figures["talks"] else _none(lang)
    warned = [u for u in figures["bottom_two"] if not any(
        t["group"] == u["group"] and t["grouping"] == u["grouping"] for t in figures["talks"])]
    if warned:
        html += f"<p>{escape(tr(lang, '本月首次排名末两位（预警）：', 'In the bottom two this month for the first time (warning):'))}</p>"
        html += _units_list(warned, lang)
    return html


def _overdue(figures: dict, lang: str) -> str:
    overdue = figures["overdue"]
    completed, red = overdue["completed"], overdue["open_red"]
    h = figures["headline"] or {}
    intro = tr(lang,
               f"本月超期办结 {fmt_value('overdue_completed', h.get('overdue_completed'))} 件；"
               f"截至月末仍未办结且已超期（红牌）{fmt_int(len(red))} 件。超期时间最长的如下：",
               f"{fmt_value('overdue_completed', h.get('overdue_completed'))} cases were completed late this month; "
               f"{fmt_int(len(red))} cases were open and overdue (red) at the end of the month. The longest overdue:")
    rows = [(tr(lang, "超期办结", "completed late"), r, r["completed"]) for r in completed] + \
           [(tr(lang, "逾期未办结", "open, overdue"), r, "") for r in red]
    rows.sort(key=lambda x: (-(x[1]["overdue_working_days"] or 0), x[1]["case_id"]))
    html = f"<p>{escape(intro)}</p>"
    if not rows:
        return html + _none(lang)
    headers = [tr(lang, "类别", "kind"), tr(lang, "办件编号", "case"), tr(lang, "部门", "department"),
               tr(lang, "事项", "item"), tr(lang, "受理日期", "accepted"), tr(lang, "办结期限", "deadline"),
               tr(lang, "办结日期", "completed"), tr(lang, "超期（工作日）", "overdue (working days)")]
    table_rows = [[(k, "c"), (r["case_id"], ""), (r["dept_name"] or r["dept_code"], ""),
                   (r["item_name"] or r["item_code"], ""), (r["accepted"] or "—", "c"), (r["deadline"] or "—", "c"),
                   (done or "—", "c"), (fmt_int(r["overdue_working_days"]), "num")] for k, r, done in rows[:WORST_ROWS]]
    return html + _table(headers, table_rows)


def _unrectified(figures: dict, lang: str) -> str:
    bad = figures["bad_ratings"]
    h = figures["headline"] or {}
    counts = h.get("counts", {})
    open_rows = [r for r in bad if r["status"] == "open"]
    intro = tr(lang,
               f"本月差评 {fmt_value('bad_count', h.get('bad_count'))} 件，已整改或解释说明 "
               f"{fmt_int(counts.get('bad_rectified_n'))} 件（差评整改率 {fmt_value('bad_rectified_rate', h.get('bad_rectified_rate'))}，"
               f"按期整改率 {fmt_value('bad_rectified_on_time_rate', h.get('bad_rectified_on_time_rate'))}），"
               f"尚未整改 {fmt_int(len(open_rows))} 件，按整改期限先后列出：",
               f"{fmt_value('bad_count', h.get('bad_count'))} bad ratings this month, "
               f"{fmt_int(counts.get('bad_rectified_n'))} rectified or explained (rate "
               f"{fmt_value('bad_rectified_rate', h.get('bad_rectified_rate'))}, on time "
               f"{fmt_value('bad_rectified_on_time_rate', h.get('bad_rectified_on_time_rate'))}); "
               f"{fmt_int(len(open_rows))} not yet rectified, by due date:")
    html = f"<p>{escape(intro)}</p>"
    if not open_rows:
        return html + _none(lang)
    headers = [tr(lang, "评价编号", "rating"), tr(lang, "办件编号", "case"), tr(lang, "部门", "department"),
               tr(lang, "评价时间", "rated"), tr(lang, "等级", "level"), tr(lang, "实名", "real name"),
               tr(lang, "整改期限", "due"), tr(lang, "状态", "status")]
    rows = [[(r["rating_id"], ""), (r["case_id"] or "—", ""), (r["dept_name"] or r["dept_code"], ""),
             (r["rated"], "c"), (str(r["level"]), "c"), (yes_no(r["real_name"], lang), "c"),
             (r["due"] or "—", "c"), (status_label(r["status"], lang), "c bad")] for r in open_rows[:WORST_ROWS]]
    return html + _table(headers, rows)


def render_html(figures: dict, *, watermark: str | None, checksum: str, version: int | None = None) -> str:
    """The bulletin page. ``watermark`` (data received up to) and ``version`` are printed in the header;
    ``checksum`` (of the figures) in the footer of every page."""
    lang = figures["lang"]
    heading = title(figures, lang)
    created = (watermark or figures["period"]["end"] + " 00:00:00")[:19].replace(" ", "T") + "+08:00"
    meta = [tr(lang, f"统计期间：{period_text(figures, lang)}", f"Period: {period_text(figures, lang)}")]
    if watermark:
        meta.append(tr(lang, f"数据截至：{watermark[:16]}", f"Data received up to {watermark[:16]}"))
    if version:
        meta.append(tr(lang, f"第 {version} 版", f"version {version}"))
    sections = [
        (tr(lang, "一、总体情况", "1. Overview"), f"<p>{escape(_summary_text(figures, lang))}</p>" + _headline(figures, lang)),
        (tr(lang, "二、部门排名", "2. Department ranking"), _departments(figures, lang)),
        (tr(lang, "三、地区排名", "3. Region ranking"), _regions(figures, lang)),
        (tr(lang, "四、约谈名单", "4. Called in for a talk"), _talks(figures, lang)),
        (tr(lang, "五、超期办件", "5. Overdue cases"), _overdue(figures, lang)),
        (tr(lang, "六、差评整改", "6. Bad-rating rectification"), _unrectified(figures, lang)),
    ]
    body = "".join(f"<section><h2>{escape(h)}</h2>{content}</section>" for h, content in sections)
    explain = tr(lang,
                 "说明：比率的分母为零时记为“—”。综合得分为各指标得分之和，"
                 "权重与目标由本级监督部门设定。本通报由 hcp 根据数据仓库自动生成，数字与 hcp metrics 一致。",
                 "Notes: rates over an empty base are shown as “—”. The composite score is the sum of per-indicator "
                 "points with the weights and targets set by the supervisory office. Generated by hcp from the "
                 "warehouse; every figure equals `hcp metrics` for the same month.")
    return f"""<!DOCTYPE html>
<html lang="{'en' if lang == 'en' else 'zh-CN'}"><head><meta charset="utf-8">
<title>{escape(heading)}</title>
<meta name="author" content="hcp">
<meta name="generator" content="hcp reports">
<meta name="dcterms.created" content="{created}">
<meta name="dcterms.modified" content="{created}">
<style>{CSS % {"sans": FONT_STACK, "serif": SERIF_STACK, "checksum": escape(checksum[:23])}}</style></head>
<body>
<header><h1>{escape(heading)}</h1><div class="meta">{escape(" · ".join(meta))}</div></header>
{body}
<footer>{escape(explain)}<br>{escape(tr(lang, "校验码", "checksum"))}: {escape(checksum)}</footer>
</body></html>
"""
