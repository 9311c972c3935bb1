"""Commands: ``hcp ingest``, ``hcp quarantine [replay]``, ``hcp serve-ingest``, ``hcp keys``."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time

import click

from hcp.errors import EXIT_DATA, HcpError
from hcp.i18n import fmt_int, tr

_FORMATS = ["jsonl", "csv", "parquet", "xlsx"]


def _key_or_fail(app):
    from hcp.pii import current_key

    try:
        return current_key()
    except FileNotFoundError as exc:
        raise HcpError(tr(app.lang, "没有个人信息密钥：请先运行 `hcp init`（密钥保存在仓库之外）",
                          f"no personal-data key: run `hcp init` first (the key is kept outside the warehouse) — {exc}"))


def _print_summary(app, summary, as_json: bool, label: str = "") -> None:
    data = summary.as_dict()
    if as_json:
        click.echo(json.dumps({"event": "summary", **({"source": label} if label else {}), **data}, ensure_ascii=False))
        return
    rate = data["rows_per_second"]
    click.echo(tr(app.lang,
                  f"{label + '：' if label else ''}收到 {fmt_int(data['received'])} 条，入库 {fmt_int(data['accepted'])}，"
                  f"重复 {fmt_int(data['duplicates'])}，隔离 {fmt_int(data['quarantined'])}"
                  f"（{data['seconds']} 秒，{fmt_int(rate)} 条/秒）",
                  f"{label + ': ' if label else ''}received {fmt_int(data['received'])}, accepted {fmt_int(data['accepted'])}, "
                  f"duplicates {fmt_int(data['duplicates'])}, quarantined {fmt_int(data['quarantined'])} "
                  f"({data['seconds']} s, {fmt_int(rate)} rows/s)"))
    for reason, count in data["quarantined_by_reason"].items():
        click.echo(f"  {tr(app.lang, '隔离原因', 'quarantined')} {reason}: {fmt_int(count)}")
    if data["flagged_unknown_items"]:
        click.echo(tr(app.lang, f"  事项编码不在目录中（已入库并标记 item_known=false）：{fmt_int(data['flagged_unknown_items'])}",
                      f"  item codes not in the catalogue (stored, flagged item_known=false): {fmt_int(data['flagged_unknown_items'])}"))


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(_FORMATS), help="输入格式（默认按扩展名；标准输入默认 jsonl）/ input format "
              "(default: by extension; jsonl for stdin).")
@click.option("--follow", is_flag=True, help="持续跟踪一个增长的 JSON Lines 文件（支持轮转）/ follow a growing JSON Lines file "
              "(tail -f, survives rotation) until interrupted.")
@click.option("--batch-rows", type=int, default=None, help="每批提交的记录数 / records per committed batch "
              "(default 250000; 50000 when following).")
@click.option("--batch-seconds", type=float, default=1.0, show_default=True,
              help="跟踪模式下一批最长等待秒数 / with --follow: commit a batch at the latest after this long.")
@click.option("--stream", "stream_name", help="跟踪模式的检查点名称（默认按路径）/ checkpoint name for --follow (default: from the path).")
@click.option("--source", help="记录来源名称（默认为文件的绝对路径）/ source name stored with the records (default: the file's path).")
@click.option("--unknown-items", type=click.Choice(["flag", "quarantine"]), default="flag", show_default=True,
              help="目录中没有的事项编码：入库并标记，或隔离 / item codes missing from the catalogue: store and flag "
                   "(item_known=false), or quarantine (reason unknown_item).")
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出进度和汇总（每行一个）/ progress and summary as JSON lines.")
@click.option("--progress/--no-progress", default=None, help="显示进度条（终端默认显示）/ show a progress bar (default: on a terminal).")
@click.pass_obj
def ingest(app, paths, fmt, follow, batch_rows, batch_seconds, stream_name, source, unknown_items, as_json, progress):
    """导入交换数据 / ingest interchange records from files, stdin (-) or a followed file.

    JSON Lines, CSV, Parquet and Excel (.xlsx), any mix of record kinds. Bad records are quarantined
    with the reason (see `hcp quarantine`); sending a record again has no further effect. Exit code 3
    when some records were quarantined.
    """
    from ingest.loader import Loader, Summary
    from ingest.readers import DEFAULT_BATCH_ROWS, ReadError, detect_format
    from ingest.run import ingest_path

    _key_or_fail(app)
    if follow:
        if len(paths) != 1 or paths[0] == "-":
            raise HcpError(tr(app.lang, "--follow 只能跟踪一个文件", "--follow follows exactly one file (not stdin)"))
        if fmt not in (None, "jsonl") or detect_format(paths[0], fmt or "jsonl") != "jsonl":
            raise HcpError(tr(app.lang, "--follow 只支持 JSON Lines", "--follow reads JSON Lines only"))
        _follow(app, paths[0], batch_rows or 50_000, batch_seconds, stream_name, unknown_items, as_json)
        return
    for path in paths:
        if path != "-":
            try:
                detect_format(path, fmt)
            except ReadError as exc:
                raise HcpError(str(exc)) from exc
            if not os.path.isfile(path):
                raise HcpError(tr(app.lang, f"找不到文件 {path}", f"no such file: {path}"))
    wh = app.warehouse()
    loader = Loader(wh, unknown_items=unknown_items)
    total = Summary()
    started = time.perf_counter()
    show_bar = progress if progress is not None else (sys.stderr.isatty() and not as_json)
    for path in paths:
        size = os.path.getsize(path) if path != "-" else 0
        bar = click.progressbar(length=size or 1, label=os.path.basename(path) if path != "-" else "stdin",
                                file=sys.stderr, show_pos=False) if show_bar and size else None

        def on_chunk(chunk, summary, _bar=bar, _path=path):
            if _bar is not None:
                _bar.update(chunk.bytes_read)
            if as_json:
                click.echo(json.dumps({"event": "batch", "source": _path, **summary.as_dict()}, ensure_ascii=False))
                sys.stdout.flush()

        try:
            with bar if bar is not None else contextlib.nullcontext():
                summary = ingest_path(loader, path, fmt=fmt, batch_rows=batch_rows or DEFAULT_BATCH_ROWS,
                                      on_chunk=on_chunk, source=source)
        except ReadError as exc:
            raise HcpError(f"{path}: {exc}") from exc
        if len(paths) > 1:
            _print_summary(app, summary, as_json, path)
        total.merge(summary)
    total.seconds = time.perf_counter() - started
    _print_summary(app, total, as_json, tr(app.lang, "合计", "total") if len(paths) > 1 else "")
    if total.quarantined:
        sys.exit(EXIT_DATA)


def _follow(app, path, batch_rows, batch_seconds, stream_name, unknown_items, as_json):
    from ingest.follow import Follower
    from ingest.loader import Loader

    wh = app.warehouse()

    def on_commit(event):
        if as_json:
            click.echo(json.dumps(event, ensure_ascii=False))
        else:
            click.echo(tr(app.lang,
                          f"已提交至 {event['offset']} 字节：入库 {event['accepted']}，重复 {event['duplicates']}，隔离 {event['quarantined']}",
                          f"committed up to byte {event['offset']}: accepted {event['accepted']}, "
                          f"duplicates {event['duplicates']}, quarantined {event['quarantined']}"))
        sys.stdout.flush()

    follower = Follower(Loader(wh, unknown_items=unknown_items), path, stream=stream_name, batch_rows=batch_rows,
                        batch_seconds=batch_seconds, on_commit=on_commit)

    def stop(signum, frame):  # noqa: ARG001
        follower.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if not as_json:
        click.echo(tr(app.lang, f"正在跟踪 {path}（Ctrl-C 停止）", f"following {path} (Ctrl-C to stop)"))
    sys.stdout.flush()
    total = follower.run()
    _print_summary(app, total, as_json)


# hcp quarantine ------------------------------------------------------------------------------------


@click.group(invoke_without_command=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--status", type=click.Choice(["open", "replayed", "all"]), default="open", show_default=True)
@click.option("--reason", help="只看某个原因 / only this reason code.")
@click.option("--source", help="只看某个来源 / only this source.")
@click.option("--limit", type=int, help="最多条数 / at most this many.")
@click.pass_context
def quarantine(ctx, fmt, status, reason, source, limit):
    """查看隔离区 / list quarantined records with the reason (JSON: keys reason, raw, …).

    Personal data in `raw` is masked; a record that could be read carries its pseudonym in "_pii".
    """
    if ctx.invoked_subcommand is not None:
        return
    from ingest.quarantine import list_quarantine

    app = ctx.obj
    rows = list_quarantine(app.warehouse(), status=status, reason=reason, source=source, limit=limit)
    if fmt == "json":
        out = rows.with_columns(
            rows["received_at"].dt.to_string("%Y-%m-%dT%H:%M:%S%.3f%:z"),
            rows["replayed_at"].dt.to_string("%Y-%m-%dT%H:%M:%S%.3f%:z"),
        )
        click.echo(json.dumps(out.to_dicts(), ensure_ascii=False, indent=1))
        return
    if rows.height == 0:
        click.echo(tr(app.lang, "隔离区为空", "the quarantine is empty"))
        return
    for row in rows.iter_rows(named=True):
        raw = row["raw"] if len(row["raw"]) <= 160 else row["raw"][:157] + "…"
        click.echo(f"{row['received_at']:%Y-%m-%d %H:%M:%S}  {row['reason']:<24} {row['source']}:{row['position']}"
                   f"  [{row['status']}]\n    {row['detail']}\n    {raw}")
    click.echo(tr(app.lang, f"共 {rows.height} 条", f"{rows.height} record(s)"))


@quarantine.command("replay")
@click.option("--reason", help="只重放某个原因 / only records quarantined for this reason.")
@click.option("--source", help="只重放某个来源 / only records from this source.")
@click.option("--unknown-items", type=click.Choice(["flag", "quarantine"]), default="flag", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def replay_cmd(app, reason, source, unknown_items, as_json):
    """重新导入已修复原因的隔离记录 / re-ingest open quarantined records (e.g. after a catalogue update).

    Records that now pass are stored and marked `replayed`; the others stay open with their current reason.
    """
    from ingest.quarantine import replay

    _key_or_fail(app)
    result = replay(app.warehouse(), reason=reason, source=source, unknown_items=unknown_items)
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
    else:
        click.echo(tr(app.lang,
                      f"重放 {result['replayed_from']} 条：入库 {result['accepted']}，重复 {result['duplicates']}，"
                      f"标记为已重放 {result['marked_replayed']}，仍隔离 {result['still_open']}",
                      f"replayed {result['replayed_from']}: accepted {result['accepted']}, duplicates {result['duplicates']}, "
                      f"marked replayed {result['marked_replayed']}, still open {result['still_open']}"))


# hcp serve-ingest ------------------------------------------------------------------------------------


@click.command("serve-ingest")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8766, show_default=True, type=int, help="端口（0 = 任选）/ port (0 = any free port).")
@click.option("--max-body-bytes", type=int, default=None, help="单批最大字节数（超出 413）/ largest body (else 413). Default 64 MiB.")
@click.option("--max-lines", type=int, default=None, help="单批最大行数（超出 413）/ most records per batch (else 413). Default 200000.")
@click.option("--queue-rows", type=int, default=None, help="写入队列上限（行；满则 503）/ writer queue bound in rows (full: 503). Default 400000.")
@click.option("--unknown-items", type=click.Choice(["flag", "quarantine"]), default=None)
@click.pass_obj
def serve_ingest(app, host, port, max_body_bytes, max_lines, queue_rows, unknown_items):
    """HTTP 推送接口 / the HTTP push endpoint on its own: POST /ingest, GET /ingest/health.

    `hcp serve` hosts the same endpoint; use this one where no long-running owner is wanted.
    """
    import uvicorn
    from starlette.applications import Starlette

    from hcp.serve import bind_listener
    from ingest.http import DEFAULTS, IngestWriter, make_routes

    _key_or_fail(app)
    wh = app.warehouse()
    writer = IngestWriter(wh, queue_rows=queue_rows or DEFAULTS["queue_rows"], unknown_items=unknown_items or "flag")
    starlette_app = Starlette(routes=make_routes(writer, max_body_bytes=max_body_bytes or DEFAULTS["max_body_bytes"],
                                                 max_lines=max_lines or DEFAULTS["max_lines"]))
    sock = bind_listener(host, port)
    actual = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(starlette_app, log_level="warning", access_log=False, lifespan="off"))

    def stop(signum, frame):  # noqa: ARG001
        server.should_exit = True

    signal.signal(signal.SIGTERM, stop)
    click.echo(tr(app.lang, f"hcp serve-ingest 已启动：http://{host}:{actual}/ingest",
                  f"hcp serve-ingest listening on http://{host}:{actual}/ingest"))
    sys.stdout.flush()
    try:
        server.run(sockets=[sock])
    finally:
        writer.stop()
        sock.close()


# hcp keys ----------------------------------------------------------------------------------------------


@click.group()
def keys():
    """个人信息密钥 / the personal-data pseudonym key (kept outside the warehouse)."""


@keys.command("rotate")
@click.pass_obj
def keys_rotate(app):
    """启用新密钥 / start a new key: new records get new pseudonyms; links across the rotation are broken."""
    from hcp.pii import rotate_key

    key = rotate_key()
    click.echo(tr(app.lang, f"已启用第 {key.number} 版个人信息密钥；旧密钥保留在磁盘上（可解释既有假名）",
                  f"personal-data key version {key.number} is now in use; older keys stay on disk"))


@keys.command("status")
@click.pass_obj
def keys_status(app):
    """当前密钥版本 / which key version is in use."""
    key = _key_or_fail(app)
    click.echo(tr(app.lang, f"当前个人信息密钥：第 {key.number} 版", f"current personal-data key: version {key.number}"))
