from pathlib import Path

import pytest

from hcp.settings import warehouse_dsn
from warehouse.dsn import InvalidDSN, parse_dsn


def test_embedded_dsn_resolves_to_an_absolute_directory(tmp_path):
    dsn = parse_dsn(f"chdb://{tmp_path}/wh")
    assert dsn.embedded and dsn.path == tmp_path / "wh"
    relative = parse_dsn("chdb://var/wh")
    assert relative.path == Path.cwd() / "var" / "wh"


def test_server_dsn_hides_the_password():
    dsn = parse_dsn("https://reader:s3cret@ch.example.gov.cn:8443/hcp")
    assert not dsn.embedded
    assert dsn.display() == "https://reader:***@ch.example.gov.cn:8443/hcp"


@pytest.mark.parametrize("raw", ["chdb://", "chdb://:memory:", "postgres://x", "warehouse", "http://"])
def test_invalid_dsns_are_refused_with_the_accepted_forms(raw):
    with pytest.raises(InvalidDSN, match="chdb:///|http"):
        parse_dsn(raw)


def test_dsn_precedence(hcp_home, monkeypatch):
    assert warehouse_dsn() == f"chdb://{hcp_home / 'warehouse'}"
    monkeypatch.setenv("HCP_WAREHOUSE", "http://localhost:8123/x")
    assert warehouse_dsn() == "http://localhost:8123/x"
    assert warehouse_dsn("chdb:///elsewhere") == "chdb:///elsewhere"
