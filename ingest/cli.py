"""Commands: ``hcp ingest [history]``, ``hcp quarantine [replay]``, ``hcp serve-ingest``, ``hcp tokens``,
``hcp keys``."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time

import click

from hcp.errors import EXIT_DATA, HcpError, UsageError
from hcp.i18n import fmt_int, tr
from hcp.options import format_option
from hcp.textable import display_width
from hcp.workdays import region_prefix

# The ingest machinery (loader, readers, HTTP server, tokens) is imported inside the commands, to keep
# `hcp --help` fast: it imports every command's module.

_FORMATS = ["jsonl", "csv", "parquet", "xlsx"]
_ENCODINGS = ["auto", "utf-8", "utf-8-sig", "gb18030", "gbk", "utf-16"]


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


class _IngestGroup(click.Group):
    """``hcp ingest FILE…`` ingests files; ``hcp ingest history …`` lists reference-data changes.

    Anything but a subcommand name first is the file ingest (a file named like a subcommand: ``./history``).
    """

    def parse_args(self, ctx, args):
        if not args or args[0] not in self.commands or args[0] == _FILES:
            args = [_FILES, *args]
        return super().parse_args(ctx, args)



class _FilesCommand(click.Command):
    """The file ingest, shown as ``hcp ingest [OPTIONS] PATHS...`` (its name stays out of sight)."""

    def format_usage(self, ctx, formatter):
        formatter.write_usage(ctx.parent.command_path if ctx.parent else ctx.command_path,
                              " ".join(self.collect_usage_pieces(ctx)))


_FILES = "files"


@click.group(cls=_IngestGroup)
def ingest():
    """导入交换数据 / ingest interchange records (see `hcp ingest --help`)."""


@ingest.command(_FILES, cls=_FilesCommand, hidden=True, epilog="参见 / see also: hcp ingest history --dept CODE（参考数据变更记录 / "
                "who changed reference data）")
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
@click.option("--encoding", type=click.Choice(_ENCODINGS), default="auto", show_default=True,
              help="文本编码（JSON Lines、CSV；默认自动识别 UTF-8/GB18030）/ text encoding of JSON Lines and CSV "
                   "(auto: UTF-8, UTF-8 with BOM, GB18030/GBK, UTF-16 with BOM).")
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出进度和汇总（每行一个）/ progress and summary as JSON lines.")
@click.option("--progress/--no-progress", default=None, help="显示进度条（终端默认显示）/ show a progress bar (default: on a terminal).")
@click.pass_obj
def ingest_files(app, paths, fmt, follow, batch_rows, batch_seconds, stream_name, source, unknown_items, encoding,
                 as_json, progress):
    """导入交换数据 / ingest interchange records from files, folders, stdin (-) or a followed file.

    A folder stands for the interchange files in it; reference data (regions, departments, items — by
    file name) is read first, so the facts find their catalogue. JSON Lines, CSV, Parquet and Excel
    (.xlsx), any mix of record kinds, in UTF-8 or GB18030/GBK
    (detected, or --encoding). Bad records are quarantined with the reason (see `hcp quarantine`);
    sending a record again has no further effect. Exit code 3 when some records were quarantined.
    Local files are ingested as the machine's operator: no token is needed (the HTTP endpoint needs one).
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
        if encoding not in ("auto", "utf-8", "utf-8-sig"):
            raise HcpError(tr(app.lang, "--follow 只读取 UTF-8", "--follow reads UTF-8 only"))
        _follow(app, paths[0], batch_rows or 50_000, batch_seconds, stream_name, unknown_items, as_json)
        return
    from ingest.paths import expand

    empty = [p for p in paths if p != "-" and os.path.isdir(p) and not expand([p])]
    if empty:
        raise HcpError(tr(app.lang, f"目录 {empty[0]} 中没有交换文件（.jsonl/.csv/.parquet/.xlsx）",
                          f"no interchange files (.jsonl/.csv/.parquet/.xlsx) in {empty[0]}"))
    paths = expand(paths)
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

        noted: set[str] = set()

        def on_chunk(chunk, summary, _bar=bar, _path=path, _noted=noted):
            if _bar is not None:
                _bar.update(chunk.bytes_read)
            if chunk.encoding and chunk.encoding not in ("utf-8", "utf-8-sig") and chunk.encoding not in _noted \
                    and not as_json:
                _noted.add(chunk.encoding)
                click.echo(tr(app.lang, f"{_path}：按 {chunk.encoding.upper()} 编码读取",
                              f"{_path}: read as {chunk.encoding.upper()}"), err=True)
            if as_json:
                click.echo(json.dumps({"event": "batch", "source": _path, **summary.as_dict()}, ensure_ascii=False))
                sys.stdout.flush()

        try:
            with bar if bar is not None else contextlib.nullcontext():
                summary = ingest_path(loader, path, fmt=fmt, batch_rows=batch_rows or DEFAULT_BATCH_ROWS,
                                      on_chunk=on_chunk, source=source, encoding=encoding)
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
@format_option("table", "json")
@click.option("--status", type=click.Choice(["open", "replayed", "all"]), default="open", show_default=True)
@click.option("--reason", help="只看某个原因 / only this reason code.")
@click.option("--source", help="只看某个来源 / only this source.")
@click.option("--limit", type=click.IntRange(min=1), help="最多条数 / at most this many.")
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
    from ingest.replay import replay

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
@click.option("--max-inflight-bytes", type=int, default=None,
              help="处理中的请求体总字节上限（超出 503）/ cap on body bytes in flight (beyond it: 503). Default 128 MiB.")
