"""The monthly bulletin (月度通报) as one self-contained HTML page, ready for print (A4) and for
:mod:`reports.pdf`. Everything printed comes from the figures (:mod:`reports.figures`); this module only
arranges and formats them.

What an office forwards, in order: the headline figures against targets and last month (with a chart);
the ranking of the regions below it (cities, the cities' own levels and the counties, or a city's
counties), each beside the 本级 row of its government (山东省本级, 济南市本级); the ranking of its own
government's departments (本级部门); the units called in for a talk (bottom two months running); the
longest overdue cases; the bad ratings whose rectification limit has passed unrectified (逾期未整改, red)
apart from those still within it (整改中, with the working days left); the inconsistent cases to correct
per department. Ranked units, 样本不足 units (figures shown, reference score, no rank) and units without
data are shown apart. The full per-unit tables and lists are in the workbook, and the bulletin says so.

Layout for Chinese names: names and numbers never wrap (``white-space: nowrap``), numeric columns have
fixed minimum widths, headers wrap instead, and the PDF tables carry a handful of columns (the workbook
has every indicator). The public bulletin carries no personal data, not even masked: those columns stay
in the internal workbook.
"""

from __future__ import annotations

from html import escape

from hcp.domain import REASON_CATEGORIES
from hcp.i18n import fmt_int, tr
from hcp.indicators import bad_done_within_limit
from reports import charts
from reports.text import (CHART_KEYS, HEADLINE_KEYS, RANKING_KEYS, fmt_change, fmt_value, grouping_label, label,
                          marks, meets, met_label, own_name, period_text, problem_label, rank_status_label, rank_text,
                          status_label, title, workbook_name)

#: How many rows the bulletin lists of the worst overdue cases and of each kind of bad rating.
WORST_ROWS = 10
#: 样本不足 units are table rows up to this many; more are a compact list of names with their volumes.
SMALL_SAMPLE_ROWS = 12
#: Units without data are named up to this many; more are counted (the workbook names them all).
NO_DATA_NAMES = 40
#: A score chart is drawn for at most this many ranked units (the table says the rest).
CHART_MAX_UNITS = 30
#: Departments with inconsistent cases listed in the PDF.
QUALITY_ROWS = 10

NUMERALS = "一二三四五六七八九十"

FONT_STACK = "'Noto Sans CJK SC', 'Noto Sans CJK', 'Source Han Sans SC', sans-serif"
SERIF_STACK = "'Noto Serif CJK SC', 'Noto Serif CJK', 'Source Han Serif SC', serif"

CSS = """
@page { size: A4; margin: 15mm 14mm 17mm 14mm;
  @bottom-center { content: counter(page) " / " counter(pages); font-size: 8pt; color: #7f7f7f; }
  @bottom-right { content: "%(checksum)s"; font-size: 6.5pt; color: #a6a6a6; } }
html { font-family: %(sans)s; font-size: 9.5pt; color: #262626; }
body { margin: 0; }
header { text-align: center; border-bottom: 2.5pt solid #c00000; padding-bottom: 6pt; margin-bottom: 8pt; }
header h1 { font-family: %(serif)s; color: #c00000; font-size: 18pt; margin: 0 0 6pt 0; letter-spacing: 0.5pt; }
header .meta { font-size: 8.5pt; color: #595959; }
h2 { font-size: 12pt; color: #1f3864; border-left: 4pt solid #c00000; padding-left: 6pt; margin: 12pt 0 5pt 0;
     page-break-after: avoid; }
h3 { font-size: 10pt; margin: 8pt 0 3pt 0; page-break-after: avoid; }
p { margin: 2pt 0 5pt 0; line-height: 1.55; text-align: left; }
table { border-collapse: collapse; width: 100%%; margin: 3pt 0 7pt 0; font-size: 8.4pt; }
table.list { font-size: 7.8pt; }
thead { display: table-header-group; }
th { background: #1f3864; color: #fff; font-weight: bold; padding: 2.5pt 2pt; border: 0.5pt solid #1f3864;
     font-size: 7.8pt; line-height: 1.25; text-align: center; vertical-align: middle; }
td { padding: 1.6pt 3pt; border: 0.5pt solid #bfbfbf; vertical-align: middle; }
td.name, td.code, td.num, td.c { white-space: nowrap; }
td.wrap { white-space: normal; }
tr { page-break-inside: avoid; }
tbody tr:nth-child(even) td { background: #f2f5fa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.c { text-align: center; }
td.ref { color: #8c8c8c; }
.ok { color: #2e7d32; font-weight: bold; }
.bad { color: #c0392b; font-weight: bold; }
.wait { color: #b26a00; font-weight: bold; }
tr.flag td { background: #fdecea !important; }
tr.own td { background: #fff4dc !important; }
tr.sep td { background: #e7ebf3 !important; color: #595959; font-size: 7.6pt; }
.chart { display: block; margin: 4pt auto 8pt auto; }
.none { color: #7f7f7f; }
.note { font-size: 8pt; color: #595959; }
.nb { white-space: nowrap; }
.lead { font-size: 10pt; }
.pointer { border: 0.6pt solid #1f3864; background: #f2f5fa; padding: 4pt 6pt; font-size: 8.6pt; margin: 6pt 0; }
.empty { border: 1pt solid #c00000; color: #c00000; padding: 8pt; font-size: 11pt; text-align: center; margin: 12pt 0; }
footer { margin-top: 10pt; font-size: 7.5pt; color: #7f7f7f; border-top: 0.5pt solid #bfbfbf; padding-top: 4pt; }
"""

#: Minimum column widths (the name column takes the rest; its text never wraps).
W_RANK, W_NUM, W_MARK, W_DATE = "13mm", "14.5mm", "11mm", "17mm"


