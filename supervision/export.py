"""Writing a supervision list as JSON, CSV, Excel (.xlsx) or an aligned text table.

JSON and CSV use the machine keys as field names (dates ``YYYY-MM-DD``, times ISO 8601 with offset, lists as
JSON text in CSV cells, as in INTERCHANGE.md); Excel and the text table use the user's language for headers
and show times in Asia/Shanghai. Nothing here decides what goes in a list.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import polars as pl

from hcp.errors import HcpError
from hcp.i18n import tr
from hcp.textable import render

FORMATS = ("table", "json", "csv", "xlsx")


def _jsonable(value):
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def records(frame: pl.DataFrame) -> list[dict]:
    """Rows as JSON-ready dicts."""
    return [{k: _jsonable(v) for k, v in row.items()} for row in frame.iter_rows(named=True)]


def _flat(frame: pl.DataFrame, *, excel: bool) -> pl.DataFrame:
    """Lists and structs as JSON text; for Excel, aware times as naive Shanghai wall-clock times."""
    exprs = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, (pl.List, pl.Array, pl.Struct)):
            exprs.append(pl.col(name).map_elements(lambda v: json.dumps(_jsonable(v.to_list() if hasattr(v, "to_list") else v),
                                                                        ensure_ascii=False),
                                                   return_dtype=pl.String))
        elif isinstance(dtype, pl.Datetime) and dtype.time_zone:
            local = pl.col(name).dt.convert_time_zone("Asia/Shanghai")
            exprs.append(local.dt.replace_time_zone(None) if excel else local.dt.to_string("%Y-%m-%dT%H:%M:%S%:z"))
    return frame.with_columns(exprs) if exprs else frame


def to_csv(frame: pl.DataFrame) -> str:
    buffer = io.StringIO()
    _flat(frame, excel=False).write_csv(buffer)
    return buffer.getvalue()


def write_xlsx(frame: pl.DataFrame, path: Path, headers: list[str], sheet: str) -> None:
    """An Excel workbook with one sheet: a bold header row (frozen), then the rows."""
    from openpyxl import Workbook  # heavy, and only an .xlsx export needs it: loaded here, not with the CLI
    from openpyxl.styles import Font  # heavy: see above
    from openpyxl.utils import get_column_letter  # heavy: see above

    workbook = Workbook()
    ws = workbook.active
    ws.title = sheet[:31]
    ws.append(headers)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    flat = _flat(frame, excel=True)
    for row in flat.iter_rows():
        ws.append(list(row))
    for i, name in enumerate(flat.columns, start=1):
        dtype = flat.schema[name]
        if isinstance(dtype, pl.Datetime):
            for (cell,) in ws.iter_rows(min_row=2, min_col=i, max_col=i):
                cell.number_format = "yyyy-mm-dd hh:mm"
        elif dtype == pl.Date:
            for (cell,) in ws.iter_rows(min_row=2, min_col=i, max_col=i):
                cell.number_format = "yyyy-mm-dd"
        width = max([len(str(headers[i - 1])) * 2] + [len(str(v)) for v in flat[name].head(200).to_list()])
        ws.column_dimensions[get_column_letter(i)].width = min(max(width + 2, 8), 60)
    ws.freeze_panes = "A2"
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)


def emit(frame: pl.DataFrame, fmt: str, out: str | None, *, lang: str, labels: dict[str, tuple[str, str]],
         sheet: str, echo) -> None:
    """Write ``frame`` in ``fmt`` to ``out`` (a file) or through ``echo`` (stdout); ``labels``: column ->
    (Chinese, English) header for Excel and the table."""
    headers = [tr(lang, *labels.get(c, (c, c))) for c in frame.columns]
    if fmt == "xlsx":
        if not out:
            raise HcpError(tr(lang, "导出 Excel 需要 --out 文件名", "--format xlsx needs --out FILE"))
        write_xlsx(frame, Path(out), headers, sheet)
        echo(tr(lang, f"已导出 {frame.height} 行到 {out}", f"wrote {frame.height} rows to {out}"))
        return
    if fmt == "json":
        text = json.dumps(records(frame), ensure_ascii=False, indent=2) + "\n"
    elif fmt == "csv":
        text = to_csv(frame)
    elif fmt == "table":
        rows = [["—" if v is None else _cell(v, lang) for v in row] for row in _flat(frame, excel=True).iter_rows()]
        # No rows: a word, not a header over nothing.
        text = (render(headers, rows) if rows else tr(lang, "（无）", "(none)")) + "\n"
    else:  # pragma: no cover - click restricts the choice
        raise HcpError(f"unknown format {fmt!r}")
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text, encoding="utf-8")
        echo(tr(lang, f"已导出 {frame.height} 行到 {out}", f"wrote {frame.height} rows to {out}"))
    else:
        echo(text.rstrip("\n"))


def _cell(value, lang: str) -> str:
    if isinstance(value, bool):
        return tr(lang, "是", "yes") if value else tr(lang, "否", "no")
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)
