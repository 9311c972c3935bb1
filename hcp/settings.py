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


#: The environment variables that override a setting of the config: name -> (section, key, type). Read only
#: here (:func:`setting_overrides`), laid over the files by :mod:`hcp.config`, documented at the top of
#: ``defaults.toml``. ``HCP_DASHBOARD_PORT=off`` sets ``[dashboard] serve = false`` instead of a port.
SETTING_VARIABLES: dict[str, tuple[str, str, type]] = {
    "HCP_WAIT": ("warehouse", "wait_seconds", float),
    "HCP_DASHBOARD_PORT": ("dashboard", "port", int),
    "HCP_INGEST_MAX_BODY_BYTES": ("ingest", "max_body_bytes", int),
    "HCP_INGEST_MAX_LINES": ("ingest", "max_lines", int),
    "HCP_INGEST_QUEUE_ROWS": ("ingest", "queue_rows", int),
    "HCP_INGEST_MAX_INFLIGHT_BYTES": ("ingest", "max_inflight_bytes", int),
    "HCP_INGEST_UNKNOWN_ITEMS": ("ingest", "unknown_items", str),
}


def setting_overrides() -> dict[str, str]:
    """The variables of :data:`SETTING_VARIABLES` that are set (and not blank): name -> text."""
    return {name: value for name in SETTING_VARIABLES if (value := _env(name)) is not None}
