"""``hcp demo``: the demo province.

* ``hcp demo generate …`` writes one month of interchange files (see :mod:`hcp.demo.generator`).
* ``hcp demo`` alone runs :func:`run_demo` — today it only generates; it is the place where the
  end-to-end demo (ingest → metrics → dashboard) is to be wired.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
import unicodedata
from pathlib import Path

import click

from hcp.errors import EXIT_USAGE, HcpError
from hcp.i18n import fmt_int, tr

DEFAULT_DEMO_CASES = 20_000
DEFAULT_GENERATE_CASES = 100_000
DEFAULT_SEED = 7
KIND_LABELS = {
    "region": ("行政区划", "regions"),
    "department": ("部门", "departments"),
    "item": ("事项", "items"),
    "case_event": ("办件事件", "case events"),
    "rating": ("评价", "ratings"),
    "followup": ("差评整改记录", "follow-ups"),
}


class DemoUsageError(HcpError):
    exit_code = EXIT_USAGE


def _month_option(help_zh: str):
    return click.option("--month", metavar="YYYY-MM", help=help_zh)


def _parse_as_of(_ctx, _param, value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"not an ISO 8601 time: {value!r} (e.g. 2025-11-10T00:00:00+08:00)") from None


@click.group(invoke_without_command=True)
@_month_option("月份（默认上个月，北京时间）/ month (default: the previous month, Asia/Shanghai).")
@click.option("--cases", type=click.IntRange(min=1), default=DEFAULT_DEMO_CASES, show_default=True,
              help="办件数 / number of cases.")
@click.option("--seed", type=click.IntRange(min=0), default=DEFAULT_SEED, show_default=True,
              help="随机种子 / random seed.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="输出目录（默认 $HCP_HOME/demo/<月份>）/ output directory (default $HCP_HOME/demo/<month>).")
@click.pass_context
def demo(ctx: click.Context, month: str | None, cases: int, seed: int, out: Path | None) -> None:
    """演示省份（山东）的数据 / the demo province (Shandong).

    \b
    不带子命令：生成演示数据（之后将接入导入、指标与看板）。
    Without a subcommand: generate the demo data (ingest, metrics and the dashboard will follow).
    """
    if ctx.invoked_subcommand is not None:
        return
    from hcp.demo.generator import previous_month
    from hcp.settings import hcp_home

    month = month or previous_month()
    run_demo(ctx.obj, month, cases, seed, out or hcp_home() / "demo" / month)


def run_demo(app, month: str, cases: int, seed: int, out: Path) -> dict:
    """The end-to-end demo.

    PLACEHOLDER: for now it only generates the month's interchange files into ``out``. The ingest,
    metrics and dashboard steps are to be wired in here (load ``out`` into the warehouse, compute
    the month's indicators, start or point to the dashboard).
    """
    from hcp.demo.generator import DemoParams

    manifest = _generate(app, DemoParams(month=month, out=Path(out), cases=cases, seed=seed))
    click.echo(tr(app.lang, "提示：导入、指标计算和看板尚未接入 `hcp demo`，目前只生成数据。",
                  "Note: ingest, metrics and the dashboard are not wired into `hcp demo` yet; it only generates."))
    return manifest


@demo.command("generate")
@_month_option("月份（默认上个月，北京时间）/ month (default: the previous month, Asia/Shanghai).")
@click.option("--cases", type=click.IntRange(min=1), default=DEFAULT_GENERATE_CASES, show_default=True,
              help="办件数 / number of cases.")
@click.option("--seed", type=click.IntRange(min=0), default=DEFAULT_SEED, show_default=True,
              help="随机种子 / random seed.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="输出目录 / output directory.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "parquet"]), default="jsonl", show_default=True,
              help="文件格式 / file format.")
@click.option("--malformed-share", type=click.FloatRange(0, 0.5, max_open=True), default=0.002, show_default=True,
              help="注入的格式错误记录比例 / share of malformed records injected.")
@click.option("--as-of", callback=_parse_as_of, metavar="ISO",
              help="截止时刻，之后的事件不输出（默认月末后10天与当前时刻中较早者）/ "
                   "nothing after this instant is emitted (default: the earlier of month end + 10 days and now).")
@click.option("--chunk-cases", type=click.IntRange(min=100), default=50_000, hidden=True)
@click.pass_obj
def generate_command(app, month, cases, seed, out, fmt, malformed_share, as_of, chunk_cases) -> None:
    """生成一个月的演示数据（交换格式）/ generate a month of demo data in the interchange format."""
    from hcp.demo.generator import DemoParams, previous_month

    _generate(app, DemoParams(month=month or previous_month(), out=out, cases=cases, seed=seed, fmt=fmt,
                              malformed_share=malformed_share, as_of=as_of, chunk_cases=chunk_cases))


def _generate(app, params) -> dict:
    """Run the generator with a progress bar on stderr and print the summary."""
    from hcp.demo.generator import DemoError, generate, validate

    lang = app.lang
    started = time.perf_counter()
    try:
        validate(params)
    except DemoError as exc:
        raise DemoUsageError(str(exc)) from None
    label = tr(lang, f"生成 {params.month} 演示数据", f"generating demo data for {params.month}")
    with click.progressbar(length=params.cases, label=label, file=sys.stderr, show_pos=True, show_eta=False) as bar:
        manifest = generate(params, progress=bar.update)
    seconds = time.perf_counter() - started

    counts, injected = manifest["counts"], manifest["injected"]
    click.echo(tr(lang, f"已生成：{params.out}", f"written: {params.out}"))
    click.echo(tr(lang, f"  截止时刻 {manifest['as_of']}，办件 {fmt_int(manifest['cases']['generated'])} 件",
                  f"  as of {manifest['as_of']}, {fmt_int(manifest['cases']['generated'])} cases"))
    for kind, (zh, en) in KIND_LABELS.items():
        name = tr(lang, zh, en)
        pad = 16 - sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in name)
        click.echo(f"  {name}{' ' * pad}{fmt_int(counts[kind]):>12}")
    click.echo(tr(
        lang,
        f"  注入：格式错误 {fmt_int(injected['malformed']['total'])}，重复 {fmt_int(sum(injected['duplicates'].values()))}，"
        f"迟到事件 {fmt_int(injected['late_events'])}，目录外事项办件 {fmt_int(injected['unknown_item']['cases'])}",
        f"  injected: malformed {fmt_int(injected['malformed']['total'])}, duplicates "
        f"{fmt_int(sum(injected['duplicates'].values()))}, late events {fmt_int(injected['late_events'])}, "
        f"cases with unknown items {fmt_int(injected['unknown_item']['cases'])}",
    ))
    size = sum(f["bytes"] for f in manifest["files"])
    click.echo(tr(lang, f"  文件 {len(manifest['files'])} 个，共 {size / 1e6:,.1f} MB，用时 {seconds:,.1f} 秒",
                  f"  {len(manifest['files'])} files, {size / 1e6:,.1f} MB, {seconds:,.1f} s"))
    if manifest.get("provisional_calendar_years"):
        years = ", ".join(str(y) for y in manifest["provisional_calendar_years"])
        click.secho(tr(lang, f"  注意：{years} 年的节假日安排尚未发布，使用临时日历。",
                       f"  warning: no official holiday calendar for {years} yet; a provisional one was used."),
                    fg="yellow", err=True)
    return manifest