def _table(columns: list[tuple[str, str | None]], rows: list[list[tuple[str, str]]], *,
           row_classes: list[str] | None = None, css: str = "") -> str:
    """``columns``: (header, minimum width or None); rows of (text, css class) cells."""
    cols = "".join(f'<col style="width:{w}">' if w else "<col>" for _, w in columns)
    head = "".join(f"<th>{escape(h)}</th>" for h, _ in columns)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        cells = "".join(f'<td class="{c}">{escape(t)}</td>' if c else f"<td>{escape(t)}</td>" for t, c in row)
        body.append(f"<tr{cls}>{cells}</tr>")
    klass = f' class="{css}"' if css else ""
    return (f"<table{klass}><colgroup>{cols}</colgroup><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>")


def _p(text: str, css: str = "") -> str:
    return f'<p class="{css}">{escape(text)}</p>' if css else f"<p>{escape(text)}</p>"


def _none(lang: str, text: str | None = None) -> str:
    return f'<p class="none">{escape(text or tr(lang, "无。", "None."))}</p>'


def _join(items: list[str], lang: str) -> str:
    return tr(lang, "、", ", ").join(items)


def _nowrap_list(items: list[str], lang: str) -> str:
    """Names in running text, each kept on one line (the line breaks between names, never inside one)."""
    return escape(tr(lang, "、", ", ")).join(f'<span class="nb">{escape(item)}</span>' for item in items)


def _p_html(html: str, css: str = "") -> str:
    return f'<p class="{css}">{html}</p>' if css else f"<p>{html}</p>"


def _ranking_text(record: dict, lang: str) -> str:
    return tr(lang, f"本月办结不足 {fmt_int(record['min_cases'])} 件且计入评价不足 {fmt_int(record['min_ratings'])} 次",
              f"fewer than {fmt_int(record['min_cases'])} cases completed and {fmt_int(record['min_ratings'])} "
              "ratings counted this month")


# 一、总体情况 -------------------------------------------------------------------------------------


def _rank_phrase(figures: dict, lang: str) -> str:
    """Where the scope itself stands among its peers (a city among the cities, a county among the counties)."""
    h = figures["headline"]
    level = figures["scope"]["level"]
    if level not in ("city", "county") or h is None:
        return ""
    unit = grouping_label(f"region:{level}", lang)
    if h["rank_status"] == "small_sample":
        return tr(lang, f"本月样本不足（{_ranking_text(figures['ranking'], lang)}），不计分、不参与排名。",
                  f" The sample is too small this month ({_ranking_text(figures['ranking'], lang)}): not scored, "
                  "not ranked.")
    if h["rank"] is None:
        return ""
    peer = h.get("peer_name") or ""
    return tr(lang, f"在{peer}各{unit}中排第 {h['rank']} 名（共 {h['peers']} 个）。",
              f" It ranks {h['rank']} of {h['peers']} {unit} units{' in ' + peer if peer else ''}.")


def _summary(figures: dict, lang: str) -> str:
    h, prev = figures["headline"], figures["previous"] or {}
    t = figures["targets"]
    name = figures["scope"]["name"]

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
    as_of = figures["as_of"]
    if lang == "en":
        cases = (f"{name} completed {v('cases_completed')} cases this month; on-time rate {v('on_time_rate')}"
                 f"{ctx('on_time_rate')}, online rate {v('online_rate')}{ctx('online_rate')}, zero-trip rate "
                 f"{v('zero_trip_rate')}{ctx('zero_trip_rate')}.")
        ratings = (f"{v('ratings')} ratings counted, good rate {v('good_rate')}{ctx('good_rate')}; {v('bad_count')} bad "
                   f"ratings. As of {as_of}, {fmt_int(counts['bad_rectified_n'])} have been rectified or explained; "
                   f"{v('bad_due')} are past their rectification limit ({v('bad_overdue_unrectified')} of them "
                   f"overdue and not rectified); {v('bad_in_progress')} are still within their limit "
                   f"(in progress, not counted as failures). Counted over the {fmt_int(counts['bad_assessed_n'])} "
                   f"that are done or past their limit ({v('bad_due')} past it + {_done_early(counts)} done within it), "
                   f"the rectification rate is {v('bad_rectified_due_rate')}.")
        score = f"Composite score {v('composite_score')}{ctx('composite_score')}." + _rank_phrase(figures, lang)
    else:
        cases = (f"本月{name}共办结 {v('cases_completed')} 件，按时办结率 {v('on_time_rate')}{ctx('on_time_rate')}，"
                 f"网办率 {v('online_rate')}{ctx('online_rate')}，零跑腿率 {v('zero_trip_rate')}{ctx('zero_trip_rate')}。")
        ratings = (f"计入评价 {v('ratings')} 次，好评率 {v('good_rate')}{ctx('good_rate')}；差评 {v('bad_count')} 件。"
                   f"截至 {as_of}，已整改或解释说明 {fmt_int(counts['bad_rectified_n'])} 件；整改期限已过的到期差评 "
                   f"{v('bad_due')} 件，其中逾期未整改 {v('bad_overdue_unrectified')} 件；尚在整改期限内的整改中差评 "
                   f"{v('bad_in_progress')} 件，不计为未整改。按已整改或整改期限已过的 {fmt_int(counts['bad_assessed_n'])} 件计"
                   f"（到期 {v('bad_due')} 件 + 期限内已整改 {_done_early(counts)} 件），"
                   f"到期差评整改率 {v('bad_rectified_due_rate')}。")
        score = f"综合得分 {v('composite_score')}{ctx('composite_score')}。" + _rank_phrase(figures, lang)
    html = _p(cases, "lead") + _p(ratings, "lead") + _p(score, "lead")
    quality = len(figures["quality"]["cases"])
    if quality:
        html += _p(tr(lang, f"本月涉及数据矛盾办件 {fmt_int(quality)} 件，已从各项办件指标中剔除，请相关部门核实更正（见“数据质量”）。",
                      f"{fmt_int(quality)} inconsistent cases this month are left out of every case indicator and "
                      "listed for correction (see “Data quality”)."), "lead")
    return html


