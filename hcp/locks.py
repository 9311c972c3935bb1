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
from pathlib import Path
from typing import Iterator

from hcp.errors import BusyError
from hcp.settings import hcp_home, private_dir


class LockTimeout(BusyError):
    """The lock was still held when the wait ran out."""


@contextlib.contextmanager
def file_lock(path: Path, *, timeout: float | None = None, what: str = "") -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` for the block, on a descriptor of its own — so another thread
    of this process waits for it exactly like another process. ``timeout`` None waits as long as it takes;
    otherwise :class:`LockTimeout` after that many seconds. Closing the descriptor releases the lock."""
    private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if timeout is None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        else:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        name = what or path.stem
                        raise LockTimeout(f"另一个 {name} 任务仍在运行 / another {name} job is still running") from None
                    time.sleep(0.2)
        yield
    finally:
        os.close(fd)


def job_lock(name: str, *, timeout: float = 3600.0):
    """The named machine-wide lock ``$HCP_HOME/locks/<name>.lock``, waiting up to ``timeout`` seconds."""
    return file_lock(hcp_home() / "locks" / f"{name}.lock", timeout=timeout, what=name)
