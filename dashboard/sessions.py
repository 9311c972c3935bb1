"""Dashboard sessions that survive a reload and a new tab: a signed, expiring token in a cookie, checked
against a server-side register so that a logout, a password change or a removed user ends it.

The rules (``[dashboard.sessions]`` in the configuration):

* **Token.** ``v1.<session id>.<user>.<fingerprint>.<started>.<idle until>.<signature>``: a random
  144-bit session id, the user name (base64url), a fingerprint of the user's stored password hash, the
  start and the idle deadline (Unix seconds), signed with HMAC-SHA256 under a secret of this installation
  (``$HCP_HOME/keys/session.key``, 32 random bytes, 0600, created on first use). Nothing in it is secret
  but the signature makes it unforgeable; the token never goes into a URL.
* **Expiry.** A session ends ``idle_minutes`` after its last renewal and ``absolute_hours`` after its
  login, whatever the activity. While the user works the token is renewed (same session id and start, a
  new idle deadline) at most every ``renew_minutes``.
* **Register.** ``$HCP_HOME/sessions.jsonl`` (0600, append-only) records each login (``start``), renewal
  (``renew``), logout (``end``) and "log this user out everywhere" (``end_all``: every session of the user
  started before it). A token is valid only while its session is started and not ended in the register,
  so a copied cookie stops working at logout, and deleting the register logs everybody out.
* **Binding.** The fingerprint is HMAC(secret, stored password hash): a new password (or a removed user)
  refuses every earlier session of that user.

A token is refused — with a reason, never an exception — when it is malformed, its signature does not
match (tampered, or another installation's secret), it has expired, its session is unknown or ended, its
user no longer exists, or the user's password changed. :func:`verify` is pure; the functions below it do
the file I/O.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from hcp.config import SessionsConfig, get_config
from hcp.errors import HcpError
from hcp.locks import file_lock
from hcp.settings import hcp_home, keys_dir, private_dir

VERSION = "v1"
#: The register is rewritten without the records of long-finished sessions once it grows beyond this.
_COMPACT_BYTES = 1_000_000


@dataclass(frozen=True)
class Session:
    """What a valid token says: whose session, since when, and until when without activity."""

    sid: str
    username: str
    started: int
    idle_until: int

    def expires(self, settings: SessionsConfig) -> int:
        """When the session ends if nothing renews it (Unix seconds)."""
        return min(self.idle_until, self.started + settings.absolute)


@dataclass(frozen=True)
class Check:
    """The verdict on a token: the session when valid, else why it was refused."""

    session: Session | None
    reason: str = ""  # malformed | signature | expired | revoked | unknown_user | password_changed

    @property
    def ok(self) -> bool:
        return self.session is not None


@dataclass
class Register:
    """The register folded: sessions started (id → user, start), ended ids, per-user "ended before" times
    and the newest renewal of each session."""

    started: dict[str, tuple[str, int]] = field(default_factory=dict)
    ended: set[str] = field(default_factory=set)
    ended_before: dict[str, int] = field(default_factory=dict)
    renewed: dict[str, int] = field(default_factory=dict)

    def users(self) -> set[str]:
        """Everybody with a session in the register (live or not)."""
        return {user for user, _ in self.started.values()}

    def is_live(self, sid: str, username: str) -> bool:
        """Started for this user, not ended, and not started before an "end all" of the user."""
        entry = self.started.get(sid)
        if entry is None or entry[0] != username or sid in self.ended:
            return False
        return entry[1] > self.ended_before.get(username, -1)


def fold(records: Iterable[dict]) -> Register:
    """The register's state from its records, oldest first (unknown or torn records are skipped)."""
    register = Register()
    for record in records:
        event, sid, user, at = record.get("event"), record.get("sid", ""), record.get("user", ""), record.get("at")
        if not isinstance(at, int):
            continue
        if event == "start" and sid:
            register.started[sid] = (user, at)
        elif event == "renew" and sid:
            register.renewed[sid] = at
        elif event == "end" and sid:
            register.ended.add(sid)
        elif event == "end_all" and user:
            register.ended_before[user] = max(at, register.ended_before.get(user, -1))
    return register


