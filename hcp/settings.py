"""Where hcp keeps its files, which warehouse it talks to, and every ``HCP_*`` environment variable.

This module is the only reader of the ``HCP_*`` environment (one function per variable; each is
documented in the header of ``hcp/defaults.toml``):

* ``HCP_HOME`` — the data directory (default ``$XDG_DATA_HOME/hcp``, i.e. ``~/.local/share/hcp``).
  It holds the embedded warehouse (``warehouse/``), the personal-data key (``keys/``, deliberately
  *outside* the warehouse), demo output and report archives.
* ``HCP_WAREHOUSE`` — a warehouse DSN; ``--warehouse`` on the command line wins over it.
  ``chdb:///abs/dir`` is the embedded default, ``http(s)://user:pass@host:port/db`` a ClickHouse server.
* ``HCP_CONFIG`` — the user's configuration file (default ``$HCP_HOME/config.toml``).
* ``HCP_USERS`` — the dashboard's user file (default ``$HCP_HOME/users.toml``).
* ``HCP_WAIT``, ``HCP_DASHBOARD_PORT``, ``HCP_INGEST_*`` — override a setting of the configuration
  (:mod:`hcp.config` applies them over the files); the functions here return the raw text or None.
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


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value is not None and value.strip() != "" else None


def config_path() -> Path | None:
    """The user's configuration file: ``$HCP_CONFIG``, else ``$HCP_HOME/config.toml`` if it exists."""
    explicit = _env("HCP_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    candidate = hcp_home() / "config.toml"
    return candidate if candidate.exists() else None


def users_path() -> Path:
    """The dashboard's users and roles: ``$HCP_USERS``, else ``$HCP_HOME/users.toml``."""
    explicit = _env("HCP_USERS")
    return Path(explicit).expanduser() if explicit else hcp_home() / "users.toml"


def wait_env() -> str | None:
    """``$HCP_WAIT``: seconds to wait for a warehouse held by another process (``[warehouse] wait_seconds``)."""
    return _env("HCP_WAIT")


def dashboard_port_env() -> str | None:
    """``$HCP_DASHBOARD_PORT``: the dashboard's port, or ``off`` (``[dashboard] port`` / ``serve``)."""
    return _env("HCP_DASHBOARD_PORT")


def ingest_max_body_bytes_env() -> str | None:
    """``$HCP_INGEST_MAX_BODY_BYTES`` (``[ingest] max_body_bytes``)."""
    return _env("HCP_INGEST_MAX_BODY_BYTES")


def ingest_max_lines_env() -> str | None:
    """``$HCP_INGEST_MAX_LINES`` (``[ingest] max_lines``)."""
    return _env("HCP_INGEST_MAX_LINES")


def ingest_queue_rows_env() -> str | None:
    """``$HCP_INGEST_QUEUE_ROWS`` (``[ingest] queue_rows``)."""
    return _env("HCP_INGEST_QUEUE_ROWS")


def ingest_max_inflight_bytes_env() -> str | None:
    """``$HCP_INGEST_MAX_INFLIGHT_BYTES`` (``[ingest] max_inflight_bytes``)."""
    return _env("HCP_INGEST_MAX_INFLIGHT_BYTES")


def ingest_unknown_items_env() -> str | None:
    """``$HCP_INGEST_UNKNOWN_ITEMS`` (``[ingest] unknown_items``)."""
    return _env("HCP_INGEST_UNKNOWN_ITEMS")
