"""Warehouse DSNs.

``chdb:///abs/dir`` (or ``chdb://relative/dir``, resolved against the working directory) names an
embedded chDB warehouse on disk; ``http://…`` and ``https://…`` name a ClickHouse server, in the form
clickhouse-connect accepts (``http://user:pass@host:8123/database``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


class InvalidDSN(ValueError):
    """The warehouse DSN cannot be understood."""


@dataclass(frozen=True)
class DSN:
    raw: str
    kind: str  # "embedded" | "server"
    path: Path | None = None  # embedded only

    @property
    def embedded(self) -> bool:
        return self.kind == "embedded"

    def display(self) -> str:
        """The DSN with any password hidden, fit for logs and messages."""
        if self.embedded:
            return f"chdb://{self.path}"
        parts = urlsplit(self.raw)
        if parts.password:
            netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
            return urlunsplit(parts._replace(netloc=netloc))
        return self.raw


def parse_dsn(raw: str) -> DSN:
    """Parse a DSN; raise :class:`InvalidDSN` with a message that says what is accepted."""
    text = raw.strip()
    if text.startswith("chdb:"):
        rest = text[len("chdb:"):]
        if rest.startswith("//"):
            rest = rest[2:]
        if not rest or rest.startswith(":memory:"):
            raise InvalidDSN(f"{raw!r}: an embedded warehouse needs a directory, e.g. chdb:///var/lib/hcp/warehouse")
        return DSN(raw=text, kind="embedded", path=Path(rest).expanduser().resolve())
    scheme = urlsplit(text).scheme
    if scheme in ("http", "https"):
        if not urlsplit(text).hostname:
            raise InvalidDSN(f"{raw!r}: a server DSN needs a host, e.g. http://default:@localhost:8123/hcp")
        return DSN(raw=text, kind="server")
    raise InvalidDSN(
        f"{raw!r} is not a warehouse DSN; use chdb:///absolute/dir (embedded) or http(s)://user:pass@host:port/db"
    )
