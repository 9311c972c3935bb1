"""``hcp demo``: the demo province.

* ``hcp demo generate …`` writes one month of interchange files (see :mod:`hcp.demo.generator`).
* ``hcp demo`` alone runs :func:`run_demo`: generate → ingest → metrics → models → monthly bulletin → demo users →
  a demo push token → dashboard, on the configured warehouse.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from hcp.domain import INDICATOR_LABELS
from hcp.errors import UsageError
from hcp.i18n import fmt_int, fmt_rate, tr
from hcp.options import format_option, instant_option, month_option
from hcp.settings import hcp_home
from hcp.textable import display_width

# The generator and the stages are imported inside the commands, to keep `hcp --help` fast: it imports
# every command's module.

DEFAULT_DEMO_CASES = 20_000
DEFAULT_GENERATE_CASES = 100_000
DEFAULT_SEED = 7
#: The push token `hcp demo` issues (replaced on every run).
DEMO_TOKEN = "demo-platform"
KIND_LABELS = {
    "region": ("行政区划", "regions"),
    "department": ("部门", "departments"),
    "item": ("事项", "items"),
    "case_event": ("办件事件", "case events"),
    "rating": ("评价", "ratings"),
    "followup": ("差评整改记录", "follow-ups"),
}


MONTH_HELP = "月份（默认上个月，北京时间）/ month (default: the previous month, Asia/Shanghai)."


@click.group(invoke_without_command=True)
@month_option(help=MONTH_HELP)
@click.option("--cases", type=click.IntRange(min=1), default=DEFAULT_DEMO_CASES, show_default=True,
              help="办件数 / number of cases.")
@click.option("--seed", type=click.IntRange(min=0), default=DEFAULT_SEED, show_default=True,
              help="随机种子 / random seed.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="输出目录（默认 $HCP_HOME/demo/<月份>）/ output directory (default $HCP_HOME/demo/<month>).")
@click.option("--serve/--no-serve", default=True, show_default=True,
              help="最后启动看板 / finish by serving the dashboard (until Ctrl-C).")
@click.pass_context
def demo(ctx: click.Context, month, cases: int, seed: int, out: Path | None, serve: bool) -> None:
    """演示省份（山东）的数据 / the demo province (Shandong).

    \b
    不带子命令：生成一个月的演示数据，导入仓库，计算指标，生成月度通报，创建演示用户并启动看板。
    Without a subcommand: generate a demo month, ingest it, compute the metrics, publish the
    bulletin, create demo users and serve the dashboard.
    """
    if ctx.invoked_subcommand is not None:
        return
    from hcp.demo.generator import previous_month

    month = month.label if month else previous_month()
    run_demo(ctx.obj, month, cases, seed, out or hcp_home() / "demo" / month, serve=serve)


def run_demo(app, month: str, cases: int, seed: int, out: Path, *, serve: bool = True) -> dict:
    """The main job, end to end, on the configured warehouse (the embedded one by default):

    generate the demo month → ``hcp init`` → ingest every file (bad records to quarantine) → compute case
    facts and metrics → train the models → publish the month's bulletin → create one demo user per role → issue the demo
    push token (printed once, with how to use it) → serve the dashboard (``hcp serve``, until Ctrl-C; ``--no-serve`` stops after the bulletin).
    """
    from hcp.demo.generator import DemoParams
    from hcp.pii import ensure_key
    from ingest.loader import Loader, Summary
    from ingest.run import ingest_path
    from metrics.jobs import MetricsJob
    from metrics.records import metrics_records
    from warehouse.migrations import migrate
    from warehouse.queries.group_metrics import read_group_metrics
    from warehouse.queries.reference import group_names

    lang = app.lang
    manifest = _generate(app, DemoParams(month=month, out=Path(out), cases=cases, seed=seed))

    step = lambda zh, en: click.secho(tr(lang, zh, en), bold=True)  # noqa: E731
    step("▶ 初始化仓库", "▶ initialising the warehouse")
    wh = app.warehouse(migrate=False)
    migrate(wh)
    ensure_key()

    step("▶ 导入数据", "▶ ingesting")
    loader, total = Loader(wh), Summary()
    files = [Path(out) / f["name"] for f in manifest["files"]]
    with click.progressbar(files, label=tr(lang, "导入文件", "files"), file=sys.stderr,
                           item_show_func=lambda p: p.name if p else "") as bar:
        for path in bar:
            total.merge(ingest_path(loader, str(path)))
    counts = total.as_dict()
    click.echo(tr(lang, f"  入库 {fmt_int(counts.get('accepted'))} 条，重复 {fmt_int(counts.get('duplicates'))} 条，"
                        f"隔离 {fmt_int(counts.get('quarantined'))} 条（hcp quarantine 查看原因）",
                  f"  stored {fmt_int(counts.get('accepted'))}, duplicates {fmt_int(counts.get('duplicates'))}, "
                  f"quarantined {fmt_int(counts.get('quarantined'))} (see `hcp quarantine`)"))

    step("▶ 计算指标", "▶ computing metrics")
    report = MetricsJob(wh, progress=lambda m: click.echo(f"  … {m}", err=True)).run()
    headline = metrics_records(read_group_metrics(wh, month, "all"), group_names(wh, "all"))
    if headline:
        h = headline[0]
        click.echo(tr(lang,
                      f"  {month}：办结 {fmt_int(h['cases_completed'])} 件，按时办结率 {fmt_rate(h['on_time_rate'])}，"
                      f"网办率 {fmt_rate(h['online_rate'])}，好评率 {fmt_rate(h['good_rate'])}，差评 {fmt_int(h['bad_count'])} 条",
                      f"  {month}: {fmt_int(h['cases_completed'])} completed, on time {fmt_rate(h['on_time_rate'])}, "
                      f"online {fmt_rate(h['online_rate'])}, good {fmt_rate(h['good_rate'])}, {fmt_int(h['bad_count'])} bad"))

    # Before the bulletin, so that the demo's first bulletin already carries the predicted causes of its bad
    # ratings (the scheduler retrains after each month's bulletin, for the next one).
    step("▶ 训练模型", "▶ training the models")
    from models import lifecycle

    trained = lifecycle.train(wh, lang=lang, progress=lambda m: click.echo(f"  … {m}", err=True))
    for t in trained:
        click.echo(f"  {t.kind}: {t.directory}" if t.directory else f"  {t.kind}: {t.message}")

    step("▶ 生成月度通报", "▶ publishing the monthly bulletin")
    from hcp.config import get_config
    from reports.archive import Archive, default_root
    from reports.monthly import publish_monthly

    config = get_config()
    published = publish_monthly(wh, Archive(default_root(config)), month, None, lang=lang, trigger="demo", config=config)
    for path in published.files:
        click.echo(f"  {path}")

    step("▶ 看板用户", "▶ dashboard users")
    from dashboard.auth import create_demo_users

    users = create_demo_users(wh)
    for user in users:
        click.echo(f"  {user.username:<10} / {user.password}   {user.scope_name}")

    step("▶ 推送令牌（HTTP 接口）", "▶ push token (HTTP endpoint)")
    from ingest.cli import usage_hint
    from ingest.tokens import issue

    token, grant = issue(wh, DEMO_TOKEN, kinds=("case_event", "rating", "followup"), region_code="370000000000",
                         note="hcp demo", replace=True)
    click.echo(tr(lang, f"  {grant.name}：可写 {', '.join(grant.kinds)}，山东省（370000000000）及其下级；"
                        "令牌只显示这一次（hcp tokens list / revoke 管理）",
                  f"  {grant.name}: may write {', '.join(grant.kinds)} in Shandong (370000000000) and below; "
                  "the token is shown this once (manage with hcp tokens list / revoke)"))
    click.echo(f"  {token}")
    click.echo("  " + usage_hint(lang, token, "http://127.0.0.1:<hcp serve 的端口 / port>/ingest").replace("\n", "\n  "))
    result = {"manifest": manifest, "ingest": counts, "metrics": report.mode,
              "bulletin": [str(p) for p in published.files], "users": [u.username for u in users],
              "models": {t.kind: bool(t.directory) for t in trained},
              "token": grant.name}
    if not serve:
        return result
    app.close()
    step("▶ 启动看板（Ctrl-C 停止）", "▶ serving the dashboard (Ctrl-C to stop)")
    from hcp.serve import serve as serve_command

    click.get_current_context().invoke(serve_command, host="127.0.0.1", port=0)
    return result


@demo.command("generate")
@month_option(help=MONTH_HELP)
@click.option("--cases", type=click.IntRange(min=1), default=DEFAULT_GENERATE_CASES, show_default=True,
              help="办件数 / number of cases.")
@click.option("--seed", type=click.IntRange(min=0), default=DEFAULT_SEED, show_default=True,
              help="随机种子 / random seed.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="输出目录 / output directory.")
@format_option("jsonl", "parquet", default="jsonl")
@click.option("--malformed-share", type=click.FloatRange(0, 0.5, max_open=True), default=0.002, show_default=True,
              help="注入的格式错误记录比例 / share of malformed records injected.")
@instant_option(help="截止时刻，之后的事件不输出（默认月末后10天与当前时刻中较早者）/ "
                    "nothing after this instant is emitted (default: the earlier of month end + 10 days and now).")
@click.option("--chunk-cases", type=click.IntRange(min=100), default=50_000, hidden=True)
@click.pass_obj
def generate_command(app, month, cases, seed, out, fmt, malformed_share, as_of, chunk_cases) -> None:
    """生成一个月的演示数据（交换格式）/ generate a month of demo data in the interchange format."""
    from hcp.demo.generator import DemoParams, previous_month

    _generate(app, DemoParams(month=month.label if month else previous_month(), out=out, cases=cases, seed=seed, fmt=fmt,
                              malformed_share=malformed_share, as_of=as_of, chunk_cases=chunk_cases))


def _generate(app, params) -> dict:
    """Run the generator with a progress bar on stderr and print the summary."""
    from hcp.demo.generator import DemoError, generate, validate

    lang = app.lang
    started = time.perf_counter()
    try:
        validate(params)
    except DemoError as exc:
        raise UsageError(str(exc)) from None
    label = tr(lang, f"生成 {params.month} 演示数据", f"generating demo data for {params.month}")
    with click.progressbar(length=params.cases, label=label, file=sys.stderr, show_pos=True, show_eta=False) as bar:
        manifest = generate(params, progress=bar.update)
    seconds = time.perf_counter() - started

    counts, injected = manifest["counts"], manifest["injected"]
    inconsistent_zh, inconsistent_en = INDICATOR_LABELS["inconsistent_cases"]
    click.echo(tr(lang, f"已生成：{params.out}", f"written: {params.out}"))
    click.echo(tr(lang, f"  截止时刻 {manifest['as_of']}，办件 {fmt_int(manifest['cases']['generated'])} 件",
                  f"  as of {manifest['as_of']}, {fmt_int(manifest['cases']['generated'])} cases"))
    for kind, (zh, en) in KIND_LABELS.items():
        name = tr(lang, zh, en)
        click.echo(f"  {name}{' ' * (16 - display_width(name))}{fmt_int(counts[kind]):>12}")
    click.echo(tr(
        lang,
        f"  注入：格式错误 {fmt_int(injected['malformed']['total'])}，重复 {fmt_int(sum(injected['duplicates'].values()))}，"
        f"迟到事件 {fmt_int(injected['late_events'])}，目录外事项办件 {fmt_int(injected['unknown_item']['cases'])}，"
        f"{inconsistent_zh} {fmt_int(injected['inconsistent_cases'])}",
        f"  injected: malformed {fmt_int(injected['malformed']['total'])}, duplicates "
        f"{fmt_int(sum(injected['duplicates'].values()))}, late events {fmt_int(injected['late_events'])}, "
        f"cases with unknown items {fmt_int(injected['unknown_item']['cases'])}, "
        f"{inconsistent_en} {fmt_int(injected['inconsistent_cases'])}",
    ))
    size = sum(f["bytes"] for f in manifest["files"])
    click.echo(tr(lang, f"  文件 {len(manifest['files'])} 个，共 {size / 1e6:,.1f} MB，用时 {seconds:,.1f} 秒",
                  f"  {len(manifest['files'])} files, {size / 1e6:,.1f} MB, {seconds:,.1f} s"))
    click.echo(tr(lang, "  演示输入文件含明文个人信息（姓名、身份证号、电话），仅本人可读（0600）；用完可删除该目录",
                  "  the demo input files hold personal data in clear (names, ID numbers, phones): readable by "
                  "you only (0600); delete the folder when done"))
    if manifest.get("provisional_calendar_years"):
        years = ", ".join(str(y) for y in manifest["provisional_calendar_years"])
        click.secho(tr(lang, f"  注意：{years} 年的节假日安排尚未发布，使用临时日历。",
                       f"  warning: no official holiday calendar for {years} yet; a provisional one was used."),
                    fg="yellow", err=True)
    return manifest
