"""JSON text that is safe to hand to a parser: nesting depth measured without parsing, arrays split.

Python's ``json`` recurses once per nesting level, so a ~3 KB line nested 1,500 deep raises
``RecursionError`` (and Polars stops at 1,024 levels). The rule here: before any Python parser sees a
text, its depth is measured by :func:`max_depth` — a vectorised scan (NumPy) over its bytes that skips
strings — and a text deeper than :data:`ingest.limits.MAX_DEPTH` is never parsed. :func:`loads` is the
one entry point the readers use for a single line: it never raises anything but :class:`BadJson`.

:func:`split_array` cuts the text of a JSON array into its elements' byte spans with the same scan, so a
deep or broken element is one bad record instead of a broken request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from ingest.limits import MAX_DEPTH


class BadJson(ValueError):
    """Why a text could not be parsed: ``reason`` is a quarantine reason code, ``detail`` says why."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass
class Structure:
    """Per byte of a text: nesting depth after it and whether it lies outside strings."""

    buf: np.ndarray
    depth: np.ndarray
    outside: np.ndarray


def structure(data: bytes) -> Structure:
    """Brackets outside strings and the depth they reach, in a few NumPy passes (no Python per byte).

    A quote counts unless an odd run of backslashes precedes it; a byte is inside a string when an odd
    number of counted quotes comes before it. Invalid JSON gives some depth, never an error: callers use
    it only as a bound before parsing.
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    n = len(buf)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Structure(buf, empty, empty.astype(bool))
    idx = np.arange(n, dtype=np.int64)
    backslash = buf == 92
    last_other = np.maximum.accumulate(np.where(backslash, -1, idx))  # last non-backslash at or before i
    run_before = np.zeros(n, dtype=np.int64)  # backslashes right before i
    run_before[1:] = idx[:-1] - last_other[:-1]
    quote = (buf == 34) & (run_before % 2 == 0)
    quotes_before = np.cumsum(quote) - quote  # counted quotes strictly before i
    outside = (quotes_before % 2 == 0) & ~quote
    opens = outside & ((buf == 91) | (buf == 123))
    closes = outside & ((buf == 93) | (buf == 125))
    depth = np.cumsum(opens.astype(np.int64) - closes.astype(np.int64))
    return Structure(buf, depth, outside)


def max_depth(text: str | bytes) -> int:
    """The deepest nesting of objects and arrays in ``text`` (strings skipped); 0 for a scalar."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    s = structure(data)
    return int(s.depth.max()) if len(s.depth) else 0


def loads(text: str, *, limit: int = MAX_DEPTH):
    """``json.loads`` that cannot recurse too deep and raises only :class:`BadJson`.

    ``too_deep`` for nesting beyond ``limit``; ``not_json`` for anything a parser refuses (including
    numbers with more digits than Python converts, and ``NaN``/``Infinity``, which are not JSON).
    """
    depth = max_depth(text)
    if depth > limit:
        raise BadJson("too_deep", f"nested {depth} levels deep; at most {limit} are accepted")
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise BadJson("not_json", f"not valid JSON: {exc.msg} at character {exc.pos}") from None
    except (ValueError, RecursionError, TypeError) as exc:  # e.g. an integer of more than 4,300 digits
        raise BadJson("not_json", f"not valid JSON: {str(exc)[:120]}") from None


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON value")


def has_lone_surrogate(value) -> bool:
    """True when a parsed JSON value holds a ``\\uD800``-``\\uDFFF`` escape without its pair anywhere
    (such a string is not text: it cannot be encoded, and Polars would read it as NUL)."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def split_array(data: bytes) -> list[tuple[int, int, int]] | None:
    """The elements of a JSON array text as ``(start, end, depth)`` byte spans; None if ``data`` is not
    one array (unbalanced brackets, text after its end, or not starting with ``[``).

    ``depth`` is the element's own nesting depth (0 for a scalar). Elements are cut at the commas at
    depth 1, so a broken element does not spoil its neighbours.
    """
    s = structure(data)
    n = len(s.buf)
    if n == 0:
        return None
    ws = np.isin(s.buf, (32, 9, 10, 13))
    non_ws = np.flatnonzero(~ws)
    if len(non_ws) == 0:
        return None
    first, last = int(non_ws[0]), int(non_ws[-1])
    if s.buf[first] != 91 or s.buf[last] != 93 or not s.outside[first] or not s.outside[last]:
        return None
    if int(s.depth[last]) != 0 or (s.depth[first:last] < 1).any():
        return None
    commas = np.flatnonzero(s.outside[first:last] & (s.buf[first:last] == 44) & (s.depth[first:last] == 1)) + first
    bounds = np.concatenate([[first], commas, [last]])
    spans = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        start, end = int(a) + 1, int(b)
        inner = ~ws[start:end]
        if not inner.any():
            if len(bounds) == 2:  # "[]": no elements
                return []
            spans.append((start, end, 0))  # an empty element ("[1,,2]"): a bad record
            continue
        offs = np.flatnonzero(inner)
        start, end = start + int(offs[0]), start + int(offs[-1]) + 1
        depth = int(s.depth[start:end].max()) - 1 if end > start else 0
        spans.append((start, end, max(depth, 0)))
    return spans
