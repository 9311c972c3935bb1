"""The ``hcp`` command line.

Every command lives in the package that owns its work and is registered here by import path, so
``hcp --help`` stays fast and a package is imported only when its command runs. Errors meant for the
user are printed without a stack trace and end with a meaningful exit code (see :mod:`hcp.errors`).
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import sys
import traceback
from dataclasses import dataclass, field

import click

from hcp import __version__
from hcp.errors import EXIT_BUSY, EXIT_FAILURE, EXIT_USAGE, HcpError
from hcp.settings import hcp_home, private_dir

# The warehouse is imported inside the commands to keep `hcp --help` fast: no command needs it to print help.

#: name -> "module:attribute" of the click command. Order is the order of `hcp --help`.
COMMANDS = {
    "init": "hcp.admin:init",
    "schema": "hcp.admin:schema",
    "status": "hcp.admin:status",
    "serve": "hcp.serve:serve",
    "ingest": "ingest.cli:ingest",
    "quarantine": "ingest.cli:quarantine",
    "serve-ingest": "ingest.cli:serve_ingest",
    "keys": "ingest.cli:keys",
    "tokens": "ingest.cli:tokens",
    "demo": "hcp.demo.cli:demo",
    "compute": "metrics.cli:compute",
    "metrics": "metrics.cli:metrics",
    "flags": "metrics.cli:flags",
    "quality": "metrics.cli:quality",
    "calendar": "hcp.calendar_cli:calendar",
    "report": "reports.cli:report",
    "scheduler": "reports.cli:scheduler",
    "followup": "supervision.cli:followup",
    "loop": "supervision.cli:loop",
    "dashboard": "dashboard.cli:dashboard",
    "users": "dashboard.cli:users",
    "models": "models.cli:models",
}


@dataclass
class AppContext:
    """What every command may need: the warehouse DSN and the output language."""

    warehouse_dsn: str | None
    lang: str
    _warehouse: object = field(default=None, repr=False)

    def warehouse(self, *, migrate: bool = True):
        """Open the warehouse once per command (through its owner if one is running)."""
        if self._warehouse is None:
            from warehouse import open_warehouse
            from warehouse.migrations import ensure_schema

            wh = open_warehouse(self.warehouse_dsn)
            if migrate:
                ensure_schema(wh)
            self._warehouse = wh
        return self._warehouse

    def close(self) -> None:
        if self._warehouse is not None:
            self._warehouse.close()
            self._warehouse = None


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def __init__(self, *args, lazy_commands: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.lazy_commands) + [c for c in super().list_commands(ctx) if c not in self.lazy_commands]

    def get_command(self, ctx: click.Context, name: str):
        if name in self.lazy_commands:
            module_name, attribute = self.lazy_commands[name].split(":")
            return getattr(importlib.import_module(module_name), attribute)
        return super().get_command(ctx, name)

    def main(self, *args, standalone_mode: bool = True, **kwargs):
        """Click's main, with usage errors in both languages like every other message of hcp."""
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            result = super().main(*args, standalone_mode=False, **kwargs)
        except click.exceptions.UsageError as exc:
            _usage_error(exc)
        except (click.exceptions.Abort, KeyboardInterrupt, EOFError):
            click.echo("已取消 / aborted", err=True)
            sys.exit(EXIT_FAILURE)
        except click.exceptions.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        sys.exit(result if isinstance(result, int) else 0)

    def invoke(self, ctx: click.Context):
        from warehouse.client import WarehouseBusy, WarehouseError
        from warehouse.dsn import InvalidDSN

        try:
            return super().invoke(ctx)
        except WarehouseBusy as exc:
            _fail(str(exc), EXIT_BUSY)
        except InvalidDSN as exc:
            _fail(str(exc), EXIT_USAGE)
        except (HcpError,) as exc:
            _fail(str(exc), exc.exit_code)
        except WarehouseError as exc:
            _fail(f"仓库错误 / warehouse error: {exc}", EXIT_FAILURE)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort, SystemExit,
                KeyboardInterrupt):
            raise
        except Exception as exc:  # a bug: one line for the user, the traceback in a log for us
            _fail(f"内部错误（已记录）/ internal error (recorded): {type(exc).__name__}: {str(exc)[:200]} — "
                  f"{_record_traceback()}", EXIT_FAILURE)
        finally:
            if isinstance(ctx.obj, AppContext):
                ctx.obj.close()


#: Click's English usage messages → their Chinese gist (the English follows it).
_USAGE_GIST = (
    ("Missing option", "缺少必需的选项"),
    ("Missing argument", "缺少必需的参数"),
    ("No such option", "没有这个选项"),
    ("No such command", "没有这个命令"),
    ("Invalid value for", "取值无效"),
    ("Got unexpected extra argument", "多余的参数"),
    ("Option", "选项用法有误"),
)


def usage_gist(message: str) -> str:
    """The Chinese gist of one of click's usage messages ("用法错误" when it is none of the known kinds)."""
    return next((zh for en, zh in _USAGE_GIST if message.startswith(en)), "用法错误")


def _usage_error(exc: click.exceptions.UsageError) -> None:
    if exc.ctx is not None:
        click.echo(exc.ctx.get_usage(), err=True)
        click.echo(f"帮助 / help: {exc.ctx.command_path} --help", err=True)
    message = exc.format_message()
    click.secho(f"错误 / error: {usage_gist(message)} / {message}", fg="red", err=True)
    sys.exit(exc.exit_code)


def _record_traceback() -> str:
    """Write the current exception's traceback to ``$HCP_HOME/logs/`` (0600); the file's path, for the report."""


    try:
        directory = private_dir(hcp_home() / "logs")
        path = directory / f"error-{dt.datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}.log"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(" ".join(sys.argv) + "\n\n" + traceback.format_exc())
        return str(path)
    except OSError:
        return "(the log could not be written)"


def _fail(message: str, code: int) -> None:
    click.secho(f"错误 / error: {message}", fg="red", err=True)
    sys.exit(code)


@click.group(
    cls=LazyGroup,
    lazy_commands=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--warehouse",
    "warehouse_dsn",
    envvar="HCP_WAREHOUSE",
    metavar="DSN",
    help="仓库 / warehouse: chdb:///dir (embedded, default under $HCP_HOME) or http(s)://user:pass@host:port/db.",
)
@click.option(
    "--lang",
    type=click.Choice(["zh", "en"]),
    envvar="HCP_LANG",
    default="zh",
    show_default=True,
    help="输出语言 / output language.",
)
@click.version_option(__version__, prog_name="hcp")
@click.pass_context
def cli(ctx: click.Context, warehouse_dsn: str | None, lang: str) -> None:
    """政务服务“好差评”监督分析引擎 — supervision analytics for government services and their ratings.

    \b
    Exit codes: 0 ok · 1 failure · 2 usage error · 3 some input unusable · 75 warehouse busy.
    """
    ctx.obj = AppContext(warehouse_dsn=warehouse_dsn, lang=lang)


def main() -> None:
    cli(prog_name="hcp")


if __name__ == "__main__":  # pragma: no cover
    main()