def _empty(figures: dict, lang: str) -> str:
    """A month without a completed case or a counted rating: said plainly, no score, no rank."""
    name, prev = figures["scope"]["name"], figures["previous"]
    text = tr(lang, f"本月{name}没有办结的办件，也没有计入的评价：不计算综合得分，不排名，不列约谈名单。",
              f"{name} has no completed case and no counted rating this month: no composite score, no ranking, "
              "no talk list.")
    html = f'<div class="empty">{escape(text)}</div>'
    if prev and prev.get("rank_status") != "no_data":
        score = prev.get("composite_score")  # none below the minimum volume (样本不足: not scored)
        html += _p(tr(lang, f"上月（{figures['previous_month']}）办结 {fmt_value('cases_completed', prev['cases_completed'])} 件，"
                            f"计入评价 {fmt_value('ratings', prev['ratings'])} 次，"
                            + (f"综合得分 {fmt_value('composite_score', score)}。" if score is not None else "样本不足，未计分。"),
                      f"Last month ({figures['previous_month']}): {fmt_value('cases_completed', prev['cases_completed'])} "
                      f"cases completed, {fmt_value('ratings', prev['ratings'])} ratings counted, "
                      + (f"composite score {fmt_value('composite_score', score)}." if score is not None
                         else "too small a sample to be scored.")))
    return html


def _headline(figures: dict, lang: str) -> str:
    h, prev = figures["headline"] or {}, figures["previous"] or {}
    targets, direction = figures["targets"], figures["direction"]
    rows = []
    for key in HEADLINE_KEYS:
        now, before = h.get(key), prev.get(key)
        met = meets(key, now, targets, direction)
        rows.append([
            (label(key, lang), "name"), (fmt_value(key, now), "num"), (fmt_value(key, before), "num"),
            (fmt_change(key, now, before, lang), "num"),
            (fmt_value(key, targets.get(key)) if key in targets else "—", "num"),
            (met_label(met, lang), "c " + ("" if met is None else ("ok" if met else "bad"))),
        ])
    columns = [(tr(lang, "指标", "indicator"), None), (tr(lang, "本月", "this month"), "22mm"),
               (tr(lang, "上月", "last month"), "22mm"), (tr(lang, "较上月", "change"), "26mm"),
               (tr(lang, "目标", "target"), "18mm"), (tr(lang, "达标情况", "target met"), "16mm")]
    chart = charts.rate_bars(
        [(label(k, lang), h.get(k), prev.get(k), targets.get(k)) for k in CHART_KEYS],
        title=tr(lang, "主要指标完成情况", "Key rates against targets"),
        legend=(tr(lang, "本月达标", "met"), tr(lang, "本月未达标", "not met"), tr(lang, "本月（无目标）", "no target"),
                tr(lang, "上月", "last month"), tr(lang, "目标", "target")),
    )
    return _table(columns, rows) + chart


def _done_early(counts: dict) -> str:
    """:func:`hcp.indicators.bad_done_within_limit`, formatted: with the due ones it adds up to the due rates' base."""
    return fmt_int(bad_done_within_limit(counts))


# Rankings ----------------------------------------------------------------------------------------


def _unit_row(r: dict, name: str, lang: str, *, extra: list[str] = (), rank: str | None = None) -> list:
    ref = r["rank_status"] != "ranked"
    row = [(rank if rank is not None else rank_text(r, lang), "c"), (name, "name")]
    row += [(text, "name") for text in extra]
    row.append((fmt_value("composite_score", r.get("composite_score")), "num ref" if ref else "num"))
    row += [(fmt_value(k, r.get(k)), "num") for k in RANKING_KEYS]
    row.append((marks(r, lang), "c bad" if r.get("bottom_two") else "c"))
    return row


def _ranking_columns(lang: str, unit: str, extra: list[str] = ()) -> list[tuple[str, str | None]]:
    return ([(tr(lang, "排名", "rank"), W_RANK), (unit, None)] + [(e, None) for e in extra]
            + [(label("composite_score", lang), W_NUM)] + [(label(k, lang), W_NUM) for k in RANKING_KEYS]
            + [(tr(lang, "标记", "mark"), W_MARK)])


