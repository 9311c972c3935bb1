"""Credentials of the HTTP push endpoint: tokens issued and revoked with ``hcp tokens``.

* A token is ``hcp_`` + 43 random URL-safe characters (256 bits from :mod:`secrets`), shown once when
  issued. The warehouse keeps its SHA-256 only (``ingest_tokens``, migration 5): a random 256-bit secret
  needs no salt or slow hash — nobody can guess one from its digest — and the digest is looked up
  directly, so checking a request costs one small query.
* Each token has a **name** (the platform, e.g. ``qingdao-hall``), the **record kinds** it may write and
  the **region subtree** it may write in (a 12-digit code; its code prefix, as
  :func:`hcp.workdays.region_prefix` gives it, is the subtree; none = every region). Reference data
  (``region``, ``department``, ``item``) is written only by a token whose kinds name it.
* Revoking appends a row with ``status = 'revoked'``; the latest row of a name holds (ReplacingMergeTree
  on ``updated_at``), so a revoked token is refused from the next request on. Issuing again under a
  revoked name gives a new token.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import threading
import time
from dataclasses import dataclass, field

import polars as pl

from hcp.domain import RECORD_KINDS
from hcp.i18n import tr
from hcp.settings import TIMEZONE
from hcp.workdays import region_prefix
from ingest.fields import FACT_KINDS
from warehouse.queries.state import insert_token, token_hash_of, token_rows, token_updated_at, tokens_by_hashes

PREFIX = "hcp_"
DEFAULT_KINDS = FACT_KINDS
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_REGION = re.compile(r"^\d{12}$")


class TokenError(ValueError):
    """A token cannot be issued or revoked as asked (bad name, kind or region; name in use; unknown)."""


@dataclass(frozen=True)
class Token:
    """A valid token's grant: who it is and what it may write."""

    name: str
    kinds: tuple[str, ...]
    region_code: str  # '' = every region
    status: str = "active"
    issued_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None
    note: str = ""

    @property
    def prefix(self) -> str:
        """The code prefix of its region subtree ('' = every region)."""
        return region_prefix(self.region_code)

    @property
    def actor(self) -> str:
        return f"token:{self.name}"

    def may_write(self, kind: str) -> bool:
        return kind in self.kinds

    def covers(self, region_code: str) -> bool:
        """True when a 12-digit region code lies in the token's subtree."""
        return region_code.startswith(self.prefix)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def parse_kinds(text: str | None) -> tuple[str, ...]:
    """``case_event,rating`` → the kinds, in the interchange order; ``all`` = every kind."""
    if not text:
        return DEFAULT_KINDS
    names = [k.strip() for k in text.split(",") if k.strip()]
    if names == ["all"]:
        return tuple(RECORD_KINDS)
    unknown = [k for k in names if k not in RECORD_KINDS]
    if unknown:
        raise TokenError(f"unknown record kind(s) {', '.join(unknown)}; use {', '.join(RECORD_KINDS)} or all")
    return tuple(k for k in RECORD_KINDS if k in names)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).astimezone(dt.timezone.utc)


def _rows(wh, name: str | None = None) -> list[Token]:
    frame = token_rows(wh, name)
    frame = frame.with_columns(pl.col(pl.Categorical).cast(pl.String))
    return [Token(r["name"], tuple(r["kinds"] or ()), r["region_code"], r["status"], r["issued_at"],
                  r["revoked_at"], r["note"]) for r in frame.iter_rows(named=True)]


def list_tokens(wh, *, include_revoked: bool = True) -> list[Token]:
    tokens = _rows(wh)
    return tokens if include_revoked else [t for t in tokens if t.status == "active"]


def get_token(wh, name: str) -> Token | None:
    found = _rows(wh, name)
    return found[0] if found else None


def verify(wh, token: str | None) -> Token | None:
    """The grant of a presented token, or None (unknown, revoked, or not a token at all)."""
    if not plausible(token):
        return None
    return grants(wh, [digest(token)]).get(digest(token))


def plausible(token: str | None) -> bool:
    """Shaped like a token at all (else it is refused without a look-up)."""
    return bool(token) and token.startswith(PREFIX) and len(token) <= 200


def grants(wh, hashes: list[str]) -> dict[str, Token]:
    """The grants of the active tokens among ``hashes`` (digests), by digest: one small query."""
    return {h: Token(name, tuple(kinds or ()), region_code, status, issued_at, revoked_at, note)
            for h, name, kinds, region_code, status, issued_at, revoked_at, note in tokens_by_hashes(wh, sorted(set(hashes)))
            if status == "active"}


#: How long a token found valid lets its requests' bodies be read without a look-up (see :class:`Verifier`).
ADMITTED_SECONDS = 60.0


