"""Configuration: the packaged defaults (``hcp/defaults.toml``) overlaid with the user's file.

The user's file is ``$HCP_CONFIG`` if set, else ``$HCP_HOME/config.toml`` if it exists. Tables are merged
key by key, so a file that sets only ``[scoring.weights] on_time_rate = 30`` keeps every other default.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from hcp import indicators
from hcp.errors import HcpError
from hcp.settings import hcp_home

DEFAULTS = Path(__file__).with_name("defaults.toml")


def _merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def user_config_path() -> Path | None:
    explicit = os.environ.get("HCP_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    candidate = hcp_home() / "config.toml"
    return candidate if candidate.exists() else None


def load_config(path: Path | None = None) -> dict[str, Any]:
    """Defaults merged with ``path`` (or the user's config file)."""
    config = tomllib.loads(DEFAULTS.read_text(encoding="utf-8"))
    # The indicators' default targets and directions are declared once, in the registry.
    config = _merge(indicators.config_defaults(config["scoring"]["weights"]), config)
    path = path or user_config_path()
    if path is not None:
        try:
            config = _merge(config, tomllib.loads(Path(path).read_text(encoding="utf-8")))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
            raise HcpError(f"配置文件有误 / the configuration file {path} cannot be read: {exc}") from exc
    return config