def _ranking(records: list[dict], lang: str, *, unit: str, name=None, extra=None, extra_headers: list[str] = (),
             own: list[tuple[dict, str, str]] = ()) -> str:
    """The ranked units, then 样本不足 units (rows, or a compact list when many), then the 本级 rows
    (``own``: record, name, rank cell text), then the units without data (named or counted)."""
    name = name or (lambda r: r["name"] or r["group"])
    extra = extra or (lambda r: [])
    ranked = [r for r in records if r["rank_status"] == "ranked"]
    small = [r for r in records if r["rank_status"] == "small_sample"]
    empty = [r for r in records if r["rank_status"] == "no_data"]
    rows, classes = [], []
    for r in ranked:
        rows.append(_unit_row(r, name(r), lang, extra=extra(r)))
        classes.append("flag" if r["bottom_two_consecutive"] else "")
    if small and len(small) <= SMALL_SAMPLE_ROWS:
        for r in small:
            rows.append(_unit_row(r, name(r), lang, extra=extra(r)))
            classes.append("")
    for record, own_label, rank in own:
        rows.append(_unit_row(record, own_label, lang, extra=extra(record), rank=rank))
        classes.append("own")
    html = _table(_ranking_columns(lang, unit, extra_headers), rows, row_classes=classes) if rows else ""
    if small and len(small) > SMALL_SAMPLE_ROWS:
        listed = _nowrap_list([tr(lang, f"{name(r)}（办结 {fmt_value('cases_completed', r.get('cases_completed'))} 件、"
                                        f"评价 {fmt_value('ratings', r.get('ratings'))} 次）",
                                  f"{name(r)} ({fmt_value('cases_completed', r.get('cases_completed'))} cases, "
                                  f"{fmt_value('ratings', r.get('ratings'))} ratings)") for r in small], lang)
        lead = tr(lang, f"{rank_status_label('small_sample', lang)}、不参与排名的 {len(small)} 个：",
                  f"{len(small)} not ranked ({rank_status_label('small_sample', lang)}): ")
        html += _p_html(escape(lead) + listed + escape(tr(lang, "。", ".")), "note")
    if empty:
        if len(empty) <= NO_DATA_NAMES:
            lead = tr(lang, f"本月无数据（无办结、无评价）的 {len(empty)} 个：",
                      f"{len(empty)} without data this month (no completion, no rating): ")
            html += _p_html(escape(lead) + _nowrap_list([name(r) for r in empty], lang) + escape(tr(lang, "。", ".")),
                            "note")
        else:
            html += _p(tr(lang, f"本月无数据（无办结、无评价）的 {len(empty)} 个，名单见工作簿。",
                          f"{len(empty)} without data this month (no completion, no rating); the workbook lists them."),
                       "note")
    return html or _none(lang)


def _score_chart(records: list[dict], title: str, name=None) -> str:
    name = name or (lambda r: r["name"] or r["group"])
    ranked = [r for r in records if r["rank_status"] == "ranked"]
    if not ranked or len(ranked) > CHART_MAX_UNITS:
        return ""
    return charts.score_bars([(name(r), r["composite_score"], r["bottom_two"]) for r in ranked], title=title)


def _small_note(figures: dict, lang: str) -> str:
    r = figures["ranking"]
    margin = f"{r['bottom_margin_points']:g}"
    return tr(lang, f"样本不足：{_ranking_text(r, lang)}，只列指标，不计分、不参与排名。"
                    f"末两位标记仅用于参与排名单位不少于 {r['bottom_min_peers']} 个的组，且得分须低于本组中位数 {margin} 分及以上。",
              f"Sample too small: {_ranking_text(r, lang)}; their figures are listed, not scored, not ranked. "
              f"The bottom-two mark applies only in groups of at least {r['bottom_min_peers']} ranked units, and only "
              f"to a score at least {margin} points below the group's median.")


def _regions(figures: dict, lang: str) -> str:
    regions, level = figures["regions"], figures["scope"]["level"]
    own_records = regions.get("region:own", [])
    own_codes = figures["own"]["codes"]
    names = {r["group"]: r["name"] for rows in regions.values() for r in rows}
    parts = []
    number = iter(NUMERALS)

    def heading(text: str) -> str:
        return f"<h3>{escape(tr(lang, f'（{next(number)}）', ''))}{escape(text)}</h3>"

    def own_row(code: str, note: str) -> list:
        record = next((r for r in own_records if r["group"] == code), None)
        if record is None:
            return []
        return [(record, own_name(record["name"], lang), tr(lang, "本级", "own"))]

    if "region:city" in regions:
        cities = regions["region:city"]
        parts.append(heading(tr(lang, "各市排名", "Cities")))
        parts.append(_ranking(cities, lang, unit=tr(lang, "市", "city"),
                              own=[x for code in own_codes for x in own_row(code, "")]))
        province = [r for r in own_records if r["group"] in own_codes]
        if province:
            parts.append(_p(tr(lang, f"{_join([own_name(r['name'], lang) for r in province], lang)}为省直部门办理的办件和评价，"
                                     "不属于任何一个市，单列显示，不参与各市排名。",
                               f"{_join([own_name(r['name'], lang) for r in province], lang)}: the cases and ratings of "
                               "the province's own departments, in no city; shown apart, not ranked with the cities."),
                            "note"))
        parts.append(_score_chart(cities, tr(lang, "各市综合得分", "City composite scores")))
        city_own = [r for r in own_records if r["group"] not in own_codes]
        if city_own:
            parts.append(heading(tr(lang, "各市本级排名", "The cities' own levels")))
            parts.append(_p(tr(lang, "市本级：各市政府部门（市直部门）自身办理的办件和评价，不含所辖县（市、区），在各市本级之间排名。",
                               "A city's own level: the work of the city government's own departments, without its "
                               "counties, ranked among the cities' own levels."), "note"))
            parts.append(_ranking(city_own, lang, unit=tr(lang, "市本级", "own level"),
                                  name=lambda r: own_name(r["name"] or r["group"], lang)))
    if "region:county" in regions:
        counties = regions["region:county"]
        parts.append(heading(tr(lang, "各县（市、区）排名", "Counties")))
        within_city = any("province_rank" in r for r in counties)
        if level in ("all", "province"):
            extra, extra_headers = (lambda r: [names.get(r["group"][:4] + "00000000", "")]), [tr(lang, "所属市", "city")]
        elif within_city:  # a city office ranks its own counties; the province-wide rank beside it
            extra = lambda r: [f"{r['province_rank']}/{r['province_peers']}" if r.get("province_rank") else "—"]  # noqa: E731
            extra_headers = [tr(lang, "全省排名", "in the province")]
        else:
            extra, extra_headers = None, []
        own = [] if level in ("all", "province") else [x for code in own_codes for x in own_row(code, "")]
        parts.append(_ranking(counties, lang, unit=tr(lang, "县（市、区）", "county"), extra=extra,
                              extra_headers=extra_headers, own=own))
        if own:
            record = own[0][0]
            standing = (tr(lang, f"在全省各市本级中排第 {record['rank']} 名（共 {record['peers']} 个）",
                           f"ranks {record['rank']} of {record['peers']} among the cities' own levels")
                        if record["rank"] is not None else rank_status_label(record["rank_status"], lang))
            parts.append(_p(tr(lang, f"{own_name(record['name'], lang)}为市直部门办理的办件和评价，不属于任何县（市、区），"
                                     f"单列显示，不参与县（市、区）排名；{standing}。",
                               f"{own_name(record['name'], lang)}: the work of the city's own departments, in no "
                               f"county; shown apart, not ranked with the counties; it {standing}."), "note"))
        parts.append(_score_chart(counties, tr(lang, "各县（市、区）综合得分", "County composite scores")))
    if any("province_rank" in r for r in regions.get("region:county", [])):
        note = tr(lang, "各县（市、区）在本市所辖县（市、区）中排名（排名/参评单位数），同一得分、同一规则；另列全省排名。",
                  "The counties are ranked among this city's counties (rank/units ranked), with the same scores and "
                  "rules; their province-wide rank is given beside it.")
    else:
        note = tr(lang, "地区在全省同级地区中排名（排名/参评单位数）。",
                  "Regions are ranked among the regions of the same level province-wide (rank/units ranked).")
    return _p(note, "note") + _p(_small_note(figures, lang), "note") + "".join(parts)


