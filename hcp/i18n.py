"""Chinese first, English on request: the one rule for every message and label.

Messages are written at the call site as a (Chinese, English) pair, so the two versions are read and
reviewed together; tables of domain labels live in :mod:`hcp.domain` and the dashboard's label module.
"""

from __future__ import annotations


def tr(lang: str, zh: str, en: str) -> str:
    """The message in the user's language (Chinese unless ``lang`` is ``"en"``)."""
    return en if lang == "en" else zh


def fmt_int(value: int | None) -> str:
    """``1234567`` → ``1,234,567``; None → ``—``."""
    return "—" if value is None else f"{value:,}"


def fmt_rate(value: float | None, digits: int = 2) -> str:
    """A fraction as a percentage for people: ``0.98765`` → ``98.77%``; None (empty base) → ``—``."""
    return "—" if value is None else f"{value * 100:.{digits}f}%"
