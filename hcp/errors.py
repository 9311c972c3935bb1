"""Errors a user can act on, and the process exit codes the CLI gives them."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2  # click's own code for bad options
EXIT_DATA = 3  # the input was readable but some of it could not be used
EXIT_BUSY = 75  # sysexits EX_TEMPFAIL: the warehouse is busy, try again


class HcpError(Exception):
    """An error whose message is meant for the user, shown without a stack trace."""

    exit_code = EXIT_FAILURE


class UsageError(HcpError):
    """The command was called wrongly (a bad option value, a missing code)."""

    exit_code = EXIT_USAGE


class BusyError(HcpError):
    """Something the command needs is held by another process; try again later."""

    exit_code = EXIT_BUSY

