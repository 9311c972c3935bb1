"""``hcp serve``: the long-running process that owns the warehouse and hosts the services.

In embedded mode chDB lets one process open the data directory, so this process opens it and every
other process — CLI commands, the dashboard, a second ingest — reaches it through the owner RPC that
this process serves on loopback (see :mod:`warehouse.owner`). With a server DSN the same process
simply hosts the services; nothing needs to be shared.

Hosted here: the owner RPC (``/wh/*``, token-protected), the health endpoint (``/health``), and the
services registered in :data:`SERVICES` as they are built (ingest push endpoint, dashboard, scheduler).
A platform pushing to ``POST /ingest`` needs a token of its own: ``hcp tokens issue NAME --kinds …
--region CODE`` prints it once (docs/ingest.md).
"""

# uvicorn and the warehouse are imported inside the commands to keep `hcp --help` fast (it imports every command).

from __future__ import annotations

import importlib
import os
import secrets
import signal
import socket
import sys
from dataclasses import dataclass, field
from typing import Callable

import click
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from hcp.i18n import tr


@dataclass
class ServeContext:
    """What a hosted service gets: the owned warehouse, the address, and a place for cleanup."""

    warehouse: object
    dsn: str | None
    host: str
    port: int
    lang: str = "zh"
    cleanups: list[Callable[[], None]] = field(default_factory=list)


#: Hosted services: "module:function" taking a ServeContext and returning Starlette routes.
#: Each may also register background work and cleanups on the context.
SERVICES: list[str] = []
SERVICES.append("ingest.http:routes")  # the HTTP push endpoint POST /ingest (token: hcp tokens issue), GET /ingest/health
SERVICES.append("reports.scheduler:service")  # monthly bulletins, nightly metrics, daily digest (opt out in [reports])
SERVICES.append("dashboard.service:service")  # the Streamlit dashboard as a child process (opt out in [dashboard])


def build_app(ctx: ServeContext, token: str | None) -> Starlette:
    """The Starlette application: owner RPC (when embedded), health, and every hosted service."""
    routes: list[BaseRoute] = []
    if token is not None:
        from warehouse.owner import owner_routes

        routes.extend(owner_routes(ctx.warehouse, token))

    async def health(request):
        return JSONResponse({"status": "ok", "pid": os.getpid(), "warehouse": ctx.warehouse.display_dsn})

    routes.append(Route("/health", health, methods=["GET"]))
    for spec in SERVICES:
        module_name, function = spec.split(":")
        routes.extend(getattr(importlib.import_module(module_name), function)(ctx))
    return Starlette(routes=routes)


def bind_listener(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: any free port), ready to hand to uvicorn.

    Its connections send without delay (``TCP_NODELAY``): uvicorn writes a response's headers and its body
    apart, and with Nagle's algorithm on, the body waited for the client's delayed acknowledgement of the
    headers, ~40 ms on every answer (every push, every query forwarded to the owner). The socket is made
    with the protocol named, as asyncio sets ``TCP_NODELAY`` on each connection only for such sockets
    (and the option is set on the listener too, which Linux passes on to the connections it accepts)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="监听地址 / address to listen on.")
@click.option("--port", default=8765, show_default=True, type=int, help="端口（0 = 任选）/ port (0 = any free port).")
@click.pass_obj
def serve(app, host: str, port: int) -> None:
    """常驻服务：独占仓库并对外提供服务 / own the warehouse and host the shared services.

    Other hcp commands, the dashboard and ingest clients on this machine reach an embedded warehouse
    through this process while it runs. Stop it with Ctrl-C or SIGTERM.
    """
    import uvicorn

    from warehouse import embedded, open_warehouse
    from warehouse.migrations import ensure_schema

    wh = open_warehouse(app.warehouse_dsn, own=True, wait=0)
    ensure_schema(wh)
    sock = bind_listener(host, port)
    actual_port = sock.getsockname()[1]
    ctx = ServeContext(warehouse=wh, dsn=app.warehouse_dsn, host=host, port=actual_port, lang=app.lang)
    directory = None
    token = None
    if wh.embedded:
        from warehouse.dsn import parse_dsn
        from hcp.settings import warehouse_dsn

        directory = parse_dsn(warehouse_dsn(app.warehouse_dsn)).path
        token = secrets.token_urlsafe(32)
    starlette_app = build_app(ctx, token)
    server = uvicorn.Server(uvicorn.Config(starlette_app, log_level="warning", access_log=False, lifespan="off"))

    def stop(signum, frame):  # noqa: ARG001 - signal handler signature
        server.should_exit = True

    signal.signal(signal.SIGTERM, stop)
    try:
        if directory is not None:
            loopback = "127.0.0.1" if host in ("0.0.0.0", "127.0.0.1", "localhost") else host
            embedded.publish_owner(directory, f"http://{loopback}:{actual_port}", token)
        click.echo(tr(app.lang, f"hcp serve 已启动：http://{host}:{actual_port}（仓库 {wh.display_dsn}）",
                      f"hcp serve listening on http://{host}:{actual_port} (warehouse {wh.display_dsn})"))
        sys.stdout.flush()
        server.run(sockets=[sock])
    finally:
        for cleanup in reversed(ctx.cleanups):
            cleanup()
        if directory is not None:
            embedded.withdraw_owner(directory)
        sock.close()
        wh.close()
        click.echo(tr(app.lang, "hcp serve 已停止", "hcp serve stopped"))
