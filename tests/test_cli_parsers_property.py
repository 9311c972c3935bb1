"""No user input of any shape gives a traceback or raw database text: the period, as-of and month parsers
answer with a value inside the working-day calendar or a clear error, and the CLI turns that error into a
usage message (exit 2).

Property tests (hypothesis) drive the parsers with arbitrary strings and with near-misses of the real
formats (year 0001 and 9999, month 13, day 30 of February, offsets of every size).
"""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from hcp.workdays import CALENDAR_END, CALENDAR_START
from hcp.periods import InstantError, Period, parse_instant

digits = lambda n: st.text("0123456789", min_size=n, max_size=n)  # noqa: E731
near_dates = st.builds(lambda y, m, d: f"{y}-{m}-{d}", digits(4), digits(2), digits(2))
near_months = st.builds(lambda y, m: f"{y}-{m}", digits(4), digits(2))
near_ranges = st.builds(lambda a, b: f"{a}..{b}", near_dates, near_dates)
near_instants = st.builds(lambda d, h, m, sign, oh, om: f"{d}T{h}:{m}{sign}{oh}:{om}",
                          near_dates, digits(2), digits(2), st.sampled_from(["+", "-", ""]), digits(2), digits(2))
anything = st.text(max_size=60)


@settings(max_examples=400, deadline=None)
@given(st.one_of(anything, near_months, near_ranges))
def test_a_period_is_inside_the_calendar_or_a_clear_value_error(text):
    try:
        period = Period.parse(text)
    except ValueError as exc:
        assert str(exc) and "Traceback" not in str(exc)
        return
    assert CALENDAR_START <= period.start < period.end <= CALENDAR_END + dt.timedelta(days=1)


@settings(max_examples=400, deadline=None)
@given(st.one_of(anything, near_dates, near_instants))
def test_an_instant_is_inside_the_calendar_or_an_instant_error(text):
    try:
        instant = parse_instant(text)
    except InstantError as exc:
        assert str(exc)
        return
    assert instant.tzinfo is not None and CALENDAR_START <= instant.date() <= CALENDAR_END


@pytest.fixture(scope="module")
def runner_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("parsers")
    return {"HCP_HOME": str(home), "HCP_WAREHOUSE": "", "HCP_LANG": "zh"}


CASES = [
    ("metrics", "--period", "0001-01-01..9999-12-31"),
    ("metrics", "--period", "0001-01"),
    ("metrics", "--period", "2025-13"),
    ("metrics", "--period", "2025-02-30..2025-03-01"),
    ("flags", "--as-of", "0001-01-01T00:00+08:00"),
    ("flags", "--as-of", "9999-12-31T23:59:59-14:00"),
    ("flags", "--as-of", "yesterday"),
    ("calendar", "show", "--month", "2025/10"),
    ("calendar", "show", "--month", "2025-10-01..2025-10-02"),
    ("quality", "--period", "10000-01"),
]


@pytest.mark.parametrize("args", CASES, ids=[" ".join(a) for a in CASES])
def test_the_cli_answers_odd_input_with_a_usage_error(args, runner_home):
    from hcp.cli import cli

    result = CliRunner().invoke(cli, list(args), env=runner_home, catch_exceptions=True)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output and "DB::Exception" not in result.output


@settings(max_examples=40, deadline=None)
@given(st.one_of(anything.filter(lambda t: not t.startswith("-")), near_months, near_ranges))
def test_hcp_metrics_never_raises_for_any_period(runner_home, text):
    from hcp.cli import cli

    result = CliRunner().invoke(cli, ["metrics", "--period", text, "--no-refresh", "--format", "json"],
                                env=runner_home, catch_exceptions=True)
    # Either a usage error, or a valid period read from the (empty) warehouse.
    assert result.exit_code in (0, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output and "DB::Exception" not in result.output


def test_a_broken_configuration_file_is_a_clear_error(tmp_path):
    from tests.conftest import run_hcp

    (tmp_path / "config.toml").write_text("[scoring\nthis is not toml", encoding="utf-8")
    result = run_hcp("metrics", "--period", "2025-10", env={"HCP_HOME": str(tmp_path)})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "配置文件有误" in result.stderr and "config.toml" in result.stderr


def test_an_unexpected_error_is_one_line_and_a_private_log_not_a_traceback(tmp_path, monkeypatch):
    """A bug inside a command prints no traceback: one line for the user, the traceback in
    $HCP_HOME/logs (0600) for whoever fixes it."""
    import os
    import stat

    import click

    from hcp.cli import LazyGroup

    @click.group(cls=LazyGroup)
    def group():
        pass

    @group.command()
    def broken():
        return 1 / 0

    monkeypatch.setenv("HCP_HOME", str(tmp_path))
    result = CliRunner().invoke(group, ["broken"], catch_exceptions=False)
    assert result.exit_code == 1
    assert "内部错误" in result.output and "ZeroDivisionError" in result.output and "Traceback" not in result.output
    [log] = list((tmp_path / "logs").iterdir())
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o600 and "Traceback" in log.read_text(encoding="utf-8")