def _departments(figures: dict, lang: str) -> str:
    own = set(figures["own"]["codes"])
    records = [r for r in figures["departments"] if r["region_code"] in own]
    governments = _join([n for n in figures["own"]["names"] if n], lang)
    total = len(figures["departments"])
    counts = {s: sum(r["rank_status"] == s for r in records) for s in ("ranked", "small_sample", "no_data")}
    direct = {"city": "市直部门", "county": "县（市、区）直部门"}.get(figures["scope"]["level"], "省直部门")
    intro = tr(lang, f"{governments}本级部门（{direct}）共 {len(records)} 个，其中参与排名 {counts['ranked']} 个、"
                     f"样本不足 {counts['small_sample']} 个、无数据 {counts['no_data']} 个。部门在本级部门中排名（排名/参评单位数）。",
               f"{governments}'s own departments: {len(records)}; {counts['ranked']} ranked, {counts['small_sample']} "
               f"with too small a sample, {counts['no_data']} without data. Departments are ranked among the "
               "departments of the same government (rank/units ranked).")
    if not records:
        html = _none(lang, tr(lang, f"{governments}本级政府没有部门。", f"{governments} has no department of its own."))
    else:
        html = _p(intro) + ("" if figures["regions"] else _p(_small_note(figures, lang), "note"))
        html += _ranking(records, lang, unit=tr(lang, "部门", "department"))
        html += _score_chart(records, tr(lang, "本级部门综合得分", "Own departments' composite scores"))
    book = workbook_name(figures)
    if total > len(records):
        pointer = tr(lang, f"下级政府的部门由其本级监督部门排名，不在本通报中排名。全部 {fmt_int(total)} 个部门（含样本不足、无数据）的"
                           f"完整指标、得分与排名状态见 Excel 工作簿 {book}「部门排名」表。",
                     f"The departments of lower governments are ranked by their own offices, not in this bulletin. All "
                     f"{fmt_int(total)} departments (including those with too small a sample or no data), with every "
                     f"indicator, score and rank status, are in the Excel workbook {book}, sheet “Departments”.")
    else:
        pointer = tr(lang, f"各部门的完整指标、得分与排名状态见 Excel 工作簿 {book}「部门排名」表。",
                     f"Every department's full figures, score and rank status are in the Excel workbook {book}, "
                     "sheet “Departments”.")
    return html + f'<div class="pointer">{escape(pointer)}</div>'


# Lists -------------------------------------------------------------------------------------------


def _units_list(units: list[dict], lang: str) -> str:
    columns = [(tr(lang, "类别", "kind"), "16mm"), (tr(lang, "单位", "unit"), None), (tr(lang, "排名范围", "peer group"), None),
               (tr(lang, "本月排名", "rank"), W_RANK), (label("composite_score", lang), W_NUM)]

    def peer(u):
        if u["grouping"] == "dept":
            return tr(lang, f"{u['peer_name']}本级部门", f"{u['peer_name']} departments") if u["peer_name"] else u["peer_group"]
        unit = tr(lang, "市本级", "cities' own levels") if u["grouping"] == "region:own" else grouping_label(u["grouping"], lang)
        return tr(lang, f"{u['peer_name']}各{unit}", f"{unit} of {u['peer_name']}")

    def kind(u):
        return tr(lang, "市本级", "city own level") if u["grouping"] == "region:own" else grouping_label(u["grouping"], lang)

    def unit_name(u):
        name = u["name"] or u["group"]
        return own_name(name, lang) if u["grouping"] == "region:own" else name

    rows = [[(kind(u), "c"), (unit_name(u), "name"), (peer(u), "name"),
             (rank_text(u, lang), "c"), (fmt_value("composite_score", u["composite_score"]), "num")] for u in units]
    return _table(columns, rows)


def _talks(figures: dict, lang: str) -> str:
    intro = tr(lang, "连续两个月在本组排名末两位的单位，列入约谈名单：",
               "Units in the bottom two of their peer group this month and last month are called in for a talk:")
    html = _p(intro)
    html += _units_list(figures["talks"], lang) if figures["talks"] else _none(
        lang, tr(lang, "本月无连续两个月排名末两位的单位。", "No unit was in the bottom two two months running."))
    warned = [u for u in figures["bottom_two"] if not any(
        t["group"] == u["group"] and t["grouping"] == u["grouping"] for t in figures["talks"])]
    if warned:
        html += _p(tr(lang, "本月首次排名末两位（预警）：", "In the bottom two this month for the first time (warning):"))
        html += _units_list(warned, lang)
    return html


