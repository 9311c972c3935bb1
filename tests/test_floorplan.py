"""The layers of the code, as scripts/floorplan.py reads them from the imports: no package imports one of a
higher layer (the kernel ``hcp`` nothing above it; ``warehouse`` only the kernel; ``ingest``, ``metrics`` and
``supervision`` not ``models``, ``reports`` or ``dashboard``; …), and only the roof (the CLIs, ``hcp serve``,
the demo generator) wires stages together."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def floorplan():
    spec = importlib.util.spec_from_file_location("floorplan", REPO / "scripts" / "floorplan.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_package_imports_a_higher_layer():
    assert floorplan().survey()["upward_imports"] == []


def test_the_survey_sees_an_upward_import(tmp_path):
    """The check can fail: an import of the dashboard from the kernel is reported as upward."""
    plan = floorplan()
    assert plan.layer_of("dashboard.data") > plan.layer_of("hcp.domain")
    import ast

    tree = ast.parse("def f():\n    from dashboard.data import Scope\n")
    assert list(plan.imports(tree, "hcp.domain")) == [("dashboard.data", True)]
    assert plan.layer_of("hcp.cli") == plan.ROOF_LAYER and plan.layer_of("metrics.cli") == plan.ROOF_LAYER
