"""Dashboard sessions (issue 11): a signed, expiring token bound to the user's password and checked
against the server-side register — tampered, expired, revoked, password changed, unknown user and wrong
secret are refused; a valid token gives its user. Then the files (secret 0600, register) and the CLI."""

from __future__ import annotations

import os
import stat

import pytest

from dashboard import auth, sessions
from dashboard.sessions import Register, Session, fold, issue, verify
from hcp.config import Config, SessionsConfig
from hcp.errors import HcpError
from tests.conftest import run_hcp

SECRET = bytes(range(32))
T0 = 1_790_000_000  # an instant (Unix seconds)
RULES = SessionsConfig(remember=True, idle_minutes=60, absolute_hours=8, renew_minutes=5, cookie_name="hcp_session")
HASH = "scrypt$16384$8$1$c2FsdA==$aGFzaA=="
SESSION = Session(sid="s" * 24, username="qingdao", started=T0, idle_until=T0 + 3600)
LIVE = fold([{"event": "start", "at": T0, "sid": SESSION.sid, "user": "qingdao"}])


def check(token: str, *, now: int = T0 + 60, register: Register = LIVE, secret: bytes = SECRET,
          stored: dict | None = None):
    stored = {"qingdao": HASH} if stored is None else stored
    return verify(token, secret=secret, now=now, settings=RULES, register=register, password_hash=stored.get)


def test_a_valid_token_gives_its_user():
    verdict = check(issue(SESSION, SECRET, HASH))
    assert verdict.ok and verdict.session == SESSION and verdict.session.username == "qingdao"


@pytest.mark.parametrize("tamper", [
    lambda t: t.replace(sessions._b64(b"qingdao"), sessions._b64(b"province")),  # another user
    lambda t: t.replace(f".{T0 + 3600}.", f".{T0 + 99999}."),                      # a later idle deadline
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),                   # the signature
])
def test_a_tampered_token_is_refused(tamper):
    token = issue(SESSION, SECRET, HASH)
    assert check(tamper(token)).reason == "signature"


@pytest.mark.parametrize("token", ["", "garbage", "v1.a.b.c.d.e", "v2." + "x." * 5 + "y", "x" * 600])
def test_a_malformed_token_is_refused(token):
    assert check(token).reason == "malformed"


def test_a_token_signed_under_another_secret_is_refused():
    assert check(issue(SESSION, b"\x01" * 32, HASH)).reason == "signature"


def test_idle_and_absolute_expiry():
    token = issue(SESSION, SECRET, HASH)
    assert check(token, now=T0 + 3599).ok
    assert check(token, now=T0 + 3600).reason == "expired"          # 60 idle minutes after its last renewal
    late = Session(SESSION.sid, "qingdao", T0, T0 + 9 * 3600)      # renewed beyond the absolute end
    assert check(issue(late, SECRET, HASH), now=T0 + 8 * 3600 - 1).ok
    assert check(issue(late, SECRET, HASH), now=T0 + 8 * 3600).reason == "expired"   # 8 hours after login


def test_renewal_moves_the_idle_deadline_but_never_past_the_absolute_end():
    assert sessions.renewed(SESSION, T0 + 60, RULES) is None                  # renewed a minute ago: not yet
    fresh = sessions.renewed(SESSION, T0 + 600, RULES)
    assert fresh.idle_until == T0 + 600 + 3600 and fresh.sid == SESSION.sid and fresh.started == T0
    near_end = sessions.renewed(Session(SESSION.sid, "qingdao", T0, T0 + 7 * 3600), T0 + 7 * 3600 + 1800, RULES)
    assert near_end.idle_until == T0 + 8 * 3600


def test_a_logged_out_or_unregistered_session_is_refused():
    token = issue(SESSION, SECRET, HASH)
    ended = fold([{"event": "start", "at": T0, "sid": SESSION.sid, "user": "qingdao"},
                  {"event": "end", "at": T0 + 30, "sid": SESSION.sid, "user": "qingdao"}])
    assert check(token, register=ended).reason == "revoked"
    assert check(token, register=Register()).reason == "revoked"  # never started here (or the register was reset)
    everywhere = fold([{"event": "start", "at": T0, "sid": SESSION.sid, "user": "qingdao"},
                       {"event": "end_all", "at": T0 + 30, "user": "qingdao"},
                       {"event": "start", "at": T0 + 40, "sid": "t" * 24, "user": "qingdao"}])
    assert check(token, register=everywhere).reason == "revoked"
    later = Session("t" * 24, "qingdao", T0 + 40, T0 + 40 + 3600)   # a login after "log out everywhere" is fine
    assert check(issue(later, SECRET, HASH), register=everywhere).ok
    # a session id registered for another user does not stand for this one
    other = fold([{"event": "start", "at": T0, "sid": SESSION.sid, "user": "province"}])
    assert check(token, register=other).reason == "revoked"


def test_a_new_password_or_a_removed_user_ends_the_session():
    token = issue(SESSION, SECRET, HASH)
    assert check(token, stored={"qingdao": "scrypt$16384$8$1$bmV3$bmV3"}).reason == "password_changed"
    assert check(token, stored={}).reason == "unknown_user"