# Tokens (pure) ------------------------------------------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def fingerprint(secret: bytes, password_hash: str) -> str:
    """A short keyed digest of the user's stored password hash: changes whenever the password does, and
    tells nothing about it without the secret."""
    return hmac.new(secret, b"password\0" + password_hash.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


def _sign(secret: bytes, payload: str) -> str:
    return _b64(hmac.new(secret, payload.encode("ascii"), hashlib.sha256).digest())


def issue(session: Session, secret: bytes, password_hash: str) -> str:
    """The signed token of a session."""
    payload = ".".join([VERSION, session.sid, _b64(session.username.encode("utf-8")), fingerprint(secret, password_hash),
                        str(session.started), str(session.idle_until)])
    return f"{payload}.{_sign(secret, payload)}"


def new_session(username: str, now: int, settings: SessionsConfig) -> Session:
    """A fresh session (random id) for a user who has just logged in."""
    return Session(sid=secrets.token_urlsafe(18), username=username, started=now,
                   idle_until=min(now + settings.idle, now + settings.absolute))


def renewed(session: Session, now: int, settings: SessionsConfig) -> Session | None:
    """The session with its idle deadline moved to ``now + idle`` (never beyond the absolute end), or None
    when it was renewed less than ``renew_minutes`` ago (nothing to write)."""
    target = min(now + settings.idle, session.started + settings.absolute)
    if target - session.idle_until < settings.renew_minutes * 60 or target <= session.idle_until:
        return None
    return Session(session.sid, session.username, session.started, target)


def verify(token: str, *, secret: bytes, now: int, settings: SessionsConfig, register: Register,
           password_hash: Callable[[str], str | None]) -> Check:
    """The session a token stands for, or why it is refused (the rules of the module docstring).

    ``password_hash(username)`` is the user's stored hash, None for no such user."""
    parts = token.split(".") if isinstance(token, str) and len(token) < 512 else []
    if len(parts) != 7 or parts[0] != VERSION:
        return Check(None, "malformed")
    payload = ".".join(parts[:6])
    if not hmac.compare_digest(parts[6].encode("ascii", "replace"), _sign(secret, payload).encode("ascii")):
        return Check(None, "signature")
    _, sid, user_b64, print_, started, idle_until = parts[:6]
    try:
        username = _unb64(user_b64).decode("utf-8")
        session = Session(sid, username, int(started), int(idle_until))
    except (ValueError, UnicodeDecodeError):
        return Check(None, "malformed")
    if now >= session.expires(settings) or session.started > now + 300:
        return Check(None, "expired")
    if not register.is_live(sid, username):
        return Check(None, "revoked")
    stored = password_hash(username)
    if stored is None:
        return Check(None, "unknown_user")
    if not hmac.compare_digest(print_, fingerprint(secret, stored)):
        return Check(None, "password_changed")
    return Check(session)


def active_sessions(register: Register, now: int, settings: SessionsConfig) -> list[dict]:
    """The sessions the register still holds live at ``now``: user, id (shortened), login, last renewal,
    and the latest instant it can last (its absolute end), oldest first."""
    rows = []
    for sid, (user, started) in sorted(register.started.items(), key=lambda item: item[1][1]):
        if not register.is_live(sid, user) or now >= started + settings.absolute:
            continue
        last = register.renewed.get(sid, started)
        if now >= min(last, started + settings.absolute) + settings.idle + settings.renew_minutes * 60:
            continue  # not renewed within the idle time: its token has expired
        rows.append({"user": user, "sid": sid[:8], "started": started, "last_seen": last,
                     "ends_by": started + settings.absolute})
    return rows


# Files --------------------------------------------------------------------------------------------------
def secret_path() -> Path:
    return keys_dir() / "session.key"


def register_path() -> Path:
    return hcp_home() / "sessions.jsonl"


def load_secret(path: Path | None = None) -> bytes:
    """The signing secret, created (32 random bytes, 0600, in a 0700 directory) on first use."""
    path = path or secret_path()
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        os.chmod(path, 0o600)
        secret = bytes.fromhex(path.read_text(encoding="ascii").strip() or "00")
        if len(secret) < 32:
            raise HcpError(f"会话密钥损坏 / the session secret {path} is damaged; delete it to start afresh")
        return secret
    secret = secrets.token_bytes(32)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secret.hex())
    return secret


