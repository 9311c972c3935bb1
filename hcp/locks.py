"""Machine-wide locks for jobs that must not overlap (e.g. two metrics runs writing the same months).

A lock is an ``flock`` on ``$HCP_HOME/locks/<name>.lock``: the OS releases it if the holder dies, so a
crash never leaves a stale lock. It serialises the processes of one machine — which is every process
of an embedded warehouse; on a cluster, run scheduled jobs on one host (docs/cluster.md).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from typing import Iterator

from hcp.errors import BusyError
from hcp.settings import hcp_home


class LockTimeout(BusyError):
    """The lock was still held when the wait ran out."""


@contextlib.contextmanager
def job_lock(name: str, *, timeout: float = 3600.0) -> Iterator[None]:
    """Hold the named lock for the duration of the block, waiting up to ``timeout`` seconds for it."""
    directory = hcp_home() / "locks"
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeout(f"另一个 {name} 任务仍在运行 / another {name} job is still running") from None
                time.sleep(0.2)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