def test_active_sessions_leaves_out_ended_and_expired_ones():
    register = fold([{"event": "start", "at": T0, "sid": "a" * 24, "user": "qingdao"},
                     {"event": "start", "at": T0 + 10, "sid": "b" * 24, "user": "d1"},
                     {"event": "end", "at": T0 + 20, "sid": "b" * 24, "user": "d1"},
                     {"event": "start", "at": T0 - 9 * 3600, "sid": "c" * 24, "user": "province"},
                     {"event": "renew", "at": T0 + 1000, "sid": "a" * 24, "user": "qingdao"}])
    rows = sessions.active_sessions(register, T0 + 1200, RULES)
    assert [(r["user"], r["sid"], r["last_seen"]) for r in rows] == [("qingdao", "a" * 8, T0 + 1000)]


def test_the_defaults_are_documented_settings():
    settings = Config.load().dashboard.sessions
    assert settings.remember and settings.idle_minutes > 0 and settings.absolute_hours > 0
    with pytest.raises(HcpError):  # a wrong type (a missing key cannot be: defaults.toml has them all)
        Config.from_dict({"dashboard": {"sessions": {"remember": "yes"}}})
    with pytest.raises(HcpError):
        Config.from_dict({"dashboard": {"sessions": {**vars(settings), "cookie_name": "a;b"}}})


def test_files_secret_register_and_the_whole_round_trip(hcp_home):
    auth.add_user(auth.User("qd", "region", "青岛", region="370200000000"), "Qingdao-2026")
    token, session = sessions.start("qd", auth.password_hash("qd"))
    key = hcp_home / "keys" / "session.key"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600 and stat.S_IMODE(os.stat(key.parent).st_mode) == 0o700
    register = hcp_home / "sessions.jsonl"
    assert stat.S_IMODE(os.stat(register).st_mode) == 0o600
    assert token not in register.read_text() and "Qingdao-2026" not in register.read_text()  # no token kept
    assert sessions.load_secret() == sessions.load_secret()                  # created once
    assert sessions.check(token, auth.password_hash).session == session
    # a new password ends it
    auth.add_user(auth.User("qd", "region", "青岛", region="370200000000"), "Qingdao-2027", replace=True)
    assert sessions.check(token, auth.password_hash).reason == "password_changed"
    token, session = sessions.start("qd", auth.password_hash("qd"))
    sessions.end(session)
    assert sessions.check(token, auth.password_hash).reason == "revoked"


def test_cli_lists_sessions_and_logs_a_user_out_everywhere(hcp_home):
    auth.add_user(auth.User("qd", "region", "青岛", region="370200000000"), "Qingdao-2026")
    token, _ = sessions.start("qd", auth.password_hash("qd"), now=sessions._now() - 5)
    shown = run_hcp("--lang", "en", "users", "sessions", check=True).stdout
    assert "1 live session(s)" in shown and "qd" in shown
    assert "ended 1 session(s) of qd" in run_hcp("--lang", "en", "users", "logout", "qd", check=True).stdout
    assert sessions.check(token, auth.password_hash).reason == "revoked"
    assert "0 live session(s)" in run_hcp("--lang", "en", "users", "sessions", check=True).stdout
    unknown = run_hcp("--lang", "en", "users", "logout", "nobody")
    assert unknown.returncode != 0 and "no user nobody" in unknown.stderr + unknown.stdout


# The app's use of them (AppTest on the scenario warehouse: the login form, a new password, the logout) ----
@pytest.fixture(scope="module")
def scenario_home(tmp_path_factory):
    from dashboard import ui
    from tests.dashboard_support import build_home, home_env

    path = build_home(tmp_path_factory.mktemp("dash-sessions"))
    with home_env(path):
        yield path
        ui.close_warehouse()  # the app opened the warehouse in this process


def _log_in(username: str):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from tests.dashboard_support import PASSWORD

    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py"), default_timeout=60)
    at.query_params.update({"period": "2025-10"})
    at.run()
    at.text_input(key="login_user").input(username)
    at.text_input(key="login_password").input(PASSWORD)
    next(b for b in at.button if b.label == "登录").click().run()
    assert not at.exception and at.metric
    return at


def _cookie_scripts(at) -> list[str]:
    return [h.proto.body for h in at.get("html") if "document.cookie" in h.proto.body]


def test_the_app_registers_a_login_writes_the_cookie_and_ends_the_session_at_logout(scenario_home):
    at = _log_in("qingdao")
    session = at.session_state["_session"]
    register = sessions.read_register()
    assert register.is_live(session.sid, "qingdao")
    [script] = _cookie_scripts(at)
    token = at.session_state["_session_token"]
    assert f"hcp_session={token}; Path=/;" in script and "SameSite=Strict" in script and "'; Secure'" in script
    at.run()
    assert not _cookie_scripts(at)  # written once: the browser has it
    next(b for b in at.button if b.label == "退出登录").click().run()
    assert not at.metric and at.text_input(key="login_user")
    assert not sessions.read_register().is_live(session.sid, "qingdao")
    [cleared] = _cookie_scripts(at)
    assert "hcp_session=; Path=/; Max-Age=0;" in cleared
    assert sessions.check(token, auth.password_hash).reason == "revoked"


def test_a_new_password_ends_an_open_tab_at_its_next_run(scenario_home):
    from tests.dashboard_support import PASSWORD, USERS

    at = _log_in("jinan")
    try:
        auth.add_user(auth.User(username="jinan", **USERS["jinan"]), "Another-pass-2026", replace=True)
        at.run()
        assert not at.metric and at.text_input(key="login_user")
        assert any("会话已结束" in i.value for i in at.info)
    finally:
        auth.add_user(auth.User(username="jinan", **USERS["jinan"]), PASSWORD, replace=True)