def _overdue(figures: dict, lang: str) -> str:
    overdue = figures["overdue"]
    completed, red = overdue["completed"], overdue["open_red"]
    h = figures["headline"] or {"overdue_completed": len(completed)}  # an empty month: nothing completed
    intro = tr(lang,
               f"本月超期办结 {fmt_value('overdue_completed', h.get('overdue_completed'))} 件；"
               f"截至月末仍未办结且已超期（红牌）{fmt_int(len(red))} 件。超期时间最长的各 {WORST_ROWS} 件如下"
               f"（全部清单见工作簿「超期办件」表）：",
               f"{fmt_value('overdue_completed', h.get('overdue_completed'))} cases were completed late this month; "
               f"{fmt_int(len(red))} cases were open and overdue (red) at the end of the month. The {WORST_ROWS} "
               "longest overdue of each (the workbook lists them all):")
    html = _p(intro)
    if not completed and not red:
        return html + _none(lang)

    def table(rows, done: bool) -> str:
        columns = [(tr(lang, "办件编号", "case"), None), (tr(lang, "部门", "department"), None),
                   (tr(lang, "事项", "item"), None), (tr(lang, "办结期限", "deadline"), W_DATE)]
        if done:
            columns.append((tr(lang, "办结日期", "completed"), W_DATE))
        columns.append((tr(lang, "超期（工作日）", "overdue (working days)"), W_NUM))
        body = [[(r["case_id"], "code"), (r["dept_name"] or r["dept_code"], "name"),
                 (r["item_name"] or r["item_code"], "wrap"), (r["deadline"] or "—", "c")]
                + ([(r["completed"] or "—", "c")] if done else [])
                + [(fmt_int(r["overdue_working_days"]), "num bad")] for r in rows[:WORST_ROWS]]
        return _table(columns, body, css="list")

    if completed:
        html += f"<h3>{escape(tr(lang, '超期办结', 'Completed late'))}</h3>" + table(completed, True)
    if red:
        html += f"<h3>{escape(tr(lang, '逾期未办结（月末红牌）', 'Open and overdue at month end (red)'))}</h3>" + table(red, False)
    return html


def _rectification(figures: dict, lang: str) -> str:
    bad = figures["bad_ratings"]
    h = figures["headline"] or {}
    counts = h.get("counts", {})
    as_of = figures["as_of"]
    overdue = [r for r in bad if r["status"] == "overdue"]
    waiting = sorted((r for r in bad if r["status"] == "in_progress"),
                     key=lambda r: (r["due"] or "", r["rated"] or "", r["rating_id"]))
    intro = tr(lang,
               f"整改期限为差评次日起 {figures['rectify_days']} 个工作日，以 {as_of} 为判定日。本月差评 "
               f"{fmt_value('bad_count', h.get('bad_count'))} 件：已整改或解释说明 {fmt_int(counts.get('bad_rectified_n'))} 件；"
               f"整改期限已过的到期差评 {fmt_value('bad_due', h.get('bad_due'))} 件，其中逾期未整改 "
               f"{fmt_value('bad_overdue_unrectified', h.get('bad_overdue_unrectified'))} 件；尚在整改期限内的整改中 "
               f"{fmt_value('bad_in_progress', h.get('bad_in_progress'))} 件，不计为未整改，不影响本月得分。"
               f"按已整改或整改期限已过的 {fmt_int(counts.get('bad_assessed_n'))} 件计（到期 "
               f"{fmt_value('bad_due', h.get('bad_due'))} 件 + 期限内已整改 {_done_early(counts)} 件），到期差评整改率 "
               f"{fmt_value('bad_rectified_due_rate', h.get('bad_rectified_due_rate'))}，按期整改率 "
               f"{fmt_value('bad_rectified_on_time_due_rate', h.get('bad_rectified_on_time_due_rate'))}。",
               f"A bad rating is to be rectified within {figures['rectify_days']} working days after it was made, "
               f"judged on {as_of}. {fmt_value('bad_count', h.get('bad_count'))} bad ratings this month: "
               f"{fmt_int(counts.get('bad_rectified_n'))} rectified or explained; "
               f"{fmt_value('bad_due', h.get('bad_due'))} past their limit, of which "
               f"{fmt_value('bad_overdue_unrectified', h.get('bad_overdue_unrectified'))} overdue and not rectified; "
               f"{fmt_value('bad_in_progress', h.get('bad_in_progress'))} still within their limit (in progress): "
               f"not failures, and not in this month's score. Counted over the {fmt_int(counts.get('bad_assessed_n'))} "
               f"that are done or past their limit ({fmt_value('bad_due', h.get('bad_due'))} past it + "
               f"{_done_early(counts)} done within it), {fmt_value('bad_rectified_due_rate', h.get('bad_rectified_due_rate'))} "
               f"were rectified, {fmt_value('bad_rectified_on_time_due_rate', h.get('bad_rectified_on_time_due_rate'))} "
               "on time.")
    html = _p(intro)

    def table(rows, *, left: bool) -> str:
        columns = [(tr(lang, "评价编号", "rating"), None), (tr(lang, "部门", "department"), None),
                   (tr(lang, "事项", "item"), None), (tr(lang, "评价时间", "rated"), "25mm"),
                   (tr(lang, "整改期限", "due"), W_DATE)]
        if left:
            columns.append((tr(lang, "剩余工作日", "working days left"), W_NUM))
        columns.append((tr(lang, "状态", "status"), "17mm"))
        body = [[(r["rating_id"], "code"), (r["dept_name"] or r["dept_code"], "name"),
                 (r["item_name"] or r["item_code"], "wrap"), (r["rated"], "c"), (r["due"] or "—", "c")]
                + ([(fmt_int(r["working_days_left"]), "num")] if left else [])
                + [(status_label(r["status"], lang), "c wait" if left else "c bad")] for r in rows[:WORST_ROWS]]
        return _table(columns, body, css="list")

    more = tr(lang, "（共 {n} 件，列出 {k} 件，全部见工作簿「差评整改」表）", " ({n} in all, {k} listed; the workbook lists them all)")
    html += (f"<h3>{escape(tr(lang, '逾期未整改', 'Overdue, not rectified'))}"
             f"{escape(more.format(n=fmt_int(len(overdue)), k=min(len(overdue), WORST_ROWS)) if len(overdue) > WORST_ROWS else '')}</h3>")
    html += (table(overdue, left=False) if overdue else
             _none(lang, tr(lang, "无逾期未整改的差评。", "No bad rating is overdue.")))
    html += (f"<h3>{escape(tr(lang, '整改中（未到整改期限）', 'In progress (not yet due)'))}"
             f"{escape(more.format(n=fmt_int(len(waiting)), k=min(len(waiting), WORST_ROWS)) if len(waiting) > WORST_ROWS else '')}</h3>")
    html += (table(waiting, left=True) if waiting else
             _none(lang, tr(lang, "无整改中的差评。", "No bad rating is in progress.")))
    return html + _causes(figures, lang)