class Verifier:
    """Checks the tokens of concurrent requests together: one look-up per wave instead of one per request.

    A request joins the wave that has not been looked up yet; the first of a wave to find no look-up in
    flight runs it for everyone in the wave. Each look-up therefore starts after every request in its wave
    arrived, so a token revoked before a request came is refused, exactly as with one look-up per request.

    A token found valid is remembered for :data:`ADMITTED_SECONDS` (:meth:`admitted`): enough to read a
    request's body without a look-up, never to store it — what a request stores is checked against the
    warehouse again right before (the push endpoint's writer looks up the tokens of each group it
    prepares, :func:`grants`). Only tokens found valid are remembered, so unknown ones cannot grow it.
    """

    def __init__(self, wh, *, admitted_seconds: float = ADMITTED_SECONDS):
        self.wh = wh
        self._cond = threading.Condition()
        self._open = _Wave()
        self._busy = False
        self._admitted_seconds = admitted_seconds
        self._admitted: dict[str, tuple[Token, float]] = {}

    def admitted(self, token: str | None) -> Token | None:
        """The grant of ``token`` if it was found valid within the last ``admitted_seconds`` (no look-up),
        else None: verify it."""
        if not plausible(token):
            return None
        seen = self._admitted.get(digest(token))
        if seen is None or time.monotonic() - seen[1] > self._admitted_seconds:
            return None
        return seen[0]

    def verify(self, token: str | None) -> Token | None:
        """As :func:`verify`; a warehouse error is raised to every request of the wave."""
        if not plausible(token):
            return None
        h = digest(token)
        with self._cond:
            wave = self._open
            wave.hashes.add(h)
            while self._busy and not wave.done:
                self._cond.wait()
            lead = not wave.done
            if lead:
                self._busy = True
                self._open = _Wave()
        if lead:
            try:
                wave.found = grants(self.wh, list(wave.hashes))
            except BaseException as exc:  # handed to every request of the wave
                wave.error = exc
            finally:
                with self._cond:
                    wave.done = True
                    self._busy = False
                    self._cond.notify_all()
        if wave.error is not None:
            raise wave.error
        found = wave.found.get(h)
        if found is None:
            self._admitted.pop(h, None)
        else:
            self._admitted[h] = (found, time.monotonic())
        return found


@dataclass
class _Wave:
    hashes: set = field(default_factory=set)
    found: dict = field(default_factory=dict)
    error: BaseException | None = None
    done: bool = False


def _insert(wh, row: dict) -> None:
    stamp = pl.Datetime("ms", TIMEZONE)
    insert_token(wh, pl.DataFrame([row], schema={
        "name": pl.String, "token_hash": pl.String, "kinds": pl.List(pl.String), "region_code": pl.String,
        "status": pl.String, "issued_at": stamp, "revoked_at": stamp, "note": pl.String, "updated_at": stamp}))


def issue(wh, name: str, *, kinds: tuple[str, ...] = DEFAULT_KINDS, region_code: str = "", note: str = "",
          replace: bool = False) -> tuple[str, Token]:
    """Issue a token; returns (the token — shown once, never stored —, its grant).

    A name in use by an active token is refused unless ``replace`` (then the old token stops working).
    """
    if not _NAME.match(name or ""):
        raise TokenError(f"token name {name!r}: letters, digits, '.', '_' or '-', at most 64, starting with a letter or digit")
    if region_code and not _REGION.match(region_code):
        raise TokenError(f"region {region_code!r} is not a 12-digit region code")
    if not kinds:
        raise TokenError("a token must be allowed at least one record kind")
    current = get_token(wh, name)
    if current is not None and current.status == "active" and not replace:
        raise TokenError(f"a token named {name!r} is active; revoke it first (hcp tokens revoke {name})")
    token = PREFIX + secrets.token_urlsafe(32)
    now = _now()
    if current is not None and current.issued_at is not None:
        now = max(now, _after(wh, name))
    _insert(wh, {"name": name, "token_hash": digest(token), "kinds": list(kinds), "region_code": region_code,
                 "status": "active", "issued_at": now, "revoked_at": None, "note": note, "updated_at": now})
    return token, Token(name, tuple(kinds), region_code, "active", now, None, note)


def _after(wh, name: str) -> dt.datetime:
    """A moment after the name's latest row (so the new row wins even within the same millisecond)."""
    latest = token_updated_at(wh, name)
    if latest is None:
        return _now()
    if latest.tzinfo is None:
        latest = latest.replace(tzinfo=dt.timezone.utc)
    return latest + dt.timedelta(milliseconds=1)


def revoke(wh, name: str) -> Token:
    """Revoke the active token of ``name`` (refused from the next request on)."""
    current = get_token(wh, name)
    if current is None or current.status != "active":
        raise TokenError(f"no active token named {name!r} (see hcp tokens list)")
    hashed = token_hash_of(wh, name)
    now = max(_now(), _after(wh, name))
    _insert(wh, {"name": name, "token_hash": hashed, "kinds": list(current.kinds), "region_code": current.region_code,
                 "status": "revoked", "issued_at": current.issued_at, "revoked_at": now, "note": current.note,
                 "updated_at": now})
    return Token(name, current.kinds, current.region_code, "revoked", current.issued_at, now, current.note)


def token_hint(lang: str) -> str:
    """How a platform gets a token (printed by `hcp serve` and `hcp serve-ingest`)."""
    return tr(lang, "  推送需令牌：hcp tokens issue 平台名 --kinds case_event,rating --region 区划代码"
                    "（请求头 Authorization: Bearer <令牌>）",
              "  pushes need a token: hcp tokens issue PLATFORM --kinds case_event,rating --region CODE "
              "(header Authorization: Bearer <token>)")
