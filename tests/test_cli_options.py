"""The shared CLI options (hcp/options.py): one scope option for every command that covers a unit."""

from __future__ import annotations

import click
from click.testing import CliRunner

from hcp.options import scope_option
from hcp.scope import Scope


@click.command()
@scope_option()
def show(scope: Scope) -> None:
    click.echo(f"{scope.code}|{scope.dept_code}|{scope.level}")


def run(*args: str):
    return CliRunner().invoke(show, list(args))


def test_the_scope_option_gives_one_scope():
    assert run().output.strip() == "all|None|all"
    assert run("--region", "370200000000").output.strip() == "370200000000|None|city"
    assert run("--region", "370102000000", "--dept", "D1").output.strip() == "370102000000|D1|county"


def test_region_all_is_everywhere_as_before():
    """``--region all`` (accepted by ``hcp report monthly`` before the options were shared) means everywhere,
    also beside a department."""
    assert run("--region", "all").output.strip() == "all|None|all"
    assert run("--region", "all", "--dept", "D1").output.strip() == "all|D1|all"


def test_a_malformed_region_is_a_usage_error():
    result = run("--region", "3702")
    assert result.exit_code == 2 and "12" in result.output
