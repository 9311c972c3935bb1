"""``hcp dashboard`` (serve the supervision dashboard) and ``hcp users`` (who may log in).

* ``hcp dashboard [--host H] [--port P]`` — with an embedded warehouse that no process holds, it runs
  ``hcp serve`` (which owns the warehouse and hosts the dashboard on port P); when ``hcp serve`` already
  runs, or with a ClickHouse server, it runs the Streamlit server in the foreground against it.
* ``hcp users add NAME --role province|region|dept [--region CODE] [--dept CODE] [--name TEXT]
  [--password-stdin]``, ``hcp users list``, ``hcp users remove NAME``, ``hcp users demo`` (one user per
  role for a demo warehouse). ``hcp dashboard add-user`` is ``hcp users add``.
* ``hcp users sessions`` (the live dashboard sessions), ``hcp users logout NAME`` (end all of a user's
  sessions: every browser of the user must log in again).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys

import click

from hcp.errors import BusyError, HcpError
from hcp.i18n import tr
from hcp.options import format_option
from hcp.settings import users_path, warehouse_dsn
from hcp.textable import render

# The dashboard, its users and the warehouse are imported inside the commands, to keep `hcp --help` fast:
# it imports every command's module.


def _warehouse_state(app) -> str:
    """``free`` (embedded, nobody holds it), ``owned`` (an owner shares it), ``held`` or ``server``."""
    from warehouse import embedded
    from warehouse.dsn import parse_dsn

    parsed = parse_dsn(warehouse_dsn(app.warehouse_dsn))
    if not parsed.embedded:
        return "server"
    directory = parsed.path
    lock = embedded.try_lock(directory)
    if lock is not None:
        lock.release()
        return "free"
    owner = embedded.read_owner(directory)
    if owner:
        from warehouse.owner import OwnerWarehouse

        if OwnerWarehouse(owner["url"], owner["token"], display_dsn=str(directory)).ping():
            return "owned"
    return "held"


@click.group(invoke_without_command=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="看板监听地址 / address for the dashboard.")
@click.option("--port", default=None, type=int, help="看板端口（默认 8501，0 = 任选）/ dashboard port (default 8501; 0 = any).")
@click.pass_context
def dashboard(ctx: click.Context, host: str, port: int | None) -> None:
    """监督看板 / serve the supervision dashboard (Streamlit) on the warehouse.

    Log in with a user made by `hcp users add`. With an embedded warehouse and no `hcp serve` running,
    this runs `hcp serve` (which owns the warehouse and hosts the dashboard); stop it with Ctrl-C.
    """
    if ctx.invoked_subcommand is not None:
        return

    from dashboard import service
    from hcp.config import get_config  # parsing the typed sections is kept out of `hcp --help`

    app = ctx.obj
    port = get_config().dashboard.port if port is None else port
    state = _warehouse_state(app)
    if state == "held":
        raise BusyError(tr(app.lang, "仓库正被另一个不共享的进程占用；请等待其结束，或先运行 hcp serve",
                           "the warehouse is held by another process that does not share it; wait for it or "
                           "run `hcp serve` first"))
    if state == "free":
        from hcp.serve import serve

        os.environ["HCP_DASHBOARD_PORT"] = str(port)
        click.echo(tr(app.lang, "没有正在运行的 hcp serve：现在启动它（独占仓库并托管看板）",
                      "no `hcp serve` is running: starting it (it owns the warehouse and hosts the dashboard)"))
        ctx.invoke(serve, host=host, port=0)
        return
    port = port or service.free_port(host)
    if not service.port_free(host, port):
        raise HcpError(tr(app.lang, f"端口 {port} 已被占用（--port 可改）", f"port {port} is in use (use --port)"))
    process = service.start(host, port, dsn=app.warehouse_dsn)
    click.echo(tr(app.lang, f"监督看板：http://{host}:{port}/（Ctrl-C 停止）",
                  f"dashboard: http://{host}:{port}/ (Ctrl-C to stop)"))
    try:
        code = process.wait()
    except KeyboardInterrupt:
        service.stop(process)
        code = 0
    if code:
        sys.exit(code)


# Users ---------------------------------------------------------------------------------------------------
def _password(lang: str, from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return click.prompt(tr(lang, "密码", "password"), hide_input=True, confirmation_prompt=True)


def _add(app, username: str, role: str, region: str, dept: str, name: str, password_stdin: bool, replace: bool) -> None:
    from dashboard import auth

    user = auth.User(username=username, role=role, name=name, region=region or "", dept=dept or "")
    auth.validate_user(user)
    auth.add_user(user, _password(app.lang, password_stdin), replace=replace)
    click.echo(tr(app.lang, f"已保存用户 {username}（{role}）到 {users_path()}",
                  f"user {username} ({role}) saved to {users_path()}"))


_ADD_OPTIONS = [
    click.argument("username"),
    click.option("--role", type=click.Choice(["province", "region", "dept"]), required=True,
                 help="角色：省级 / 市县 / 部门 / role: province office, city or county office, department."),
    click.option("--region", default="", help="区划代码（12 位；市县用户必填）/ 12-digit region code (region role)."),
    click.option("--dept", default="", help="部门编码（部门用户必填）/ department code (dept role)."),
    click.option("--name", default="", help="显示名称 / display name."),
    click.option("--password-stdin", is_flag=True, help="从标准输入读取密码 / read the password from stdin."),
    click.option("--replace", is_flag=True, help="覆盖同名用户 / replace an existing user."),
]


def _with_add_options(function):
    for option in reversed(_ADD_OPTIONS):
        function = option(function)
    return function


@click.group()
def users() -> None:
    """看板用户 / dashboard users and their roles ($HCP_HOME/users.toml, scrypt-hashed passwords)."""


@users.command("add")
@_with_add_options
@click.pass_obj
def users_add(app, username, role, region, dept, name, password_stdin, replace) -> None:
    """新增用户 / add a user."""
    _add(app, username, role, region, dept, name, password_stdin, replace)


@dashboard.command("add-user")
@_with_add_options
@click.pass_obj
def dashboard_add_user(app, username, role, region, dept, name, password_stdin, replace) -> None:
    """新增看板用户 / add a dashboard user (same as `hcp users add`)."""
    _add(app, username, role, region, dept, name, password_stdin, replace)


@users.command("list")
@click.pass_obj
def users_list(app) -> None:
    """列出用户 / list the users (never their passwords)."""
    from dashboard import auth

    rows = [[u.username, u.role, u.name, u.region, u.dept] for u in auth.list_users()]
    headers = [tr(app.lang, *p) for p in (("用户名", "user"), ("角色", "role"), ("名称", "name"),
                                           ("区划", "region"), ("部门", "dept"))]
    click.echo(render(headers, rows, right_align=[False] * 5))


@users.command("remove")
@click.argument("username")
@click.pass_obj
def users_remove(app, username: str) -> None:
    """删除用户 / remove a user."""
    from dashboard import auth

    if not auth.remove_user(username):
        raise HcpError(tr(app.lang, f"用户 {username} 不存在", f"no user {username}"))
    click.echo(tr(app.lang, f"已删除用户 {username}", f"user {username} removed"))


@users.command("logins")
@click.option("--all", "show_all", is_flag=True, help="也显示成功的登录 / successful logins too.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="最近多少条 / how many recent attempts.")
@format_option("table", "json")
@click.pass_obj
def users_logins(app, show_all: bool, limit: int, fmt: str) -> None:
    """登录失败与锁定记录 / recent failed logins and lockouts (who, from where, when)."""

    from dashboard import login_guard
    from warehouse.client import SHANGHAI

    attempts = [a for a in login_guard.read_attempts() if show_all or not a.get("ok")][-limit:]
    if fmt == "json":
        click.echo(json.dumps([{**a, "at": a["at"].isoformat()} for a in attempts], ensure_ascii=False, indent=2))
        return
    failures = sum(1 for a in attempts if not a.get("ok"))
    locked = sum(1 for a in attempts if a.get("locked"))
    click.echo(tr(app.lang, f"最近 {len(attempts)} 条：失败 {failures} 条，其中因锁定被拒 {locked} 条",
                  f"last {len(attempts)} attempts: {failures} failed, {locked} refused while locked"))
    outcome = lambda a: (tr(app.lang, "成功", "ok") if a.get("ok") else  # noqa: E731
                         tr(app.lang, "锁定中被拒", "refused (locked)") if a.get("locked") else tr(app.lang, "密码错误", "failed"))
    rows = [[a["at"].astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"), a.get("user", ""), a.get("client", "") or "—",
             outcome(a)] for a in attempts]
    if rows:
        click.echo(render([tr(app.lang, *h) for h in (("时间", "time"), ("用户名", "user"), ("来源", "client"),
                                                       ("结果", "outcome"))], rows))


@users.command("sessions")
@click.pass_obj
def users_sessions(app) -> None:
    """当前有效的看板会话 / the dashboard sessions still live (who, since when, last active)."""

    from dashboard import sessions
    from hcp.config import get_config  # kept out of `hcp --help`, like the imports above
    from warehouse.client import SHANGHAI

    settings = get_config().dashboard.sessions
    now = int(dt.datetime.now(dt.timezone.utc).timestamp())
    live = sessions.active_sessions(sessions.read_register(), now, settings)
    when = lambda t: dt.datetime.fromtimestamp(t, SHANGHAI).strftime("%Y-%m-%d %H:%M")  # noqa: E731
    click.echo(tr(app.lang, f"有效会话 {len(live)} 个", f"{len(live)} live session(s)"))
    if live:
        headers = [tr(app.lang, *h) for h in (("用户名", "user"), ("会话", "session"), ("登录时间", "logged in"),
                                               ("最近活动", "last active"), ("最迟结束", "ends by"))]
        click.echo(render(headers, [[s["user"], s["sid"], when(s["started"]), when(s["last_seen"]), when(s["ends_by"])]
                                    for s in live]))


@users.command("logout")
@click.argument("username")
@click.pass_obj
def users_logout(app, username: str) -> None:
    """结束某用户的全部会话 / end every dashboard session of a user (each of its browsers must log in again)."""
    from dashboard import auth, sessions

    if auth.get_user(username) is None and username not in sessions.read_register().users():
        raise HcpError(tr(app.lang, f"用户 {username} 不存在", f"no user {username}"))
    ended = sessions.end_all(username)
    click.echo(tr(app.lang, f"已结束用户 {username} 的 {ended} 个会话", f"ended {ended} session(s) of {username}"))


@users.command("demo")
@click.option("--password", default="demo-pass", show_default=True, help="演示用户的密码 / password of the demo users.")
@click.pass_obj
def users_demo(app, password: str) -> None:
    """为演示数据建立各角色用户 / create one demo user per role for the warehouse's regions and departments."""
    from dashboard import auth

    created = auth.create_demo_users(app.warehouse(), password=password)
    for user in created:
        click.echo(f"{user.username:10s} {user.role:9s} {user.scope_name}")
    click.echo(tr(app.lang, f"密码：{password}", f"password: {password}"))