def read_register(path: Path | None = None) -> Register:
    path = path or register_path()
    if not path.exists():
        return Register()
    records = []
    for line in path.read_bytes().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return fold(r for r in records if isinstance(r, dict))


def _append(records: list[dict], settings: SessionsConfig, path: Path | None = None) -> None:
    path = path or register_path()
    private_dir(path.parent)
    with file_lock(path.with_suffix(".lock"), what="sessions"):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        if path.stat().st_size > _COMPACT_BYTES:
            _compact(path, settings, records[-1]["at"])


def _compact(path: Path, settings: SessionsConfig, now: int) -> None:
    """Keep only the records of sessions that may still be live (started within the absolute time) and
    the "end all" records as recent; a dropped session is refused from then on (fail closed)."""
    horizon = now - settings.absolute
    keep = []
    for line in path.read_bytes().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("at"), int) and record["at"] >= horizon:
            keep.append(json.dumps(record, ensure_ascii=False) + "\n")
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("".join(keep))
    os.replace(tmp, path)


def _now() -> int:
    return int(dt.datetime.now(dt.timezone.utc).timestamp())


def start(username: str, password_hash: str, *, settings: SessionsConfig | None = None,
          now: int | None = None) -> tuple[str, Session]:
    """Register a new session for a user who has just logged in; returns its token and the session."""
    settings = settings or get_config().dashboard.sessions
    now = _now() if now is None else now
    session = new_session(username, now, settings)
    _append([{"event": "start", "at": now, "sid": session.sid, "user": username}], settings)
    return issue(session, load_secret(), password_hash), session


def check(token: str, password_hash: Callable[[str], str | None], *, settings: SessionsConfig | None = None,
          now: int | None = None) -> Check:
    """:func:`verify` against this installation's secret and register, now."""
    settings = settings or get_config().dashboard.sessions
    return verify(token, secret=load_secret(), now=_now() if now is None else now, settings=settings,
                  register=read_register(), password_hash=password_hash)


def renew(session: Session, password_hash: str, *, settings: SessionsConfig | None = None,
          now: int | None = None) -> tuple[str, Session] | None:
    """A renewed token (and session) for a live session when it is due (see :func:`renewed`), recorded;
    else None."""
    settings = settings or get_config().dashboard.sessions
    now = _now() if now is None else now
    fresh = renewed(session, now, settings)
    if fresh is None:
        return None
    _append([{"event": "renew", "at": now, "sid": session.sid, "user": session.username}], settings)
    return issue(fresh, load_secret(), password_hash), fresh


def end(session: Session, *, settings: SessionsConfig | None = None, now: int | None = None) -> None:
    """Logout: the session is ended in the register (its token, wherever copied, is refused from now on)."""
    _append([{"event": "end", "at": _now() if now is None else now, "sid": session.sid, "user": session.username}],
            settings or get_config().dashboard.sessions)


def end_all(username: str, *, settings: SessionsConfig | None = None, now: int | None = None) -> int:
    """Log a user out everywhere: every session of the user started so far is ended. Returns how many
    live sessions that ended."""
    settings = settings or get_config().dashboard.sessions
    now = _now() if now is None else now
    live = [s for s in active_sessions(read_register(), now, settings) if s["user"] == username]
    _append([{"event": "end_all", "at": now, "user": username}], settings)
    return len(live)
