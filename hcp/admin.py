"""Warehouse administration commands: ``hcp init``, ``hcp schema``, ``hcp status``."""

from __future__ import annotations

import click

from hcp.errors import HcpError
from hcp.i18n import fmt_int, tr

# The warehouse and the key are imported inside the commands to keep `hcp --help` fast (it imports every command).


@click.command()
@click.option("--cluster", metavar="NAME", help="在集群上建表 / create the cluster form (ON CLUSTER NAME) on a server.")
@click.pass_obj
def init(app, cluster: str | None) -> None:
    """初始化或升级仓库 / create or migrate the warehouse schema, and the personal-data key.

    Idempotent: on a current warehouse it changes nothing; on an older one it migrates in place.
    """
    from hcp.pii import ensure_key
    from warehouse.migrations import LATEST_VERSION, migrate

    wh = app.warehouse(migrate=False)
    if cluster and wh.embedded:
        raise HcpError(tr(app.lang, "集群模式需要 ClickHouse 服务器 DSN（http(s)://…）",
                          "--cluster needs a ClickHouse server DSN (http(s)://…), not an embedded warehouse"))
    report = migrate(wh, cluster=cluster)
    key = ensure_key()
    if report.applied:
        click.echo(tr(app.lang, f"仓库 {wh.display_dsn}：架构版本 {report.before} → {report.after}",
                      f"warehouse {wh.display_dsn}: schema version {report.before} → {report.after}"))
    else:
        click.echo(tr(app.lang, f"仓库 {wh.display_dsn} 已是最新架构（版本 {LATEST_VERSION}），无需变更",
                      f"warehouse {wh.display_dsn} is already at schema version {LATEST_VERSION}; nothing to do"))
    click.echo(tr(app.lang, f"个人信息密钥：第 {key.number} 版（保存在仓库之外）",
                  f"personal-data key: version {key.number} (kept outside the warehouse)"))


@click.command()
@click.option("--cluster", metavar="NAME", help="输出集群形式 / print the cluster form (Replicated + Distributed, ON CLUSTER NAME).")
def schema(cluster: str | None) -> None:
    """打印建表语句 / print the warehouse DDL (local or cluster form)."""
    from warehouse.migrations import LATEST_VERSION, current_tables
    from warehouse.schema import schema_statements

    click.echo(f"-- hcp schema version {LATEST_VERSION}" + (f", cluster {cluster}" if cluster else ", local"))
    for statement in schema_statements(current_tables(), cluster):
        click.echo(statement + ";\n")


@click.command()
@click.pass_obj
def status(app) -> None:
    """查看仓库状态 / show the warehouse, its schema version and row counts."""
    from warehouse.migrations import current_tables, schema_version
    from warehouse.queries.state import table_row_counts  # lazy: keeps hcp --help fast

    wh = app.warehouse(migrate=False)
    click.echo(tr(app.lang, f"仓库：{wh.display_dsn}", f"warehouse: {wh.display_dsn}"))
    click.echo(tr(app.lang, f"架构版本：{schema_version(wh)}", f"schema version: {schema_version(wh)}"))
    names = list(current_tables())
    counts = table_row_counts(wh, names)
    for name in names:
        click.echo(f"  {name:<22} {fmt_int(counts.get(name)) if name in counts else tr(app.lang, '（无）', '(missing)')}")
