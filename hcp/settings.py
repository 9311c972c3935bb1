"""Where hcp keeps its files, and which warehouse it talks to.

* ``HCP_HOME`` — the data directory (default ``$XDG_DATA_HOME/hcp``, i.e. ``~/.local/share/hcp``).
  It holds the embedded warehouse (``warehouse/``), the personal-data key (``keys/``, deliberately
  *outside* the warehouse), demo output and report archives.
* ``HCP_WAREHOUSE`` — a warehouse DSN; ``--warehouse`` on the command line wins over it.
  ``chdb:///abs/dir`` is the embedded default, ``http(s)://user:pass@host:port/db`` a ClickHouse server.
"""

from __future__ import annotations

import os
from pathlib import Path

TIMEZONE = "Asia/Shanghai"


def hcp_home() -> Path:
    """The data directory: ``$HCP_HOME``, else ``$XDG_DATA_HOME/hcp``, else ``~/.local/share/hcp``."""
    explicit = os.environ.get("HCP_HOME")
    if explicit:
        return Path(explicit).expanduser().resolve()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return (base / "hcp").resolve()


def default_warehouse_dsn() -> str:
    """The embedded warehouse under the data directory."""
    return f"chdb://{hcp_home() / 'warehouse'}"


def warehouse_dsn(explicit: str | None = None) -> str:
    """The DSN to use: the explicit one, else ``$HCP_WAREHOUSE``, else the embedded default."""
    return explicit or os.environ.get("HCP_WAREHOUSE") or default_warehouse_dsn()


def private_dir(path: Path) -> Path:
    """Create ``path`` (and its missing parents) readable by its owner only (0700), and make an existing
    one so: everything under ``$HCP_HOME`` — the warehouse, keys, demo input with personal data in
    clear, reports, users — is nobody else's business on a shared machine."""
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        directory.mkdir(mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def keys_dir() -> Path:
    """Secrets (the personal-data pseudonym key) live here, never inside the warehouse."""
    return hcp_home() / "keys"