@click.option("--unknown-items", type=click.Choice(["flag", "quarantine"]), default=None)
@click.option("--group-rows", type=click.IntRange(min=0), default=None,
              help="合并提交的最大行数（0 = 每个请求单独提交）/ most records per group commit (0 = one commit "
                   "per request). Default: [ingest] group_max_rows.")
@click.pass_obj
def serve_ingest(app, host, port, max_body_bytes, max_lines, queue_rows, max_inflight_bytes, unknown_items,
                 group_rows):
    """HTTP 推送接口 / the HTTP push endpoint on its own: POST /ingest, GET /ingest/health.

    Every push needs a token (Authorization: Bearer …): issue one per platform with
    `hcp tokens issue NAME --kinds … --region CODE`. `hcp serve` hosts the same endpoint; use this one
    where no long-running owner is wanted.
    """
    import uvicorn
    from starlette.applications import Starlette

    from hcp.config import get_config
    from hcp.serve import bind_listener
    from ingest.http import IngestWriter, make_routes

    _key_or_fail(app)
    wh = app.warehouse()
    limits = get_config().ingest  # the options given win over [ingest]
    writer = IngestWriter(wh, queue_rows=queue_rows or limits.queue_rows, unknown_items=unknown_items or limits.unknown_items,
                          group_rows=group_rows)
    starlette_app = Starlette(routes=make_routes(
        writer, max_body_bytes=max_body_bytes or limits.max_body_bytes, max_lines=max_lines or limits.max_lines,
        max_inflight_bytes=max_inflight_bytes or limits.max_inflight_bytes))
    sock = bind_listener(host, port)
    actual = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(starlette_app, log_level="warning", access_log=False, lifespan="off"))

    def stop(signum, frame):  # noqa: ARG001
        server.should_exit = True

    signal.signal(signal.SIGTERM, stop)
    click.echo(tr(app.lang, f"hcp serve-ingest 已启动：http://{host}:{actual}/ingest",
                  f"hcp serve-ingest listening on http://{host}:{actual}/ingest"))
    from ingest.tokens import token_hint

    click.echo(token_hint(app.lang))
    sys.stdout.flush()
    try:
        server.run(sockets=[sock])
    finally:
        writer.stop()
        sock.close()


# hcp ingest history ------------------------------------------------------------------------------------


def _changed_fields(before: str, after: str) -> str:
    """``region_code 370200000000 → 370100000000`` for the fields a change touched."""
    old = json.loads(before) if before else {}
    new = json.loads(after) if after else {}
    parts = [f"{k} {old.get(k, '')!s} → {new.get(k, '')!s}" for k in new if old.get(k) != new.get(k)]
    return "; ".join(parts) if old else "; ".join(f"{k}={v}" for k, v in new.items())


