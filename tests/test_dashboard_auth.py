"""Dashboard users: scrypt hashes with a salt per user, the users file, roles mapped to scopes, the CLI."""

from __future__ import annotations

import os
import stat

import pytest

from dashboard import auth
from hcp.scope import Scope
from hcp.errors import HcpError
from tests.conftest import run_hcp


def test_passwords_are_salted_scrypt_hashes():
    first, second = auth.hash_password("correct horse"), auth.hash_password("correct horse")
    assert first.startswith("scrypt$16384$8$1$") and first != second  # a fresh salt each time
    assert auth.verify_password("correct horse", first) and auth.verify_password("correct horse", second)
    assert not auth.verify_password("correct horsE", first)
    assert not auth.verify_password("x", "plain-text") and not auth.verify_password("x", "")


def test_users_file_roles_and_scopes(hcp_home):
    auth.add_user(auth.User("prov", "province", "省办"), "password-1")
    auth.add_user(auth.User("qd", "region", "青岛", region="370200000000"), "password-2")
    auth.add_user(auth.User("county", "region", region="370202000000"), "password-3")
    auth.add_user(auth.User("d1", "dept", dept="D1"), "password-4")
    path = hcp_home / "users.toml"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = path.read_text(encoding="utf-8")
    assert "password-1" not in text and text.count("scrypt$") == 4
    assert auth.authenticate("qd", "password-2").scope() == Scope("region", "3702")
    assert auth.authenticate("county", "password-3").scope() == Scope("region", "370202")
    assert auth.authenticate("d1", "password-4").scope() == Scope("dept", "", "D1")
    assert auth.authenticate("prov", "password-1").scope() == Scope("province", "")
    assert auth.authenticate("qd", "password-1") is None and auth.authenticate("nobody", "password-1") is None
    with pytest.raises(HcpError):
        auth.add_user(auth.User("qd", "region", region="370200000000"), "password-9")  # exists
    with pytest.raises(HcpError):
        auth.add_user(auth.User("x", "region", region="370000000000"), "password-9")  # a province is not a city
    with pytest.raises(HcpError):
        auth.add_user(auth.User("y", "dept"), "password-9")  # no department
    with pytest.raises(HcpError):
        auth.add_user(auth.User("z", "province"), "short")
    assert auth.remove_user("qd") and auth.get_user("qd") is None


def test_cli_adds_lists_and_removes_users(hcp_home):
    done = run_hcp("users", "add", "qd", "--role", "region", "--region", "370200000000", "--name", "青岛市办",
                   "--password-stdin", input="s3cret-pass\n", check=True)
    assert "qd" in done.stdout
    run_hcp("dashboard", "add-user", "d1", "--role", "dept", "--dept", "D1", "--password-stdin",
            input="an0ther-pass\n", check=True)
    listing = run_hcp("users", "list", check=True).stdout
    assert "青岛市办" in listing and "d1" in listing and "scrypt" not in listing
    assert auth.authenticate("qd", "s3cret-pass") is not None
    bad = run_hcp("users", "add", "x", "--role", "dept", "--password-stdin", input="whatever-pass\n")
    assert bad.returncode != 0 and "--dept" in bad.stderr
    run_hcp("users", "remove", "qd", check=True)
    assert auth.get_user("qd") is None


def test_demo_users_one_per_role(warehouse):
    from tests import scenario_oct2025 as scenario

    scenario.load(warehouse)
    created = {u.username: u for u in auth.create_demo_users(warehouse, password="demo-pass-1")}
    assert set(created) == {"province", "city", "county", "dept"}
    assert auth.authenticate("province", "demo-pass-1").scope() == Scope("province", "37")
    assert auth.authenticate("city", "demo-pass-1").scope() == Scope("region", "3701")  # first city: Jinan
    assert auth.authenticate("county", "demo-pass-1").scope() == Scope("region", "370102")
    assert auth.authenticate("dept", "demo-pass-1").role == "dept"
