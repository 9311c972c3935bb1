"""The indicator registry (hcp/indicators.py) held against the two things it must agree with: the columns of
``group_metrics`` in the current schema, and the indicator table of DOMAIN.md. Plus what derives from it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from hcp import indicators
from hcp.domain import INDICATOR_LABELS
from hcp.indicators import COUNT_COLUMNS, DEFAULT_TARGETS, INDICATOR_KEYS, INDICATORS
from warehouse.migrations import current_tables

DOMAIN_MD = Path(__file__).resolve().parents[2] / "shared" / "DOMAIN.md"
#: Columns of group_metrics that are not a count or an indicator value.
GROUP_METRIC_OTHER = {"period", "grouping", "group_code", "peer_group", "composite_score", "contributions", "rank",
                      "rank_status", "peers", "bottom_two", "bottom_two_consecutive", "run_id", "computed_at"}


def value_columns() -> set[str]:
    """The indicator columns a row of group_metrics needs: a count is its own column."""
    return {key for key, row in INDICATORS.items() if row.kind != "count"}


def test_group_metrics_has_a_column_for_every_count_and_indicator_and_no_other():
    table = current_tables()["group_metrics"]
    types = {c.name: c.type for c in table.columns}
    assert set(types) - GROUP_METRIC_OTHER == set(COUNT_COLUMNS) | value_columns()
    assert all(types[c] == "Int64" for c in COUNT_COLUMNS)
    assert all(types[k] == "Nullable(Float64)" for k in value_columns())


def domain_indicators() -> dict[str, tuple[str, float | None]]:
    """key -> (kind, target or None) of every indicator DOMAIN.md names: its indicator table, then the catalogue
    indicators of the paragraph below it. The kind is read from the definition: ``mean …`` a mean, ``1 − …`` a
    compression, ``… ÷ …`` a rate, anything else a count."""
    if not DOMAIN_MD.exists():
        pytest.skip(f"{DOMAIN_MD} is not here")
    text = DOMAIN_MD.read_text(encoding="utf-8")
    section = text[text.index("## Indicators"):]
    section = section[:section.index("\n## ", 1)]

    def kind(definition: str) -> str:
        definition = definition.strip()
        if definition.startswith("mean "):
            return "mean"
        if definition.startswith("1 −"):
            return "compression"
        return "rate" if "÷" in definition else "count"

    found = {}
    for key, definition in re.findall(r"^\| `(\w+)`[^|]*\| (.+?) \|$", section, re.M):
        found[key] = (kind(definition), None)
    catalogue = section[section.index("Catalogue indicators"):]
    for key, inside in re.findall(r"`(\w+)`\s+\(([^)]*)\)", catalogue):
        definition = inside.split(":", 1)[1] if ":" in inside.split(";")[0] else inside
        target = re.search(r"target ≥ (\d+)%", inside)
        found[key] = (kind(definition.split(";")[0]), int(target.group(1)) / 100 if target else None)
    return found


def test_every_domain_indicator_is_in_the_registry_with_its_kind_and_target():
    domain = domain_indicators()
    assert len(domain) >= 20, "the DOMAIN.md table was not read"
    for key, (kind, target) in domain.items():
        assert key in INDICATORS, f"DOMAIN.md names {key}, the registry does not"
        assert INDICATORS[key].kind == kind, key
        if target is not None:
            assert INDICATORS[key].target == pytest.approx(target), key


def test_an_indicator_beyond_domain_says_why():
    domain = domain_indicators()
    for key, row in INDICATORS.items():
        assert bool(row.extra) == (key not in domain), (
            f"{key}: marked extra but in DOMAIN.md" if row.extra else f"{key}: not in DOMAIN.md, and not marked extra")


def test_what_derives_from_the_registry():
    assert set(INDICATOR_LABELS) == {*INDICATOR_KEYS, "composite_score", "rank"}
    assert all(INDICATOR_LABELS[k] == (INDICATORS[k].zh, INDICATORS[k].en) for k in INDICATOR_KEYS)
    # A rate's counts are counts of hcp metrics; a count is its own numerator.
    for key, row in INDICATORS.items():
        assert {row.numerator, row.denominator} - {None} <= set(COUNT_COLUMNS), key
        assert row.kind != "count" or row.numerator == key, key
    # Targets are declared once: the packaged defaults.toml repeats none of them ...
    packaged = tomllib.loads((Path(indicators.__file__).with_name("defaults.toml")).read_text(encoding="utf-8"))
    assert packaged["scoring"]["targets"] == {} and packaged["reports"]["targets"] == {}
    # ... the configuration gets them from the registry: the weighted ones in [scoring], the others in [reports].
    layered = indicators.config_defaults(packaged["scoring"]["weights"])
    assert {**layered["reports"]["targets"], **layered["scoring"]["targets"]} == DEFAULT_TARGETS
    assert set(layered["scoring"]["targets"]) == set(packaged["scoring"]["weights"])
    assert all(0 < t <= 1 for t in DEFAULT_TARGETS.values())
