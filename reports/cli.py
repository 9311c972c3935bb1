"""``hcp report monthly`` and ``hcp scheduler``."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import signal
import sys
from pathlib import Path

import click

from hcp.errors import HcpError
from hcp.i18n import tr
from hcp.options import instant_option, month_option, scope_option
from hcp.periods import SHANGHAI, Period
from hcp.scope import Scope

# The report modules (figures, archive, scheduler) are imported inside the commands to keep `hcp --help` fast
# (it imports every command's module).



@click.group()
def report() -> None:
    """通报 / reports: monthly ranking bulletins (Excel + PDF) in the archive."""


@report.command()
@month_option(required=True)
@scope_option(dept=None, region_help="区划 / 12-digit region code: a province, city or county office's bulletin (default: all).")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="另存目录 / also copy the files here (the archive keeps the published version).")
@click.pass_obj
def monthly(app, month: Period, scope: Scope, out: Path | None) -> None:
    """月度通报 / publish the monthly bulletin: workbook, HTML and PDF, once per data version."""
    from hcp.config import get_config
    from reports.archive import Archive, default_root
    from reports.monthly import publish_monthly

    month, region = month.label, None if scope.unrestricted else scope.code
    config = get_config()
    archive = Archive(default_root(config))
    published = publish_monthly(app.warehouse(), archive, month, region, lang=app.lang, trigger="manual", config=config)
    m = published.manifest
    status = {
        "new": tr(app.lang, f"已生成第 {m['version']} 版", f"published version {m['version']}"),
        "same-data": tr(app.lang, f"数据未变化，沿用第 {m['version']} 版", f"same data: version {m['version']} stands"),
        "unchanged": tr(app.lang, f"有新数据但本月数字未变，沿用第 {m['version']} 版",
                        f"new data, same figures: version {m['version']} stands"),
    }[published.status]
    click.echo(tr(app.lang, f"{m['period']} 月度通报（{m['scope']}）：{status}",
                  f"{m['period']} bulletin ({m['scope']}): {status}"))
    click.echo(tr(app.lang, f"数据截至 {m['data_watermark'] or '—'} · 校验码 {m['checksum']}",
                  f"data watermark {m['data_watermark'] or '—'} · checksum {m['checksum']}"))
    targets = published.files
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        copied = []
        for path in targets:
            shutil.copyfile(path, out / path.name)
            copied.append(out / path.name)
        shutil.copyfile(published.directory / "manifest.json", out / "manifest.json")
        targets = copied
    for path in targets:
        click.echo(f"  {path}")


@click.command()
@click.option("--once", is_flag=True, help="执行到期任务后退出 / run what is due (and missed) now, then exit (for cron).")
@instant_option("--now", help="以此时刻为“现在” / treat this instant as now (replays; Asia/Shanghai if no offset). With --once.")
@click.pass_obj
def scheduler(app, once: bool, now: dt.datetime | None) -> None:
    """定时任务 / monthly bulletins, nightly metrics and the daily red/yellow digest, exactly once.

    Without --once it runs until stopped (Ctrl-C or SIGTERM). The cron expressions, the archive and the
    retries are set in [reports] of the configuration; see docs/reports.md.
    """

    from reports.scheduler import ReportScheduler

    if now is not None and not once:
        raise click.UsageError("--now needs --once")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    try:
        runner = ReportScheduler(app.warehouse(), lang=app.lang, clock=(lambda: now) if now else None)
    except ValueError as exc:
        raise HcpError(str(exc)) from exc
    if once:
        outcomes = runner.run_due()
        if not outcomes:
            click.echo(tr(app.lang, "没有到期任务", "nothing due"))
        for outcome in outcomes:
            word = {"ok": tr(app.lang, "完成", "done"), "failed": tr(app.lang, "失败", "FAILED"),
                    "interrupted": tr(app.lang, "中断", "interrupted")}[outcome.status]
            click.echo(f"{outcome.job} {outcome.key}: {word} ({tr(app.lang, '尝试', 'attempts')} {outcome.attempts})")
            if outcome.status == "ok":
                for result in outcome.detail:
                    click.echo(f"  {result}")
            else:
                click.echo(f"  {outcome.detail[-1]['error'] if outcome.detail else ''}")
        if any(o.status != "ok" for o in outcomes):
            raise HcpError(tr(app.lang, "有任务失败，详见归档 failures/ 与 runs.jsonl",
                              "some runs failed; see failures/ and runs.jsonl in the archive"))
        return
    from apscheduler.schedulers.blocking import BlockingScheduler

    blocking = BlockingScheduler(timezone=SHANGHAI)
    runner.attach(blocking)

    def stop(signum, frame):  # noqa: ARG001 - signal handler signature
        runner.stop_event.set()
        blocking.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    click.echo(tr(app.lang, f"调度已启动，归档目录 {runner.archive.root}（Ctrl-C 停止）",
                  f"scheduler running, archive {runner.archive.root} (Ctrl-C to stop)"))
    try:
        blocking.start()
    except (KeyboardInterrupt, SystemExit):
        runner.stop_event.set()