def _causes(figures: dict, lang: str) -> str:
    """Bad ratings by cause: the causes departments verified, and — apart, for those not verified yet — the
    complaint-cause model's suggestions (figures ``bad_causes``; a bulletin of an older format has none)."""
    causes = figures.get("bad_causes")
    if not causes or not figures["bad_ratings"]:
        return ""
    predicted = causes["predicted"]
    html = f"<h3>{escape(tr(lang, '差评原因', 'Bad ratings by cause'))}</h3>"
    note = (tr(lang, f"“核实”为部门核实的原因；“模型预测”为尚未核实的 {fmt_int(causes['unverified'])} 件差评由差评原因模型"
                     f"（v{causes['model_version']}）给出的建议，仅供参考，不是核实结论，不计入任何考核。",
               f"“Verified”: the cause the department verified. “Predicted”: for the {fmt_int(causes['unverified'])} bad "
               f"ratings not verified yet, the complaint-cause model's suggestion (v{causes['model_version']}) — a "
               "suggestion, not a verified cause, and in no score.")
            if predicted is not None else
            tr(lang, f"为部门核实的原因；尚未核实 {fmt_int(causes['unverified'])} 件（无已训练的差评原因模型，未作预测）。",
               f"The causes departments verified; {fmt_int(causes['unverified'])} not verified yet (no trained "
               "complaint-cause model, no prediction)."))
    columns = [(tr(lang, "原因", "cause"), None), (tr(lang, "核实", "verified"), W_NUM)]
    if predicted is not None:
        columns.append((tr(lang, "模型预测（未核实）", "predicted (not verified)"), W_NUM))
    rows = [[(tr(lang, REASON_CATEGORIES[c], c), "name"), (fmt_int(causes["verified"][c]), "num")]
            + ([(fmt_int(predicted[c]), "num")] if predicted is not None else [])
            for c in causes["causes"] if causes["verified"][c] or (predicted or {}).get(c)]
    return html + _p(note, "note") + _table(columns, rows, css="list")


def _urges(figures: dict, lang: str) -> str:
    """督办 N 件，未回应 M 件, and the departments urged (most unanswered first)."""
    urges = figures["urges"]
    again = f"（其中再次督办 {fmt_int(urges['repeated'])} 件）" if urges["repeated"] else ""
    again_en = f" ({fmt_int(urges['repeated'])} repeated)" if urges["repeated"] else ""
    html = _p(tr(lang, f"本月督办 {fmt_int(urges['issued'])} 件{again}，截至 {figures['as_of']} 部门未回应 "
                       f"{fmt_int(urges['open'])} 件。",
                 f"{fmt_int(urges['issued'])} urges this month{again_en}; {fmt_int(urges['open'])} not answered by the "
                 f"department by {figures['as_of']}."), "lead")
    columns = [(tr(lang, "部门", "department"), None), (tr(lang, "督办", "urged"), W_NUM),
               (tr(lang, "再次督办", "repeated"), W_NUM), (tr(lang, "未回应", "not answered"), W_NUM)]
    rows = [[(d["dept_name"] or d["dept_code"], "name"), (fmt_int(d["urges"]), "num"), (fmt_int(d["repeated"]), "num"),
             (fmt_int(d["open"]), "num bad" if d["open"] else "num")] for d in urges["by_department"][:WORST_ROWS]]
    return html + _table(columns, rows, css="list")


