"""The options every command shares, declared and parsed once (roof).

* ``--period``: a month or a range of days → :class:`hcp.periods.Period` (:data:`PERIOD`);
  ``--month``: a month only (:data:`MONTH`).
* ``--as-of`` (and the other instants: ``--at``, ``--now``) → an aware datetime in Asia/Shanghai
  (:data:`INSTANT`; see :func:`hcp.periods.parse_instant`). Absent, the option is ``None``: the command
  then means "now".
* ``--format``: :func:`format_option` with the choices a command offers, one help text.
* ``--region`` / ``--dept`` (``--office`` in the loop's commands): :func:`scope_option` → one
  :class:`hcp.scope.Scope` argument ``scope``.
* ``--no-refresh``: :func:`no_refresh_option`; without it a read command first calls :func:`refresh`.

A value that cannot be parsed is a usage error (exit 2) in both languages, never a traceback.

>>> PERIOD.convert("2025-10", None, None).label
'2025-10'
>>> scope = click.command()(scope_option()(lambda scope: scope)).main(["--region", "370200000000"],
...                                                                   standalone_mode=False)
>>> scope.level, scope.code
('city', '370200000000')
"""

from __future__ import annotations

import datetime as dt
import functools
import re

import click

from hcp.i18n import fmt_int, tr
from hcp.periods import SHANGHAI, InstantError, Period, parse_instant
from hcp.scope import Scope

#: The help of every ``--format`` option (the choices are listed by click).
FORMAT_HELP = "输出格式 / output format."
PERIOD_HELP = "期间 / YYYY-MM or YYYY-MM-DD..YYYY-MM-DD (Asia/Shanghai)."
MONTH_HELP = "月份 / YYYY-MM (Asia/Shanghai)."
AS_OF_HELP = "时点 / ISO 8601 instant (default: now)."
NO_REFRESH_HELP = "不先做增量计算 / skip the incremental refresh."


class PeriodType(click.ParamType):
    """``YYYY-MM`` or ``YYYY-MM-DD..YYYY-MM-DD`` inside the working-day calendar → :class:`Period`
    (with ``months_only``, ``YYYY-MM`` only)."""

    def __init__(self, months_only: bool = False) -> None:
        self.months_only = months_only
        self.name = "month" if months_only else "period"

    def get_metavar(self, param, ctx=None) -> str:  # noqa: ARG002 - click's signature
        return "YYYY-MM" if self.months_only else "PERIOD"

    def convert(self, value, param, ctx) -> Period:
        if isinstance(value, Period):
            return value
        if self.months_only and not re.fullmatch(r"\d{4}-\d{2}", value.strip()):
            self.fail(f"月份格式为 YYYY-MM（如 2025-10）/ {value!r}: use YYYY-MM (e.g. 2025-10)", param, ctx)
        try:
            return Period.parse(value)
        except ValueError as exc:
            self.fail(f"{'月份' if self.months_only else '期间'}无效 / {exc}", param, ctx)


class InstantType(click.ParamType):
    """An ISO 8601 instant inside the working-day calendar → an aware datetime (Asia/Shanghai when the
    text has no offset; a bare date is the end of that day)."""

    name = "instant"

    def get_metavar(self, param, ctx=None) -> str:  # noqa: ARG002 - click's signature
        return "ISO"

    def convert(self, value, param, ctx) -> dt.datetime:
        if isinstance(value, dt.datetime):
            return value
        try:
            return parse_instant(value)
        except InstantError as exc:
            self.fail(f"时点无效 / {exc}", param, ctx)


class RegionCodeType(click.ParamType):
    """A full 12-digit region code (区划代码), or ``all`` (everywhere, as if the option were not given)."""

    name = "region"

    def get_metavar(self, param, ctx=None) -> str:  # noqa: ARG002 - click's signature
        return "CODE"

    def convert(self, value, param, ctx) -> str:
        if value == "all":
            return value
        if not re.fullmatch(r"\d{12}", value or ""):
            self.fail(f"区划代码应为 12 位数字：{value!r} / a region code has 12 digits: {value!r}", param, ctx)
        return value


PERIOD = PeriodType()
MONTH = PeriodType(months_only=True)
INSTANT = InstantType()
REGION_CODE = RegionCodeType()


