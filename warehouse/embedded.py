"""Owning an embedded (chDB) warehouse directory.

chDB lets one process at a time open a data directory; a second open fails deep inside the engine
("Error initializing EmbeddedServer"). hcp makes the rule explicit:

* the process that opens the directory takes an exclusive ``flock`` on ``<dir>/hcp.lock`` and writes
  who it is into that file (pid, command, since when) — the OS drops the lock if the process dies;
* a long-running owner (``hcp serve``) also publishes ``<dir>/hcp-owner.json``: the loopback URL and a
  random token through which other processes reach the warehouse (file mode 0600);
* any other process finds the lock taken, reads the owner file, and goes through the owner; if the
  holder is not an owner (e.g. a one-off CLI command) it waits a little, then gives a clear
  :class:`~warehouse.client.WarehouseBusy` message instead of a stack trace.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from hcp.settings import private_dir

LOCK_NAME = "hcp.lock"
OWNER_NAME = "hcp-owner.json"


@dataclass
class DirectoryLock:
    """An exclusive, process-lifetime lock on a warehouse directory."""

    path: Path
    fd: int

    def release(self) -> None:
        if self.fd >= 0:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            finally:
                os.close(self.fd)
                self.fd = -1


def try_lock(directory: Path) -> DirectoryLock | None:
    """Take the directory's lock without waiting; None if another process holds it."""
    private_dir(directory)
    path = directory / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    holder = {
        "pid": os.getpid(),
        "command": " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))[:300],
        "since": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(holder, ensure_ascii=False).encode(), 0)
    return DirectoryLock(path=path, fd=fd)


def read_holder(directory: Path) -> dict:
    """Who holds (or last held) the directory, as written by :func:`try_lock`."""
    try:
        return json.loads((directory / LOCK_NAME).read_text() or "{}")
    except (OSError, ValueError):
        return {}


def publish_owner(directory: Path, url: str, token: str) -> Path:
    """Announce that this process shares the warehouse at ``url`` (readable by this user only)."""
    path = directory / OWNER_NAME
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"url": url, "token": token, "pid": os.getpid()}, fh)
    os.replace(tmp, path)
    return path


def read_owner(directory: Path) -> dict | None:
    try:
        data = json.loads((directory / OWNER_NAME).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("url") and data.get("token") else None


def withdraw_owner(directory: Path) -> None:
    """Remove the owner announcement (only if it is ours)."""
    owner = read_owner(directory)
    if owner and owner.get("pid") == os.getpid():
        (directory / OWNER_NAME).unlink(missing_ok=True)