def _quality(figures: dict, lang: str) -> str:
    cases, by_dept = figures["quality"]["cases"], figures["quality"]["per_department"]
    intro = tr(lang, f"本月涉及数据矛盾办件（申报、受理、办结时间相互矛盾，无法计时）{fmt_int(len(cases))} 件，"
                     f"涉及 {fmt_int(len(by_dept))} 个部门。这些办件不计入各项办件指标，请所在部门核实更正；"
                     "办件清单见工作簿「数据质量」表。",
               f"{fmt_int(len(cases))} inconsistent cases this month (submission, acceptance and completion times "
               f"contradict each other, so they cannot be timed) in {fmt_int(len(by_dept))} departments. They are "
               "left out of every case indicator; the departments are asked to correct them. The workbook lists "
               "them (sheet “Data quality”).")
    html = _p(intro)
    if not cases:
        return _none(lang, tr(lang, "本月无数据矛盾办件。", "No inconsistent case this month.")) + _untimed(figures, lang)
    problems = {}
    for c in cases:
        problems.setdefault(c["dept_code"], {}).setdefault(c["problem"], 0)
        problems[c["dept_code"]][c["problem"]] += 1
    columns = [(tr(lang, "部门", "department"), None), (tr(lang, "件数", "cases"), W_NUM),
               (tr(lang, "问题", "problem"), None)]
    rows = [[(d["dept_name"] or d["dept_code"], "name"), (fmt_int(d["cases"]), "num"),
             (_join([f"{problem_label(p, lang)} {n}" for p, n in sorted(problems.get(d["dept_code"], {}).items())], lang),
              "wrap")] for d in by_dept[:QUALITY_ROWS]]
    html += _table(columns, rows, css="list")
    if len(by_dept) > QUALITY_ROWS:
        html += _p(tr(lang, f"另有 {len(by_dept) - QUALITY_ROWS} 个部门，见工作簿。",
                      f"{len(by_dept) - QUALITY_ROWS} more departments in the workbook."), "note")
    return html + _untimed(figures, lang)


def _untimed(figures: dict, lang: str) -> str:
    """One sentence on the cases that cannot be timed (item not in the catalogue), with their departments."""
    untimed = figures["quality"].get("untimed") or {"cases": 0, "per_department": []}
    if not untimed["cases"]:
        return ""
    depts = untimed["per_department"]
    named = _join([f"{d['dept_name'] or d['dept_code']} {fmt_int(d['cases'])}" for d in depts[:QUALITY_ROWS]], lang)
    more = len(depts) - QUALITY_ROWS
    return _p(tr(lang, f"另有无法计时办件 {fmt_int(untimed['cases'])} 件（事项不在目录中，没有办理时限）：计入办结量，"
                       f"不计入按时办结率。请补录事项目录：{named}" + (f"等 {len(depts)} 个部门" if more > 0 else "") + "。",
                 f"{fmt_int(untimed['cases'])} more cases cannot be timed (their item is not in the catalogue, so they "
                 f"have no deadline): counted as completed, not in the on-time rate. Catalogue to complete: {named}"
                 + (f" ({len(depts)} departments in all)" if more > 0 else "") + "."))


# The page ----------------------------------------------------------------------------------------


def sections(figures: dict, lang: str) -> list[tuple[str, str]]:
    """(heading without its number, content) of the bulletin, in order."""
    empty = figures["empty"]
    out = [(tr(lang, "总体情况", "Overview"),
            _empty(figures, lang) if empty else _summary(figures, lang) + _headline(figures, lang))]
    if not empty:
        if figures["regions"]:
            out.append((tr(lang, "地区排名", "Region ranking"), _regions(figures, lang)))
        out.append((tr(lang, "本级部门排名", "Own departments ranking"), _departments(figures, lang)))
        out.append((tr(lang, "约谈名单", "Called in for a talk"), _talks(figures, lang)))
    if not empty or figures["overdue"]["completed"] or figures["overdue"]["open_red"]:
        out.append((tr(lang, "超期办件", "Overdue cases"), _overdue(figures, lang)))
    if not empty or figures["bad_ratings"]:
        out.append((tr(lang, "差评整改", "Bad-rating rectification"), _rectification(figures, lang)))
    if (figures.get("urges") or {}).get("issued"):  # 督办: only in a month with urges
        out.append((tr(lang, "督办", "Urges"), _urges(figures, lang)))
    out.append((tr(lang, "数据质量", "Data quality"), _quality(figures, lang)))
    return out


def render_html(figures: dict, *, watermark: str | None, checksum: str, version: int | None = None) -> str:
    """The bulletin page. ``watermark`` (data received up to) and ``version`` are printed in the header;
    ``checksum`` (of the figures) in the footer of every page."""
    lang = figures["lang"]
    heading = title(figures, lang)
    created = (watermark or figures["period"]["end"] + " 00:00:00")[:19].replace(" ", "T") + "+08:00"
    meta = [tr(lang, f"统计期间：{period_text(figures, lang)}", f"Period: {period_text(figures, lang)}")]
    if watermark:
        meta.append(tr(lang, f"数据截至：{watermark[:16]}", f"Data received up to {watermark[:16]}"))
    meta.append(tr(lang, f"整改状态判定日：{figures['as_of']}", f"Rectification judged on {figures['as_of']}"))
    if version:
        meta.append(tr(lang, f"第 {version} 版", f"version {version}"))
    body = "".join(
        f"<section><h2>{escape(tr(lang, f'{NUMERALS[i]}、{h}', f'{i + 1}. {h}'))}</h2>{content}</section>"
        for i, (h, content) in enumerate(sections(figures, lang)))
    explain = tr(lang,
                 "说明：比率的分母为零时记为“—”。综合得分为各指标得分之和，权重与目标由本级监督部门设定；"
                 "差评整改类指标按到期差评（已整改或整改期限已过）计算。本通报由监督分析系统根据政务服务数据自动生成，"
                 f"各部门、各地区的完整指标及全部清单见 Excel 工作簿 {workbook_name(figures)}。",
                 "Notes: rates over an empty base are shown as “—”. The composite score is the sum of per-indicator "
                 "points with the weights and targets set by the supervisory office; the rectification indicators "
                 "count the bad ratings that are done or past their limit. Generated automatically from the "
                 "government-service data by the supervision system; every unit's full figures and every list are in the "
                 f"Excel workbook {workbook_name(figures)}.")
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