def period_option(*, required: bool = False, help: str = PERIOD_HELP):  # noqa: A002 - click's word
    """``--period`` → :class:`Period` (``None`` when absent and not required)."""
    return click.option("--period", type=PERIOD, required=required, help=help)


def month_option(*, required: bool = False, help: str = MONTH_HELP):  # noqa: A002 - click's word
    """``--month`` → :class:`Period` of one calendar month (``None`` when absent and not required)."""
    return click.option("--month", type=MONTH, required=required, help=help)


def instant_option(name: str = "--as-of", *, help: str = AS_OF_HELP):  # noqa: A002 - click's word
    """An instant option (``--as-of`` by default; the parameter is named after it: ``as_of``, ``at``, ``now``)
    → an aware datetime, or ``None`` when absent (the command means "now")."""
    return click.option(name, name.lstrip("-").replace("-", "_"), type=INSTANT, default=None, help=help)


def format_option(*choices: str, default: str = "table"):
    """``--format`` (parameter ``fmt``) among ``choices``, ``table`` unless ``default`` says otherwise."""
    return click.option("--format", "fmt", type=click.Choice(list(choices)), default=default,
                        show_default=True, help=FORMAT_HELP)


def scope_option(*, region: str | None = "--region", dept: str | None = "--dept", region_help: str | None = None,
                 dept_help: str | None = None, exclusive: bool = False):
    """The unit a command covers, as one :class:`Scope` argument ``scope``: a region subtree (``region``,
    a 12-digit code; ``--office`` in the loop's commands) and/or a department (``dept``); neither is
    :meth:`Scope.everywhere`. Either option may be left out (``None``). With ``exclusive`` giving both is
    a usage error. The codes are checked against the warehouse by the command (it holds the connection)."""
    def decorate(function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            region_code, dept_code = kwargs.pop("scope_region", None), kwargs.pop("scope_dept", None)
            region_code = None if region_code == "all" else region_code
            if exclusive and region_code and dept_code:
                raise click.UsageError(f"{dept} 与 {region} 只能选一个 / use either {dept} or {region}, not both")
            if dept_code:
                kwargs["scope"] = Scope.of_dept(dept_code, region_code or "")
            else:
                kwargs["scope"] = Scope.of_region(region_code) if region_code else Scope.everywhere()
            return function(*args, **kwargs)

        if dept:
            wrapper = click.option(dept, "scope_dept", default=None, metavar="CODE",
                                   help=dept_help or "部门编码 / a department code.")(wrapper)
        if region:
            wrapper = click.option(region, "scope_region", type=REGION_CODE, default=None,
                                   help=region_help or "区划 / 12-digit region code (default: all).")(wrapper)
        return wrapper
    return decorate


def no_refresh_option(*, help: str = NO_REFRESH_HELP):  # noqa: A002 - click's word
    """``--no-refresh``: read the stored figures without bringing them up to date first (:func:`refresh`)."""
    return click.option("--no-refresh", is_flag=True, help=help)


def refresh(app, *, full: bool = False, quiet: bool = True):
    """Bring the derived tables up to date with the raw data (incremental unless ``full``). A read command
    (``quiet``) computes only within ``[metrics] read_refresh_budget``: with more waiting, or a full run due,
    it reads the figures of the last computation and says so on stderr."""
    from metrics.jobs import MetricsJob  # lazy: the metrics job is heavy, and --help imports this module
    from warehouse.queries.state import get_state  # lazy: --help

    progress = None if quiet else (lambda message: click.echo(f"… {message}", err=True))
    job = MetricsJob(app.warehouse(), progress=progress)
    report = job.run(full=full, budget=job.settings.read_refresh_budget if quiet else None)
    if report.mode == "deferred":
        started = get_state(job.wh, "run_started")
        when = dt.datetime.fromisoformat(started).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if started else "—"
        waiting = (tr(app.lang, "需要全量重算", "a full run is due") if report.pending is None else
                   tr(app.lang, f"{fmt_int(report.pending)} 条新数据待计算", f"{fmt_int(report.pending)} new records wait"))
        click.echo(tr(app.lang, f"注意：指标截至上次计算（{when}）；{waiting}，请运行 hcp compute",
                      f"note: figures as of the last computation ({when}); {waiting}: run hcp compute"), err=True)
    return job, report
