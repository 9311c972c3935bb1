"""Personal data (个人信息): keyed pseudonyms and masked display forms.

INTERCHANGE.md: ``applicant`` and ``rater`` data must never be stored or shown in clear. hcp keeps

* a **pseudonym** — keyed BLAKE2b (a keyed PRF from the standard library) of the normalised value,
  so the same person links across records while nobody without the key can test a guess (an ID
  number's space is small enough to enumerate, which rules out an unkeyed hash);
* a **masked** form for display: ``张*``, ``138****5678``, ``3702**********1234``.

The key lives in ``$HCP_HOME/keys/pii-<n>.key`` (mode 0600), outside the warehouse, created by
``hcp init``. ``hcp keys rotate`` starts key ``n+1``: pseudonyms carry the key number (``k2:…``), new
records use the new key, and links across a rotation are deliberately broken — that is what rotating a
compromised key is for.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import polars as pl

from hcp.settings import keys_dir, private_dir

_KEY_FILE = re.compile(r"^pii-(\d+)\.key$")


@dataclass(frozen=True)
class PiiKey:
    number: int
    secret: bytes

    def pseudonym(self, value: str) -> str:
        """``k<n>:`` + 32 hex digits of keyed BLAKE2b over the value (upper-cased, spaces removed)."""
        state = self._keyed.copy()
        state.update("".join(value.split()).upper().encode())
        return f"k{self.number}:" + state.hexdigest()

    @cached_property
    def _keyed(self):
        """BLAKE2b keyed with the secret, set up once and copied per value (keying it anew per value cost
        half of the pseudonyms' time)."""
        return hashlib.blake2b(key=self.secret, digest_size=16)

    def pseudonym_expr(self, column: str | pl.Expr) -> pl.Expr:
        """Vectorised :meth:`pseudonym`: empty/null values stay empty (no person, no pseudonym).

        The keyed hash runs once per *distinct* value (a person appears many times in a stream).
        """
        expr = pl.col(column) if isinstance(column, str) else column
        cleaned = expr.cast(pl.String).str.replace_all(r"\s", "").str.to_uppercase()
        return cleaned.map_batches(self._pseudonym_series, return_dtype=pl.String)

    def _pseudonym_series(self, series: pl.Series) -> pl.Series:
        uniques = series.drop_nulls().unique()
        uniques = uniques.filter(uniques != "")
        # The pseudonyms go back by position, not through a dict.
        hashed = pl.Series([self.pseudonym(value) for value in uniques.to_list()], dtype=pl.String)
        return series.replace_strict(uniques, hashed, default="", return_dtype=pl.String)


def _key_files(directory: Path) -> list[tuple[int, Path]]:
    if not directory.exists():
        return []
    found = []
    for path in directory.iterdir():
        match = _KEY_FILE.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def ensure_key(directory: Path | None = None) -> PiiKey:
    """The current key, created (0600, in a 0700 directory) if there is none."""
    directory = directory or keys_dir()
    files = _key_files(directory)
    if files:
        number, path = files[-1]
        return PiiKey(number, bytes.fromhex(path.read_text().strip()))
    return _write_key(directory, 1)


def current_key(directory: Path | None = None) -> PiiKey:
    """The current key; raises if ``hcp init`` has not created one."""
    directory = directory or keys_dir()
    files = _key_files(directory)
    if not files:
        raise FileNotFoundError(
            f"no personal-data key in {directory}; run `hcp init` first (it creates the key outside the warehouse)"
        )
    number, path = files[-1]
    return PiiKey(number, bytes.fromhex(path.read_text().strip()))


def rotate_key(directory: Path | None = None) -> PiiKey:
    """Start a new key; older keys stay on disk so earlier pseudonyms remain explainable."""
    directory = directory or keys_dir()
    files = _key_files(directory)
    return _write_key(directory, (files[-1][0] + 1) if files else 1)


def _write_key(directory: Path, number: int) -> PiiKey:
    private_dir(directory)
    secret = secrets.token_bytes(32)
    path = directory / f"pii-{number}.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret.hex())
    return PiiKey(number, secret)


# Masks ---------------------------------------------------------------------------------------


_STARS = "*" * 256


def _stars(count: pl.Expr) -> pl.Expr:
    """``count`` asterisks (a slice of a constant: far cheaper than building lists; negative → none).

    when/then evaluates every branch for every row, so the count must be safe even where unused.
    """
    return pl.lit(_STARS).str.slice(0, count.clip(lower_bound=0, upper_bound=len(_STARS)))


def mask_name_expr(column: str | pl.Expr) -> pl.Expr:
    """``张三`` → ``张*``, ``欧阳娜娜`` → ``欧***``: the first character, then one * per hidden character."""
    expr = (pl.col(column) if isinstance(column, str) else column).cast(pl.String).str.strip_chars()
    n = expr.str.len_chars()
    stars = _stars(n.cast(pl.Int64) - 1)
    return pl.when(n > 0).then(expr.str.slice(0, 1) + stars).otherwise(pl.lit(""))


def _mask_keep_ends(expr: pl.Expr, head: int, tail: int) -> pl.Expr:
    cleaned = expr.cast(pl.String).str.replace_all(r"\s", "")
    n = cleaned.str.len_chars().cast(pl.Int64)
    masked = (
        cleaned.str.slice(0, head)
        + _stars(n - head - tail)
        + cleaned.str.slice(-tail, tail)
    )
    # Too short to keep both ends: hide everything.
    return (
        pl.when(n > head + tail)
        .then(masked)
        .when(n > 0)
        .then(_stars(n))
        .otherwise(pl.lit(""))
    )


def mask_phone_expr(column: str | pl.Expr) -> pl.Expr:
    """``13812345678`` → ``138****5678``."""
    return _mask_keep_ends(pl.col(column) if isinstance(column, str) else column, 3, 4)


def mask_id_expr(column: str | pl.Expr) -> pl.Expr:
    """``370202199001011234`` → ``3702**********1234``."""
    return _mask_keep_ends(pl.col(column) if isinstance(column, str) else column, 4, 4)
