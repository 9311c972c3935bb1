"""The bulletin's workbook (.xlsx): the same figures as the PDF, every unit and every case behind them.

Sheets: summary (概况), department ranking (部门排名: every department of the scope, ranked or not, with
its rank status), region ranking (地区排名: the cities, counties and 本级 levels of the scope), overdue
cases (超期办件), bad-rating rectification (差评整改: status 逾期未整改 / 整改中 / done, due date, working days
left, as of the bulletin's as-of day), data quality (数据质量: the inconsistent cases to correct), catalogue
targets (事项目录指标). Values are written as numbers —
rates as fractions shown with a percentage format — so a formula or a test reads back exactly what
``hcp metrics`` gives. Header rows are frozen, columns sized to their content, and colours mark what
misses its target, units in the bottom two, open bad ratings and long overdue cases.

Personal data: only the masked columns the warehouse holds (applicant / rater names as masked at
ingest) appear, and only here — the public bulletin has none.

The file is reproducible: document dates are the data watermark and the zip entries carry that same
timestamp, so the same figures and watermark give the same bytes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import math
import re
import threading
import zipfile

from openpyxl import Workbook
from openpyxl.cell import _writer
from openpyxl.formatting.rule import CellIsRule, ColorScaleRule, DataBarRule, FormulaRule
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from hcp.i18n import tr
from hcp.textable import display_width
from metrics.indicators import INDICATOR_KEYS
from reports.text import (CATALOGUE_KEYS, SUMMARY_KEYS, grouping_label, kind, label, meets, met_label, own_name,
                          period_text, problem_label, rank_status_label, reason_label, channel_label, status_label,
                          title, yes_no)

HEADER_FILL = PatternFill("solid", fgColor="1F3864")
HEADER_FONT = Font(bold=True, color="FFFFFF")
TITLE_FONT = Font(bold=True, size=14, color="C00000")
RED_FILL = PatternFill("solid", fgColor="F8CBAD")
GREEN_FILL = PatternFill("solid", fgColor="C6EFCE")
AMBER_FILL = PatternFill("solid", fgColor="FFE699")
THIN = Side(style="thin", color="BFBFBF")
BORDER = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
FORMATS = {"rate": "0.00%", "count": "#,##0", "mean": "0.00", "score": "0.00", "date": "yyyy-mm-dd",
           "datetime": "yyyy-mm-dd hh:mm", "text": "@", "int": "0"}


def _date(text: str | None):
    return dt.date.fromisoformat(text) if text else None


def _datetime(text: str | None):
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M") if text else None


class SheetWriter:
    """A sheet with one header row (at ``header_row``) and typed columns."""

    def __init__(self, ws, columns: list[tuple[str, str]], header_row: int = 1):
        self.ws = ws
        self.columns = columns  # (header, format kind)
        self.header_row = header_row
        self.row = header_row
        self.widths = [display_width(h) for h, _ in columns]
        for i, (header, _) in enumerate(columns, start=1):
            cell = ws.cell(row=header_row, column=i, value=header)
            cell.fill, cell.font, cell.border = HEADER_FILL, HEADER_FONT, BORDER
            cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)

    def add(self, values: list) -> int:
        self.row += 1
        for i, (value, (_, fmt)) in enumerate(zip(values, self.columns), start=1):
            cell = self.ws.cell(row=self.row, column=i, value=value)
            cell.border = BORDER
            cell.number_format = FORMATS[fmt]
            shown = self._shown(value, fmt)
            self.widths[i - 1] = max(self.widths[i - 1], display_width(shown))
        return self.row

    @staticmethod
    def _shown(value, fmt: str) -> str:
        if value is None:
            return ""
        if fmt == "rate":
            return f"{value * 100:.2f}%"
        if fmt in ("mean", "score"):
            return f"{value:.2f}"
        if fmt == "count":
            return f"{value:,}"
        if fmt == "datetime":
            return "2025-10-10 10:00"
        return str(value)

    def finish(self, *, freeze_columns: int = 0) -> None:
        ws = self.ws
        ws.freeze_panes = ws.cell(row=self.header_row + 1, column=freeze_columns + 1)
        for i, width in enumerate(self.widths, start=1):
            ws.column_dimensions[get_column_letter(i)].width = min(max(width + 2, 6), 48)
        if self.row > self.header_row:
            ws.auto_filter.ref = f"A{self.header_row}:{get_column_letter(len(self.columns))}{self.row}"

    def column_range(self, index: int) -> str:
        """Cells of the data rows of column ``index`` (1-based), e.g. ``C2:C40``."""
        letter = get_column_letter(index)
        return f"{letter}{self.header_row + 1}:{letter}{max(self.row, self.header_row + 1)}"

    def index(self, header: str) -> int:
        return [h for h, _ in self.columns].index(header) + 1


def _summary(wb: Workbook, figures: dict, lang: str, watermark: str | None, checksum: str) -> None:
    ws = wb.active
    ws.title = tr(lang, "概况", "Summary")
    ws["A1"] = title(figures, lang)
    ws["A1"].font = TITLE_FONT
    ws["A2"] = tr(lang, f"统计期间：{period_text(figures, lang)}", f"Period: {period_text(figures, lang)}")
    ws["A3"] = tr(lang, f"数据截至：{(watermark or '—')[:19]}", f"Data received up to: {(watermark or '—')[:19]}")
    ws["A4"] = tr(lang, f"校验码：{checksum}", f"Checksum: {checksum}")
    ws["A5"] = tr(lang, f"整改状态判定日：{figures['as_of']}" + ("（本月无办结、无评价数据：不计算得分，不排名）" if figures["empty"] else ""),
                  f"Rectification judged on: {figures['as_of']}"
                  + (" (no completion and no rating this month: no score, no ranking)" if figures["empty"] else ""))
    h, prev = figures["headline"] or {}, figures["previous"] or {}
    targets, direction = figures["targets"], figures["direction"]
    sheet = SheetWriter(ws, [
        (tr(lang, "指标", "indicator"), "text"), (tr(lang, "本月", "this month"), "text"),
        (tr(lang, "上月", "last month"), "text"), (tr(lang, "目标", "target"), "text"),
        (tr(lang, "达标情况", "target met"), "text"), (tr(lang, "指标代码", "key"), "text"),
    ], header_row=6)
    for key in SUMMARY_KEYS:
        now, before = h.get(key), prev.get(key)
        row = sheet.add([label(key, lang), now, before, targets.get(key),
                         met_label(meets(key, now, targets, direction), lang), key])
        fmt = FORMATS[kind(key)]
        for column in (2, 3, 4):
            ws.cell(row=row, column=column).number_format = fmt
            ws.cell(row=row, column=column).alignment = Alignment(horizontal="right")
    sheet.widths[1:4] = [12, 12, 12]
    sheet.finish(freeze_columns=1)
    ws.auto_filter.ref = None
    met_col = sheet.column_range(5)
    ws.conditional_formatting.add(met_col, CellIsRule(operator="equal", formula=[f'"{met_label(False, lang)}"'], fill=RED_FILL))
    ws.conditional_formatting.add(met_col, CellIsRule(operator="equal", formula=[f'"{met_label(True, lang)}"'], fill=GREEN_FILL))
    ws.column_dimensions["A"].width = 30


def _ranking_columns(lang: str, first: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return first + [(label("composite_score", lang), "score")] + [(label(k, lang), kind(k)) for k in INDICATOR_KEYS] + [
        (tr(lang, "末两位", "bottom two"), "text"), (tr(lang, "连续两月末两位（约谈）", "bottom two 2 months (talk)"), "text")]


def _ranking_values(record: dict, lang: str) -> list:
    """Score, every indicator, the marks (a unit without data has only its status: every value empty)."""
    return [record.get("composite_score")] + [record.get(k) for k in INDICATOR_KEYS] + [
        yes_no(record["bottom_two"], lang), yes_no(record["bottom_two_consecutive"], lang)]


def _mark_ranking(ws, sheet: SheetWriter, lang: str) -> None:
    score = sheet.index(label("composite_score", lang))
    ws.conditional_formatting.add(sheet.column_range(score), ColorScaleRule(
        start_type="num", start_value=0, start_color="F8696B", mid_type="num", mid_value=60, mid_color="FFEB84",
        end_type="num", end_value=100, end_color="63BE7B"))
    talk = get_column_letter(len(sheet.columns))
    last = get_column_letter(len(sheet.columns))
    ws.conditional_formatting.add(f"A{sheet.header_row + 1}:{last}{max(sheet.row, sheet.header_row + 1)}", FormulaRule(
        formula=[f'${talk}{sheet.header_row + 1}="{yes_no(True, lang)}"'], fill=RED_FILL))
    bottom = get_column_letter(len(sheet.columns) - 1)
    ws.conditional_formatting.add(sheet.column_range(len(sheet.columns) - 1), FormulaRule(
        formula=[f'${bottom}{sheet.header_row + 1}="{yes_no(True, lang)}"'], fill=AMBER_FILL))


def _departments(wb: Workbook, figures: dict, lang: str) -> None:
    ws = wb.create_sheet(tr(lang, "部门排名", "Departments"))
    own = set(figures["own"]["codes"])
    sheet = SheetWriter(ws, _ranking_columns(lang, [
        (tr(lang, "排名状态", "rank status"), "text"), (tr(lang, "排名", "rank"), "int"),
        (tr(lang, "参评单位数", "units ranked"), "int"),
        (tr(lang, "部门代码", "dept code"), "text"), (tr(lang, "部门", "department"), "text"),
        (tr(lang, "所属政府代码", "government code"), "text"), (tr(lang, "所属政府", "government"), "text"),
        (tr(lang, "本级部门", "own department"), "text")]))
    for r in sorted(figures["departments"], key=lambda r: (r["region_code"] not in own, r["peer_group"])):
        sheet.add([rank_status_label(r["rank_status"], lang), r["rank"], r["peers"], r["group"], r["name"],
                   r["peer_group"], r.get("peer_name", ""), yes_no(r["region_code"] in own, lang)]
                  + _ranking_values(r, lang))
    sheet.finish(freeze_columns=5)
    _mark_ranking(ws, sheet, lang)


def _regions(wb: Workbook, figures: dict, lang: str) -> None:
    ws = wb.create_sheet(tr(lang, "地区排名", "Regions"))
    sheet = SheetWriter(ws, _ranking_columns(lang, [
        (tr(lang, "层级", "level"), "text"), (tr(lang, "排名状态", "rank status"), "text"),
        (tr(lang, "排名", "rank"), "int"), (tr(lang, "参评单位数", "units ranked"), "int"),
        (tr(lang, "区划代码", "region code"), "text"), (tr(lang, "地区", "region"), "text")]))
    for grouping, records in figures["regions"].items():
        for r in records:
            name = own_name(r["name"], lang) if grouping == "region:own" else r["name"]
            sheet.add([grouping_label(grouping, lang), rank_status_label(r["rank_status"], lang), r["rank"], r["peers"],
                       r["group"], name] + _ranking_values(r, lang))
    sheet.finish(freeze_columns=6)
    _mark_ranking(ws, sheet, lang)


def _overdue(wb: Workbook, figures: dict, lang: str) -> None:
    ws = wb.create_sheet(tr(lang, "超期办件", "Overdue cases"))
    sheet = SheetWriter(ws, [
        (tr(lang, "类别", "kind"), "text"), (tr(lang, "办件编号", "case"), "text"),
        (tr(lang, "部门代码", "dept code"), "text"), (tr(lang, "部门", "department"), "text"),
        (tr(lang, "事项代码", "item code"), "text"), (tr(lang, "事项", "item"), "text"),
        (tr(lang, "区划代码", "region code"), "text"), (tr(lang, "地区", "region"), "text"),
        (tr(lang, "受理日期", "accepted"), "date"), (tr(lang, "办结期限", "deadline"), "date"),
        (tr(lang, "办结日期", "completed"), "date"), (tr(lang, "超期工作日", "overdue working days"), "int"),
        (tr(lang, "申请人（脱敏）", "applicant (masked)"), "text"),
    ])
    for r in figures["overdue"]["completed"]:
        sheet.add([tr(lang, "超期办结", "completed late"), r["case_id"], r["dept_code"], r["dept_name"], r["item_code"],
                   r["item_name"], r["region_code"], r["region_name"], _date(r["accepted"]), _date(r["deadline"]),
                   _date(r["completed"]), r["overdue_working_days"], r["applicant_masked"]])
    for r in figures["overdue"]["open_red"]:
        sheet.add([tr(lang, "逾期未办结（红牌）", "open, overdue (red)"), r["case_id"], r["dept_code"], r["dept_name"],
                   r["item_code"], r["item_name"], r["region_code"], r["region_name"], _date(r["accepted"]),
                   _date(r["deadline"]), None, r["overdue_working_days"], ""])
    sheet.finish(freeze_columns=2)
    ws.conditional_formatting.add(sheet.column_range(12), DataBarRule(
        start_type="num", start_value=0, end_type="max", color="C0392B"))


def _bad_ratings(wb: Workbook, figures: dict, lang: str) -> None:
    ws = wb.create_sheet(tr(lang, "差评整改", "Bad ratings"))
    sheet = SheetWriter(ws, [
        (tr(lang, "评价编号", "rating"), "text"), (tr(lang, "办件编号", "case"), "text"),
        (tr(lang, "部门代码", "dept code"), "text"), (tr(lang, "部门", "department"), "text"),
        (tr(lang, "事项", "item"), "text"), (tr(lang, "地区", "region"), "text"),
        (tr(lang, "等级", "level"), "int"), (tr(lang, "渠道", "channel"), "text"),
        (tr(lang, "评价时间", "rated"), "datetime"), (tr(lang, "实名", "real name"), "text"),
        (tr(lang, "差评原因", "reason"), "text"), (tr(lang, "状态", "status"), "text"),
        (tr(lang, "整改/解释时间", "rectified at"), "datetime"), (tr(lang, "整改期限", "due"), "date"),
        (tr(lang, "剩余工作日", "working days left"), "int"),
        (tr(lang, "按期整改", "on time"), "text"), (tr(lang, "已回访", "revisited"), "text"),
        (tr(lang, "评价人（脱敏）", "rater (masked)"), "text"),
    ])
    for r in figures["bad_ratings"]:
        sheet.add([r["rating_id"], r["case_id"], r["dept_code"], r["dept_name"], r["item_name"] or r["item_code"],
                   r["region_name"] or r["region_code"], r["level"], channel_label(r["channel"], lang),
                   _datetime(r["rated"]), yes_no(r["real_name"], lang), reason_label(r["reason"], lang),
                   status_label(r["status"], lang), _datetime(r["rectified"]), _date(r["due"]),
                   r["working_days_left"], yes_no(r["rectified_on_time"], lang), yes_no(r["revisited"], lang),
                   r["rater_masked"]])
    sheet.widths[8] = sheet.widths[12] = 17
    sheet.finish(freeze_columns=1)
    ws.conditional_formatting.add(sheet.column_range(12), CellIsRule(
        operator="equal", formula=[f'"{status_label("overdue", lang)}"'], fill=RED_FILL))
    ws.conditional_formatting.add(sheet.column_range(12), CellIsRule(
        operator="equal", formula=[f'"{status_label("in_progress", lang)}"'], fill=AMBER_FILL))
    ws.conditional_formatting.add(sheet.column_range(16), CellIsRule(
        operator="equal", formula=[f'"{yes_no(False, lang)}"'], fill=AMBER_FILL))


def _quality(wb: Workbook, figures: dict, lang: str) -> None:
    """The inconsistent cases of the month, for the departments to correct."""
    ws = wb.create_sheet(tr(lang, "数据质量", "Data quality"))
    sheet = SheetWriter(ws, [
        (tr(lang, "办件编号", "case"), "text"), (tr(lang, "问题", "problem"), "text"),
        (tr(lang, "部门代码", "dept code"), "text"), (tr(lang, "部门", "department"), "text"),
        (tr(lang, "事项", "item"), "text"), (tr(lang, "地区", "region"), "text"),
        (tr(lang, "申报时间", "submitted"), "datetime"), (tr(lang, "受理时间", "accepted"), "datetime"),
        (tr(lang, "办结时间", "completed"), "datetime"),
    ])
    for r in figures["quality"]["cases"]:
        sheet.add([r["case_id"], problem_label(r["problem"], lang), r["dept_code"], r["dept_name"],
                   r["item_name"] or r["item_code"], r["region_name"] or r["region_code"], _datetime(r["submitted"]),
                   _datetime(r["accepted"]), _datetime(r["completed"])])
    sheet.finish(freeze_columns=1)


def _catalogue(wb: Workbook, figures: dict, lang: str) -> None:
    ws = wb.create_sheet(tr(lang, "事项目录指标", "Catalogue"))
    targets = figures["targets"]
    keys = list(CATALOGUE_KEYS)
    sheet = SheetWriter(ws, [
        (tr(lang, "类别", "kind"), "text"), (tr(lang, "代码", "code"), "text"), (tr(lang, "名称", "name"), "text"),
        (tr(lang, "事项数", "items"), "count")] + [(label(k, lang), "rate") for k in keys], header_row=2)
    ws["A1"] = tr(lang, "目标", "target")
    ws["A1"].font = Font(bold=True)
    for i, key in enumerate(keys, start=5):
        if key in targets:
            ws.cell(row=1, column=i, value=targets[key]).number_format = FORMATS["rate"]
    units = [(tr(lang, "通报范围", "scope"), dict(figures["headline"], name=figures["scope"]["name"]))] if figures["headline"] else []
    units += [(grouping_label(g, lang), dict(r, name=own_name(r["name"], lang)) if g == "region:own" else r)
              for g, rows in figures["regions"].items() for r in rows]
    units += [(grouping_label("dept", lang), r) for r in figures["departments"]]
    for unit_kind, r in units:
        if "counts" not in r:
            continue  # a unit without any stored figure has no catalogue either
        sheet.add([unit_kind, r["group"], r["name"], r["counts"]["items"]] + [r[k] for k in keys])
    sheet.finish(freeze_columns=3)
    for i, key in enumerate(keys, start=5):
        if key in targets:
            letter = get_column_letter(i)
            ws.conditional_formatting.add(sheet.column_range(i), FormulaRule(
                formula=[f"AND(ISNUMBER({letter}3),{letter}3<{letter}$1)"], fill=RED_FILL))
            ws.conditional_formatting.add(sheet.column_range(i), FormulaRule(
                formula=[f"AND(ISNUMBER({letter}3),{letter}3>={letter}$1)"], fill=GREEN_FILL))


_PATCH_LOCK = threading.Lock()


@contextlib.contextmanager
def _exact_floats():
    """openpyxl writes numbers with ``%.16g``, which can change the last bit of a double (55.176767676767675
    becomes 55.17676767676767). Write floats with ``repr`` — the shortest text that reads back as the same
    double — so the workbook holds exactly the values of ``hcp metrics``."""
    original = _writer.safe_string

    def exact(value):
        if isinstance(value, float) and math.isfinite(value):
            return repr(value)
        return original(value)

    with _PATCH_LOCK:
        _writer.safe_string = exact
        try:
            yield
        finally:
            _writer.safe_string = original


def _stamp(watermark: str | None, figures: dict) -> dt.datetime:
    """The document date: the data watermark (or the period's last day for an empty warehouse)."""
    if watermark:
        return dt.datetime.strptime(watermark[:19], "%Y-%m-%d %H:%M:%S")
    return dt.datetime.fromisoformat(figures["period"]["end"])


def _reproducible_zip(data: bytes, stamp: dt.datetime) -> bytes:
    """Rewrite the xlsx zip with every entry dated ``stamp`` (zip stores local times, no zone), and the
    document's modified date (which openpyxl sets to the wall clock on save) set to it too."""
    utc = (stamp - dt.timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M:%SZ")
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                                 rb"\g<1>" + utc.encode() + rb"\g<2>", content)
            entry = zipfile.ZipInfo(info.filename, date_time=stamp.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = info.external_attr
            dst.writestr(entry, content)
    return out.getvalue()


def render_workbook(figures: dict, *, watermark: str | None, checksum: str) -> bytes:
    """The workbook as bytes (deterministic for the same figures and watermark)."""
    lang = figures["lang"]
    wb = Workbook()
    _summary(wb, figures, lang, watermark, checksum)
    _departments(wb, figures, lang)
    _regions(wb, figures, lang)
    _overdue(wb, figures, lang)
    _bad_ratings(wb, figures, lang)
    _quality(wb, figures, lang)
    _catalogue(wb, figures, lang)
    stamp = _stamp(watermark, figures)
    wb.properties.title = title(figures, lang)
    wb.properties.creator = "hcp"
    wb.properties.lastModifiedBy = "hcp"
    wb.properties.created = stamp - dt.timedelta(hours=8)  # openpyxl takes UTC; the stamp is Shanghai time
    buffer = io.BytesIO()
    with _exact_floats():
        wb.save(buffer)
    return _reproducible_zip(buffer.getvalue(), stamp)
