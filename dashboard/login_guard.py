"""Brute-force protection for dashboard logins: every attempt recorded, repeated failures throttled and
then locked out for a while, per user and per client.

The rules (``[dashboard.logins]`` in the configuration, :class:`hcp.config.LoginsConfig`; the values of
hcp/defaults.toml in parentheses):

* **Record.** Every attempt — its time, the user name tried, the client (its address), whether it
  succeeded, and whether it was refused because of a lockout — is appended to ``$HCP_HOME/logins.jsonl``
  (mode 0600, one JSON object a line). ``hcp users logins`` shows the failures and lockouts to an office.
* **Lockout.** A user name with ``user_failures`` (5) failed attempts within ``window_minutes`` (15) and
  no successful login after them is locked for ``lockout_minutes`` (15) after the last failure; so is a
  client with ``client_failures`` (20) failures within the window, whatever names it tried. While locked,
  even the right password is refused (and the refusal recorded), so guessing on never pays.
* **Client.** The address the dashboard's server saw; behind a reverse proxy set
  ``trust_forwarded_for = true`` to use the first X-Forwarded-For hop instead (never trusted otherwise:
  anyone can send that header).
* **Delay.** From the third failure of a user or client in the window, each answer waits
  ``delay_seconds`` (1 s) times the failures beyond two, at most 5 s, before it is given.

The state is the file itself (read under a lock), so every process serving the dashboard shares it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from hcp.config import LoginsConfig, get_config
from hcp.locks import file_lock
from hcp.settings import hcp_home, private_dir

#: How much of the end of the log is read to decide (far more than any window of attempts needs).
_TAIL_BYTES = 2_000_000


@dataclass(frozen=True)
class Verdict:
    """Whether an attempt may be checked now; when not, until when it is locked and why."""

    allowed: bool
    locked_until: dt.datetime | None = None
    reason: str = ""  # user | client
    delay: float = 0.0

    def minutes_left(self, now: dt.datetime) -> int:
        if self.locked_until is None:
            return 0
        return max(1, int((self.locked_until - now).total_seconds() // 60) + 1)


def log_path() -> Path:
    return hcp_home() / "logins.jsonl"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def read_attempts(path: Path | None = None) -> list[dict]:
    """The recorded attempts, oldest first (the end of the log; a torn last line is skipped)."""
    path = path or log_path()
    if not path.exists():
        return []
    with path.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - _TAIL_BYTES))
        data = handle.read()
    attempts = []
    for line in data.splitlines():
        try:
            record = json.loads(line)
            record["at"] = dt.datetime.fromisoformat(record["at"])
        except (ValueError, KeyError, TypeError):
            continue
        attempts.append(record)
    return attempts


def _recent_failures(attempts: list[dict], key: str, value: str, since: dt.datetime) -> list[dt.datetime]:
    """Failures of a user (or client) since ``since`` and after its last success."""
    failures: list[dt.datetime] = []
    for record in attempts:
        if record.get(key) != value or record["at"] < since:
            continue
        if record.get("ok"):
            failures = []
        else:
            failures.append(record["at"])
    return failures


def judge(attempts: list[dict], username: str, client: str, now: dt.datetime, settings: LoginsConfig) -> Verdict:
    """The lockout and delay rules of the module docstring, for one attempt at ``now`` (pure)."""
    window = dt.timedelta(minutes=settings.window_minutes)
    lockout = dt.timedelta(minutes=settings.lockout_minutes)
    checks = [("user", username, settings.user_failures)]
    if client:
        checks.append(("client", client, settings.client_failures))
    worst = 0
    for reason, value, limit in checks:
        failures = _recent_failures(attempts, reason, value, now - window - lockout)
        in_window = [t for t in failures if t >= (failures[-1] - window)] if failures else []
        if len(in_window) >= limit and now < in_window[-1] + lockout:
            return Verdict(False, in_window[-1] + lockout, reason)
        worst = max(worst, len([t for t in failures if t >= now - window]))
    delay = min(5.0, settings.delay_seconds * max(0, worst - 2))
    return Verdict(True, delay=delay)


def record(username: str, client: str, ok: bool, locked: bool = False, *, now: dt.datetime | None = None,
           path: Path | None = None) -> None:
    """Append one attempt to the log (created 0600 in a 0700 directory)."""
    path = path or log_path()
    private_dir(path.parent)
    line = json.dumps({"at": (now or _now()).isoformat(), "user": username, "client": client, "ok": ok,
                       "locked": locked}, ensure_ascii=False)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def guarded(username: str, client: str, check, *, settings: LoginsConfig | None = None,
            now: dt.datetime | None = None, path: Path | None = None, sleep=time.sleep):
    """Run ``check()`` (the password verification: truthy on success) under the rules; returns
    ``(result, verdict)``. A locked attempt is refused without running ``check`` and recorded."""
    settings = settings or get_config().dashboard.logins
    path = path or log_path()
    private_dir(path.parent)
    lock = path.with_suffix(".lock")
    with file_lock(lock, what="logins"):
        verdict = judge(read_attempts(path), username, client, now or _now(), settings)
        if not verdict.allowed:
            record(username, client, False, True, now=now, path=path)
            return None, verdict
    if verdict.delay:  # outside the lock: one client's slowed attempts never hold up another's login
        sleep(verdict.delay)
    result = check()
    with file_lock(lock, what="logins"):
        record(username, client, bool(result), now=now, path=path)
    return result, verdict


def current_verdict(username: str, client: str = "", *, settings: LoginsConfig | None = None,
                    now: dt.datetime | None = None, path: Path | None = None) -> Verdict:
    """Whether a user (from a client) is locked out right now, without recording anything."""
    return judge(read_attempts(path or log_path()), username, client, now or _now(), settings or get_config().dashboard.logins)