@ingest.command("history")
@click.option("--dept", "dept_code", help="某个部门 / one department code.")
@click.option("--region", "region_code", help="某个区划（记录本身）/ one region record (by its code).")
@click.option("--item", "item_code", help="某个事项（所有版本）/ one catalogue item (every version).")
@click.option("--within", "within", metavar="CODE", help="区划代码：迁入或迁出该区划子树的变更 / changes into or out of "
              "the subtree of this region code.")
@click.option("--actor", help="只看某个来源（token:名称 / operator:用户）/ only changes by this actor.")
@click.option("--moves", is_flag=True, help="只看部门所属区划的变更 / only departments moved to another region.")
@format_option("table", "json")
@click.option("--limit", type=click.IntRange(min=1), help="最多条数 / at most this many.")
@click.pass_obj
def history_cmd(app, dept_code, region_code, item_code, within, actor, moves, fmt, limit):
    """参考数据变更记录 / who changed reference data (regions, departments, items), when, before → after.

    Every creation or change is kept (append-only) with its actor (token:<name> for a push,
    operator:<user> for local ingest), source and time.
    """
    from warehouse.queries.state import department_region_changes, reference_history

    if within and not (len(within) == 12 and within.isdigit()):
        raise UsageError(tr(app.lang, f"区划代码应为12位数字：{within}", f"a region code has 12 digits: {within!r}"))
    chosen = [(k, v) for k, v in (("department", dept_code), ("region", region_code), ("item", item_code)) if v]
    if len(chosen) > 1:
        raise UsageError(tr(app.lang, "--dept、--region、--item 只能选一个", "use one of --dept, --region, --item"))
    wh = app.warehouse()
    prefix = region_prefix(within) if within else None
    if moves:
        if region_code or item_code:
            raise UsageError(tr(app.lang, "--moves 只用于部门", "--moves is about departments"))
        rows = department_region_changes(wh, dept_code=dept_code, region_prefix=prefix)
    else:
        kind, rid = chosen[0] if chosen else (None, None)
        rows = reference_history(wh, kind=kind, record_id=rid, actor=actor, region_prefix=prefix, limit=limit)
    if moves and actor:
        rows = rows.filter(rows["actor"] == actor)
    if limit and rows.height > limit:
        rows = rows.head(limit)
    if fmt == "json":
        out = rows.with_columns(rows["changed_at"].dt.to_string("%Y-%m-%dT%H:%M:%S%.3f%:z"))
        click.echo(json.dumps(out.to_dicts(), ensure_ascii=False, indent=1))
        return
    if rows.height == 0:
        click.echo(tr(app.lang, "没有变更记录", "no changes recorded"))
        return
    for row in rows.iter_rows(named=True):
        when = f"{row['changed_at']:%Y-%m-%d %H:%M:%S}"
        if moves:
            what = f"department {row['dept_code']} {row['dept_name']}: region_code {row['region_before']} → {row['region_after']}"
        else:
            label = tr(app.lang, "新建", "created") if row["action"] == "created" else tr(app.lang, "变更", "changed")
            what = f"{row['kind']} {row['record_id']} {label}: {_changed_fields(row['before'], row['after'])}"
        click.echo(f"{when}  {row['actor']}  {what}\n    {tr(app.lang, '来源', 'source')} {row['source']}"
                   + (f" @ {row['position']}" if row["position"] else ""))
    click.echo(tr(app.lang, f"共 {rows.height} 条", f"{rows.height} change(s)"))


# hcp tokens --------------------------------------------------------------------------------------------


@click.group()
def tokens():
    """HTTP 推送令牌 / tokens of the HTTP push endpoint: issue, list, revoke.

    \b
    Each token is limited to record kinds and a region subtree; reference data (region, department,
    item) only with a token whose kinds name it. The warehouse keeps a hash only: the token is shown once.
    """


