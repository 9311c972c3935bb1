"""One configuration (issue 13.4): every setting is a field of a typed section and has its one default in
hcp/defaults.toml; the ``HCP_*`` environment is read only by hcp/settings.py and documented in defaults.toml;
nothing outside the kernel reads the environment or the raw TOML."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

import pytest

from hcp import config as config_module
from hcp.config import Config, ConfigError, defaults_dict, get_config, reset_config
from hcp.errors import HcpError
from hcp.settings import SETTING_VARIABLES
from metrics.jobs import MetricsSettings
from supervision.settings import SupervisionSettings

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("dashboard", "ingest", "metrics", "models", "reports", "supervision", "warehouse")


def _pairs(cls: type, table: dict, where: str = "") -> tuple[set[str], set[str]]:
    """(keys of ``table`` that are no field, fields that are no key of ``table``), recursively."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    extra = {f"{where}{k}" for k in set(table) - names}
    missing = {f"{where}{n}" for n in names - set(table)}
    for name in names & set(table):
        if dataclasses.is_dataclass(hints[name]):
            more, fewer = _pairs(hints[name], table[name], f"{where}{name}.")
            extra |= more
            missing |= fewer
    return extra, missing


def test_every_key_of_the_defaults_is_a_field_and_every_field_a_key():
    extra, missing = _pairs(Config, defaults_dict())
    assert extra == set(), f"in defaults.toml but no field of hcp.config: {sorted(extra)}"
    assert missing == set(), f"a field of hcp.config without its default in defaults.toml: {sorted(missing)}"


def test_every_environment_variable_is_read_in_settings_and_documented_in_the_defaults():
    settings_text = (REPO / "hcp" / "settings.py").read_text(encoding="utf-8")
    read = set(re.findall(r"_?env(?:iron\.get)?\(\"(HCP_[A-Z_]+)\"", settings_text)) | set(SETTING_VARIABLES)
    assert {"HCP_HOME", "HCP_WAREHOUSE", "HCP_CONFIG", "HCP_USERS", "HCP_WAIT", "HCP_DASHBOARD_PORT"} <= read
    header = "\n".join(line for line in (REPO / "hcp" / "defaults.toml").read_text(encoding="utf-8").splitlines()
                       if line.startswith("#"))
    assert {name for name in read if name not in header} == set()
    assert "HCP_LANG" in header  # read by click (--lang's envvar) in hcp/cli.py


def _sources():
    for package in PACKAGES:
        yield from sorted((REPO / package).rglob("*.py"))


def test_no_module_outside_the_kernel_reads_the_environment_or_the_raw_configuration():
    # a read: os.environ.get("HCP_…"), os.getenv("HCP_…"), os.environ["HCP_…"] not assigned to (a child's
    # environment may be set)
    env_read = re.compile(r"(?:environ\.get|getenv)\(\s*f?[\"']HCP_|environ\[\s*f?[\"']HCP_[A-Z_]*[\"']\](?!\s*=[^=])")
    raw = re.compile(r"\bload_config\b|\bdefaults_dict\b|\btomllib\b.*defaults\.toml|_read_toml|_defaults\(")
    offenders = []
    for path in _sources():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if env_read.search(line) or raw.search(line):
                offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert offenders == []


def test_a_user_file_is_laid_over_the_defaults_key_by_key(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[scoring.weights]\non_time_rate = 30\n[loop.locality.\"370200000000\"]\nrectify_days = 5\n",
                    encoding="utf-8")
    config = Config.load(path)
    assert config.scoring.weights["on_time_rate"] == 30.0 and config.scoring.weights["good_rate"] == 15.0
    assert config.loop.rectify_days == 15 and config.loop.by_locality("rectify_days") == {"370200000000": 5}


@pytest.mark.parametrize(("overrides", "named"), [
    ({"ranking": {"min_case": 3}}, "min_case"),                       # a typo: no such setting
    ({"loop": {"rectify_days": "15"}}, "rectify_days"),               # a string for a number
    ({"supervision": {"revisit_anonymous": 1}}, "revisit_anonymous"),  # a number for true/false
    ({"loop": {"locality": {"3702": {"rectify_day": 5}}}}, "rectify_day"),
    ({"ingest": {"unknown_items": "drop"}}, "unknown_items"),
    ({"dashboard": {"port": 70000}}, "port"),
    ({"models": {"risk": {"watch_threshold": 0}}}, "watch_threshold"),
])
def test_a_bad_value_is_an_error_that_names_the_setting(overrides, named):
    with pytest.raises(ConfigError, match=named) as raised:
        Config.from_dict(overrides)
    assert isinstance(raised.value, HcpError) and isinstance(raised.value, ValueError)


def test_environment_overrides_and_the_cached_configuration(hcp_home, monkeypatch):
    reset_config()
    first = get_config()
    assert get_config() is first  # parsed once
    assert (first.warehouse.wait_seconds, first.dashboard.port, first.dashboard.serve) == (10.0, 8501, True)
    monkeypatch.setenv("HCP_WAIT", "0")
    monkeypatch.setenv("HCP_DASHBOARD_PORT", "off")
    monkeypatch.setenv("HCP_INGEST_MAX_LINES", "12")
    changed = get_config()
    assert (changed.warehouse.wait_seconds, changed.dashboard.serve, changed.ingest.max_lines) == (0.0, False, 12)
    monkeypatch.setenv("HCP_DASHBOARD_PORT", "8600")
    assert get_config().dashboard.port == 8600 and get_config().dashboard.serve
    monkeypatch.setenv("HCP_WAIT", "soon")
    with pytest.raises(ConfigError, match="HCP_WAIT"):
        get_config()
    monkeypatch.delenv("HCP_WAIT")
    (hcp_home / "config.toml").write_text("[timeliness]\nwarning_working_days = 4\n", encoding="utf-8")
    assert get_config().timeliness.warning_working_days == 4  # a new user file is read again


def test_rectify_days_has_one_source():
    config = Config.from_dict({"loop": {"rectify_days": 9, "locality": {"370200000000": {"rectify_days": 4}}}})
    metrics, supervision = MetricsSettings.load(config), SupervisionSettings.load(config)
    assert metrics.rectify_days == supervision.step_days["rectify_days"] == config.loop.rectify_days == 9
    assert metrics.rectify_days_by_locality == supervision.step_days_by_locality["rectify_days"] == {"370200000000": 4}
    literal = re.compile(r"rectify_days\W{1,4}\d")  # e.g. rectify_days=15 or "rectify_days", 15
    assert [p for p in (*_sources(), Path(config_module.__file__)) if literal.search(p.read_text(encoding="utf-8"))] == []


def test_a_change_of_a_scoring_setting_changes_the_metrics_fingerprint():
    base = MetricsSettings.load(Config.from_dict({})).fingerprint()
    assert MetricsSettings.load(Config.from_dict({})).fingerprint() == base
    assert MetricsSettings.load(Config.from_dict({"scoring": {"weights": {"good_rate": 16}}})).fingerprint() != base
    assert MetricsSettings.load(Config.from_dict({"ranking": {"min_cases": 21}})).fingerprint() != base
    assert MetricsSettings.load(Config.from_dict({"loop": {"rectify_days": 14}})).fingerprint() != base
