"""Personal data at rest: what hcp creates under $HCP_HOME is its owner's only (directories 0700, demo
input files — names, ID numbers and phones in clear — 0600)."""

from __future__ import annotations

import stat
from pathlib import Path

from hcp.settings import private_dir


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_private_dir_creates_every_missing_level_0700_and_tightens_an_existing_one(tmp_path):
    made = private_dir(tmp_path / "home" / "demo" / "2026-03")
    assert mode(made) == 0o700 and mode(made.parent) == 0o700 and mode(made.parent.parent) == 0o700
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    assert mode(private_dir(loose)) == 0o700


def test_the_warehouse_keys_and_demo_files_are_private(hcp_home, tmp_path):
    from hcp.demo.generator import DemoParams, generate
    from hcp.pii import ensure_key
    from warehouse import open_warehouse

    with open_warehouse():
        pass
    ensure_key()
    out = hcp_home / "demo" / "2025-10"
    generate(DemoParams(month="2025-10", out=out, cases=200, seed=3))
    assert mode(hcp_home / "warehouse") == 0o700
    assert mode(hcp_home / "keys") == 0o700
    assert mode(out) == 0o700 and mode(out.parent) == 0o700
    files = [p for p in out.iterdir() if p.is_file()]
    data_files = [p for p in files if p.name != "manifest.json"]
    assert data_files and all(mode(p) == 0o600 for p in data_files)