def _token_dict(t) -> dict:
    return {"name": t.name, "kinds": list(t.kinds), "region_code": t.region_code, "status": t.status,
            "issued_at": t.issued_at.isoformat() if t.issued_at else None,
            "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None, "note": t.note}


@tokens.command("issue")
@click.argument("name")
@click.option("--kinds", default=",".join(("case_event", "rating", "followup")), show_default=True,
              help="可写的记录类型（逗号分隔，或 all）/ record kinds it may write (comma-separated, or all); "
                   "reference data (region, department, item) only when named.")
@click.option("--region", "region_code", metavar="CODE",
              help="可写的区划子树（12位代码）/ the region subtree it may write (12-digit code).")
@click.option("--all-regions", is_flag=True, help="不限区划（省级平台）/ every region (a platform for the whole warehouse).")
@click.option("--note", default="", help="备注 / a note (who runs the platform, a ticket…).")
@click.option("--replace", is_flag=True, help="替换同名的有效令牌 / replace an active token of the same name.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def tokens_issue(app, name, kinds, region_code, all_regions, note, replace, as_json):
    """签发令牌（只显示一次）/ issue a token (shown once; only its hash is kept)."""
    from ingest.tokens import TokenError, issue, parse_kinds

    if bool(region_code) == bool(all_regions):
        raise UsageError(tr(app.lang, "请给出 --region 区划代码，或 --all-regions", "give --region CODE or --all-regions"))
    try:
        token, grant = issue(app.warehouse(), name, kinds=parse_kinds(kinds), region_code=region_code or "",
                             note=note, replace=replace)
    except TokenError as exc:
        raise UsageError(str(exc)) from None
    if as_json:
        click.echo(json.dumps({"token": token, **_token_dict(grant)}, ensure_ascii=False))
        return
    where = tr(app.lang, f"{grant.region_code} 及其下级", f"{grant.region_code} and below") if grant.region_code \
        else tr(app.lang, "全部区划", "every region")
    click.echo(tr(app.lang, f"已签发令牌 {grant.name}：可写 {', '.join(grant.kinds)}；区划 {where}",
                  f"issued token {grant.name}: may write {', '.join(grant.kinds)}; regions {where}"))
    click.echo(tr(app.lang, "令牌（只显示这一次，请交给平台妥善保存）：", "token (shown this once; hand it to the platform):"))
    click.echo(f"  {token}")
    click.echo(usage_hint(app.lang, token))


def usage_hint(lang: str, token: str, url: str = "http://HOST:PORT/ingest") -> str:
    return tr(lang, "用法 / usage:", "usage:") + (
        f"\n  curl -H 'Authorization: Bearer {token}' -H 'Content-Type: application/x-ndjson' "
        f"--data-binary @records.jsonl {url}")


@tokens.command("list")
@click.option("--active", is_flag=True, help="只列有效令牌 / active tokens only.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def tokens_list(app, active, as_json):
    """列出令牌（不含令牌本身）/ list tokens (names and grants; the tokens themselves are not kept)."""
    from ingest.tokens import list_tokens

    found = list_tokens(app.warehouse(), include_revoked=not active)
    if as_json:
        click.echo(json.dumps([_token_dict(t) for t in found], ensure_ascii=False))
        return
    if not found:
        click.echo(tr(app.lang, "没有令牌（hcp tokens issue 签发）", "no tokens (issue one with hcp tokens issue)"))
        return

    def pad(text: str, width: int) -> str:
        return text + " " * max(0, width - display_width(text))

    for t in found:
        status = tr(app.lang, "有效", "active") if t.status == "active" else tr(app.lang, "已吊销", "revoked")
        click.echo(f"{pad(t.name, 24)} {pad(status, 8)} {pad(t.region_code or tr(app.lang, '全部区划', 'all regions'), 14)} "
                   f"{t.issued_at:%Y-%m-%d %H:%M}  {','.join(t.kinds)}" + (f"  {t.note}" if t.note else ""))


@tokens.command("revoke")
@click.argument("name")
@click.pass_obj
def tokens_revoke(app, name):
    """吊销令牌（下一个请求起拒绝）/ revoke a token (refused from the next request on)."""
    from ingest.tokens import TokenError, revoke

    try:
        revoke(app.warehouse(), name)
    except TokenError as exc:
        raise UsageError(str(exc)) from None
    click.echo(tr(app.lang, f"已吊销令牌 {name}", f"revoked token {name}"))


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
