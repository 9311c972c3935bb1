"""Plain-text tables that line up with Chinese characters (which take two terminal columns)."""

from __future__ import annotations

import unicodedata
from typing import Sequence


def display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _pad(text: str, width: int, right: bool) -> str:
    gap = " " * (width - display_width(text))
    return gap + text if right else text + gap


def render(headers: Sequence[str], rows: Sequence[Sequence[str]], *, right_align: Sequence[bool] | None = None) -> str:
    """An aligned table: header, a rule, then rows. Cells must already be formatted as strings."""
    right_align = right_align or [False] * len(headers)
    widths = [max([display_width(h)] + [display_width(r[i]) for r in rows]) for i, h in enumerate(headers)]
    lines = ["  ".join(_pad(h, w, a) for h, w, a in zip(headers, widths, right_align))]
    lines.append("  ".join("─" * w for w in widths))
    for row in rows:
        lines.append("  ".join(_pad(c, w, a) for c, w, a in zip(row, widths, right_align)))
    return "\n".join(lines)
