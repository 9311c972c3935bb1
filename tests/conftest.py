"""Shared fixtures: a private HCP_HOME per test and a real embedded (chDB) warehouse in it."""

from __future__ import annotations

import os
import contextlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HCP = [sys.executable, "-m", "hcp.cli"]


@pytest.fixture
def hcp_home(tmp_path, monkeypatch) -> Path:
    """An empty data directory, used by everything hcp does in this test (and its subprocesses)."""
    home = tmp_path / "hcp-home"
    home.mkdir()
    monkeypatch.setenv("HCP_HOME", str(home))
    monkeypatch.delenv("HCP_WAREHOUSE", raising=False)
    return home


@pytest.fixture
def warehouse(hcp_home):
    """A fresh embedded warehouse at the latest schema, closed (and its directory released) afterwards."""
    from warehouse import open_warehouse
    from warehouse.migrations import ensure_schema

    wh = open_warehouse()
    ensure_schema(wh)
    yield wh
    wh.close()


@contextlib.contextmanager
def home_with(path: Path, load):
    """Point HCP_HOME at ``path`` (for a module-scoped fixture), open its embedded warehouse, let
    ``load(wh)`` fill it, and close it again so that subprocesses can open it; restore HCP_HOME after."""
    from warehouse import open_warehouse
    from warehouse.migrations import ensure_schema

    saved = os.environ.get("HCP_HOME")
    os.environ["HCP_HOME"] = str(path)
    try:
        with open_warehouse() as wh:
            ensure_schema(wh)
            load(wh)
        yield path
    finally:
        if saved is None:
            os.environ.pop("HCP_HOME", None)
        else:
            os.environ["HCP_HOME"] = saved


def demo_month_loader(out: Path, month: str, cases: int, seed: int):
    """``load(wh)`` for :func:`home_with`: a demo month (no malformed records) generated into ``out``,
    ingested and computed — the province the model tests and the risk watch judge the models on."""
    def load(wh):
        from hcp.demo.generator import DemoParams, generate
        from hcp.pii import ensure_key
        from ingest.loader import Loader
        from ingest.run import ingest_path
        from metrics.jobs import MetricsJob

        ensure_key()
        manifest = generate(DemoParams(month=month, out=out, cases=cases, seed=seed, malformed_share=0.0))
        loader = Loader(wh)
        for f in manifest["files"]:
            ingest_path(loader, str(out / f["name"]))
        MetricsJob(wh).run()
    return load


#: The demo province the overdue-risk tests and the risk watch judge the model on (2026-03, seed 11).
RISK_DEMO_MONTH, RISK_DEMO_CASES, RISK_DEMO_SEED = "2026-03", 12_000, 11


@pytest.fixture(scope="session")
def risk_demo_base(tmp_path_factory):
    """The risk demo month generated, ingested, computed and its risk model trained — once per session, with
    the output of ``hcp models train risk``. A module uses a copy (:func:`copy_of_home`): its tests write
    to their warehouse and model store, and an embedded warehouse directory belongs to one process at a time."""
    home = tmp_path_factory.mktemp("risk-demo-base")
    loader = demo_month_loader(home / "demo-data", RISK_DEMO_MONTH, RISK_DEMO_CASES, RISK_DEMO_SEED)
    with home_with(home, loader):
        trained = run_hcp("models", "train", "risk", check=True)
    return home, trained


@contextlib.contextmanager
def copy_of_home(base: Path, dest: Path):
    """A copy of a closed HCP_HOME (warehouse, keys, models, demo files) at ``dest``, made HCP_HOME for the
    duration (as :func:`home_with`)."""
    shutil.copytree(base, dest, symlinks=True)
    with home_with(dest, lambda wh: None) as path:
        yield path


def run_hcp(*args: str, env: dict | None = None, timeout: float = 300, check: bool = False, **kwargs):
    """Run the real `hcp` CLI in a subprocess (the environment, incl. HCP_HOME, is inherited)."""
    result = subprocess.run(
        [*HCP, *args], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})}, cwd=REPO, **kwargs,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"hcp {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result
