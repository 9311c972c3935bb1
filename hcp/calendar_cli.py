"""``hcp calendar``: inspect the working-day calendar and manage local overrides.

Overrides are stored in the warehouse (``calendar_overrides``) and imported from CSV files with the
columns ``day`` (YYYY-MM-DD), ``is_working`` (true/false or 1/0), optional ``locality_code`` (a 12-digit
region code: the override applies to its subtree; empty = everywhere) and ``note``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
import polars as pl

from hcp.errors import HcpError
from hcp.i18n import tr
from hcp.options import month_option
from hcp.periods import Period
from hcp.workdays import CALENDAR_END, CALENDAR_START

# The warehouse is imported inside the commands, to keep `hcp --help` fast: it imports every command's module.


@click.group()
def calendar() -> None:
    """工作日历 / the working-day calendar and local overrides (extra closures or working days)."""


@calendar.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_obj
def import_overrides(app, path: Path) -> None:
    """导入本地调整 / import overrides from a CSV file (day, is_working[, locality_code, note])."""
    frame = pl.read_csv(path, infer_schema=False)
    missing = {"day", "is_working"} - set(frame.columns)
    if missing:
        raise HcpError(tr(app.lang, f"{path} 缺少列：{', '.join(sorted(missing))}", f"{path} lacks columns: {', '.join(sorted(missing))}"))
    truthy = {"true": True, "1": True, "yes": True, "是": True, "false": False, "0": False, "no": False, "否": False}
    try:
        overrides = frame.select(
            locality_code=pl.col("locality_code").fill_null("") if "locality_code" in frame.columns else pl.lit(""),
            day=pl.col("day").str.to_date("%Y-%m-%d"),
            is_working=pl.col("is_working").str.to_lowercase().replace_strict(truthy, return_dtype=pl.Boolean),
            note=pl.col("note").fill_null("") if "note" in frame.columns else pl.lit(""),
        )
    except pl.exceptions.PolarsError as exc:
        raise HcpError(tr(app.lang, f"{path} 格式有误：{exc}", f"{path} is malformed: {exc}")) from exc
    bad_code = overrides.filter((pl.col("locality_code") != "") & ~pl.col("locality_code").str.contains(r"^\d{12}$"))
    outside = overrides.filter((pl.col("day") < CALENDAR_START) | (pl.col("day") > CALENDAR_END))
    if bad_code.height or outside.height:
        raise HcpError(tr(app.lang, "区划代码须为12位数字，日期须在日历范围内", "locality codes must be 12 digits and days within the calendar range"))
    written = app.warehouse().insert_df("calendar_overrides", overrides)
    click.echo(tr(app.lang, f"已导入 {written} 条日历调整（下次计算将全量重算）",
                  f"imported {written} calendar overrides (the next metrics run recomputes everything)"))


@calendar.command("show")
@month_option(required=True)
@click.option("--region", default="", help="区划代码 / region code whose local overrides apply.")
@click.pass_obj
def show(app, month: Period, region: str) -> None:
    """显示某月工作日 / show a month's working days (调休 make-up days and holidays marked)."""
    from warehouse.queries.reference import load_calendar  # lazy: --help

    year, mon = month.start.year, month.start.month
    cal = load_calendar(app.warehouse())
    day = dt.date(year, mon, 1)
    weekday_names = tr(app.lang, "一二三四五六日", "MTWTFSS")
    while day.month == mon:
        working = cal.is_working(day, region)
        weekend = day.weekday() >= 5
        mark = ""
        if working and weekend:
            mark = tr(app.lang, "调休上班", "make-up working day")
        elif not working and not weekend:
            mark = tr(app.lang, "放假", "holiday")
        status = tr(app.lang, "工作日", "working") if working else tr(app.lang, "休息", "off")
        click.echo(f"{day.isoformat()} {weekday_names[day.weekday()]}  {status:<4} {mark}")
        day += dt.timedelta(days=1)
    if year in cal.provisional_years:
        click.secho(tr(app.lang, f"注意：{year} 年官方日历尚未收录，仅按周末及固定日期节假日推算，请导入本地调整。",
                       f"note: the official {year} calendar is not published in chinesecalendar yet; weekends and fixed-date holidays only — import overrides."),
                    fg="yellow", err=True)
