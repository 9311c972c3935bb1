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


def test_sql_is_written_only_in_the_query_layer():
    """Pages, reports, jobs and models call named functions of ``warehouse/queries``; none writes SQL itself."""
    survey = floorplan().survey()
    assert survey["files_with_sql"], "the survey must see the query layer's SQL"
    assert survey["files_with_sql_outside_query_layer"] == []


def test_the_survey_sees_sql_outside_the_query_layer():
    """The check can fail: a SELECT in a string constant of a page is found."""
    plan = floorplan()
    assert plan.SQL.search("SELECT case_id FROM case_facts FINAL WHERE x")
    assert not plan.SQL.search("选择 the cases from the list")


def test_one_scope_type():
    assert floorplan().survey()["scope_types"] == ["hcp.scope.Scope"]


def test_every_import_inside_a_function_says_why():
    """An import inside a function is there only to keep ``hcp --help`` fast or to load a heavy optional
    library when it is needed, and says so on its line or once at the top of its CLI module."""
    survey = floorplan().survey()
    assert survey["import_statements_inside_functions"] > 0, "the survey must see the CLIs' lazy imports"
    assert survey["import_statements_inside_functions_unexplained"] == []
