"""Hosting the dashboard: the Streamlit server as a child process of ``hcp serve`` (or of ``hcp dashboard``).

``hcp serve`` owns the embedded warehouse; the Streamlit server is a separate process that reaches it
through the owner RPC like every other process (:func:`warehouse.open_warehouse` does so by itself). The
service starts it on its own port when ``hcp serve`` starts and stops it through ``ctx.cleanups`` (and, on
Linux, the child is told to exit if its parent dies without cleaning up).

Configuration: ``[dashboard] serve``, ``port`` (0 = any free port) and ``host`` ("" = the address ``hcp serve``
listens on) in ``hcp/defaults.toml``; ``HCP_DASHBOARD_PORT`` overrides the port (``off`` disables the service).
The child's output goes to ``$HCP_HOME/logs/dashboard.log``. ``GET /dashboard`` on ``hcp serve`` redirects to the dashboard.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import click
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Route

from hcp.config import get_config
from hcp.i18n import tr
from hcp.settings import hcp_home

APP = Path(__file__).with_name("app.py")
REPO = Path(__file__).resolve().parents[1]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def streamlit_command(host: str, port: int) -> list[str]:
    """The command that runs the dashboard: headless, no usage statistics, no file watching."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.address", host, "--server.port", str(port), "--server.headless", "true",
        "--server.fileWatcherType", "none", "--server.runOnSave", "false",
        "--browser.gatherUsageStats", "false", "--client.toolbarMode", "minimal",
        "--client.showErrorDetails", "false", "--theme.base", "light", "--theme.primaryColor", "#1f6feb",
    ]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: deliver SIGTERM to the child when the process that started it dies (no orphaned server)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def start(host: str, port: int, *, dsn: str | None = None, log: Path | None = None) -> subprocess.Popen:
    """Start the Streamlit server (not waiting for it); the warehouse DSN is passed on if one was given."""
    env = dict(os.environ)
    if dsn:
        env["HCP_WAREHOUSE"] = dsn
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    output = None
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        output = open(log, "ab")  # noqa: SIM115 - handed to the child
    try:
        return subprocess.Popen(
            streamlit_command(host, port), cwd=str(REPO), env=env, stdin=subprocess.DEVNULL,
            stdout=output, stderr=subprocess.STDOUT if output else None,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
    finally:
        if output is not None:
            output.close()


def stop(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """Stop the server: SIGTERM, then SIGKILL if it does not exit in time."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


def wait_ready(url: str, timeout: float = 60.0, process: subprocess.Popen | None = None) -> bool:
    """Wait until Streamlit answers its health check (False on timeout or if the process exited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{url.rstrip('/')}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def service(ctx) -> list:
    """Hosted by ``hcp serve``: start the dashboard's Streamlit server; route ``GET /dashboard`` to it."""
    config = get_config().dashboard
    if not config.serve:
        return []
    host = config.host or ctx.host
    port = config.port or free_port(host)
    if not port_free(host, port):
        click.echo(tr(ctx.lang, f"看板未启动：端口 {port} 已被占用（[dashboard] port 或 HCP_DASHBOARD_PORT 可改）",
                      f"dashboard not started: port {port} is in use (set [dashboard] port or HCP_DASHBOARD_PORT)"),
                   err=True)
        return []
    process = start(host, port, dsn=ctx.dsn, log=hcp_home() / "logs" / "dashboard.log")
    ctx.cleanups.append(lambda: stop(process))
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{shown}:{port}/"
    click.echo(tr(ctx.lang, f"监督看板：{url}", f"dashboard: {url}"))

    async def dashboard(request):
        if request.query_params.get("format") == "json":
            return JSONResponse({"url": url, "pid": process.pid, "running": process.poll() is None})
        return RedirectResponse(url, status_code=307)

    return [Route("/dashboard", dashboard, methods=["GET"])]
