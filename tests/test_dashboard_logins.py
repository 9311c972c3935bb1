"""Brute-force protection on dashboard logins and the password policy (issue 12): failures recorded,
throttled and locked out per user and per client, the right password refused while locked, the record
visible to an office, weak passwords refused (the demo's shared password for the demo users only)."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat

import pytest

from dashboard import auth, login_guard
from dashboard.login_guard import judge
from hcp.config import LoginsConfig
from hcp.errors import HcpError
from tests.conftest import run_hcp

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.timezone.utc)
RULES = LoginsConfig(user_failures=5, client_failures=20, window_minutes=15, lockout_minutes=15, delay_seconds=1,
                     trust_forwarded_for=False)


def attempt(minutes: float, user="qd", client="10.0.0.9", ok=False) -> dict:
    return {"at": T0 + dt.timedelta(minutes=minutes), "user": user, "client": client, "ok": ok, "locked": False}


def test_five_failures_lock_the_user_name_for_fifteen_minutes_after_the_last():
    failures = [attempt(m) for m in (0, 1, 2, 3, 4)]
    four = judge(failures[:4], "qd", "", T0 + dt.timedelta(minutes=5), RULES)
    assert four.allowed and four.delay == 2.0          # failures 3 and 4 beyond two: 2 × 1 s
    locked = judge(failures, "qd", "", T0 + dt.timedelta(minutes=5), RULES)
    assert not locked.allowed and locked.reason == "user"
    assert locked.locked_until == T0 + dt.timedelta(minutes=19)   # last failure (4) + 15
    assert judge(failures, "qd", "", T0 + dt.timedelta(minutes=19), RULES).allowed
    # another user name is not locked by them; a success before them resets the count
    assert judge(failures, "city", "", T0 + dt.timedelta(minutes=5), RULES).allowed
    assert judge(failures[:2] + [attempt(2.5, ok=True)] + failures[3:], "qd", "", T0 + dt.timedelta(minutes=5),
                 RULES).allowed


def test_a_client_trying_many_names_is_locked_as_a_client():
    spray = [attempt(m / 2, user=f"u{m}") for m in range(20)]   # 20 names, one failure each, in 10 minutes
    verdict = judge(spray, "province", "10.0.0.9", T0 + dt.timedelta(minutes=11), RULES)
    assert not verdict.allowed and verdict.reason == "client"
    assert judge(spray, "province", "10.0.0.7", T0 + dt.timedelta(minutes=11), RULES).allowed


def test_while_locked_even_the_right_password_is_refused_and_every_attempt_is_recorded(hcp_home):
    auth.add_user(auth.User("qd", "region", "青岛", region="370200000000"), "Qingdao-2026")
    slept = []
    for _ in range(5):
        user, _ = login_guard.guarded("qd", "10.0.0.9", lambda: None, settings=RULES, sleep=slept.append)
        assert user is None
    assert slept == [1.0, 2.0]  # the 4th and 5th answers were slowed
    assert auth.authenticate("qd", "Qingdao-2026", client="10.0.0.9") is None   # locked: refused
    verdict = auth.lockout("qd")
    assert not verdict.allowed and verdict.minutes_left(dt.datetime.now(dt.timezone.utc)) in (14, 15, 16)
    log = hcp_home / "logins.jsonl"
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o600
    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 6 and [x["ok"] for x in lines] == [False] * 6
    assert lines[-1]["locked"] is True and lines[0]["client"] == "10.0.0.9"
    assert "Qingdao-2026" not in log.read_text(encoding="utf-8")  # never the password
    # an office sees the failures and the lockout
    shown = run_hcp("--lang", "en", "users", "logins", check=True).stdout
    assert "6 failed, 1 refused while locked" in shown and "refused (locked)" in shown and "10.0.0.9" in shown


def test_a_successful_login_is_recorded_and_allowed(hcp_home):
    auth.add_user(auth.User("prov", "province", "省办"), "Shandong#2026")
    assert auth.authenticate("prov", "Shandong#2026", client="10.0.0.1").username == "prov"
    assert login_guard.read_attempts()[-1]["ok"] is True


@pytest.mark.parametrize("password", ["short1A!", "alllowercase-only", "Password", "demo-pass", "P@ssw0rd",
                                      "qd-office-2026"])
def test_weak_passwords_are_refused(hcp_home, password):
    with pytest.raises(HcpError):
        auth.add_user(auth.User("office", "region", region="370200000000"), password.replace("qd", "office"))


def test_the_demo_password_only_for_demo_users(hcp_home):
    refused = run_hcp("users", "add", "someone", "--role", "province", "--password-stdin", input="demo-pass\n")
    assert refused.returncode == 1 and "密码至少 10 位" in refused.stderr and auth.get_user("someone") is None
    accepted = run_hcp("users", "add", "someone", "--role", "province", "--password-stdin", input="Jinan-Office-7\n")
    assert accepted.returncode == 0
