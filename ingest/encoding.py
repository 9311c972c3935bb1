"""Text encodings of input files: UTF-8 (with or without BOM), GB18030/GBK (what Chinese Excel exports),
UTF-16 with a BOM — detected, or named with ``--encoding``.

The rule (:func:`detect`), on the bytes of a file's start:

1. a byte-order mark names the encoding (UTF-8, UTF-16 LE/BE) and is dropped;
2. text that is valid UTF-8 is UTF-8;
3. otherwise, when most lines with non-ASCII bytes are *not* valid UTF-8 and the text is valid
   GB18030, it is GB18030 (GBK and GB2312 are subsets of it). Chinese UTF-8 often decodes as GB18030
   by accident — as mojibake — so a file whose lines are mostly valid UTF-8 stays UTF-8: its few bad
   lines are bad input, not a different encoding;
4. anything else is read as UTF-8, and the lines (rows) that are not are quarantined as
   ``bad_encoding`` — one bad line never stops a file.

Undecodable bytes become U+FFFD while reading; the loader quarantines every record holding U+FFFD
(``bad_encoding``), so the replacement character never reaches a raw table, and the quarantine stores it
as the escape ``\\ufffd``. Nothing here does I/O.
"""

from __future__ import annotations

import codecs

#: ``--encoding`` choices (``auto`` = :func:`detect`).
ENCODINGS = ("auto", "utf-8", "utf-8-sig", "gb18030", "gbk", "utf-16")
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
#: Bytes looked at by detection.
SAMPLE_BYTES = 4 << 20


class EncodingError(ValueError):
    """A named encoding that Python does not know."""


def normalise(name: str | None) -> str:
    """The codec name for an ``--encoding`` value (``None``/``auto`` stay ``auto``)."""
    if not name or name.lower() == "auto":
        return "auto"
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise EncodingError(f"unknown encoding {name!r}; use one of {', '.join(ENCODINGS)}") from None


def bom_encoding(data: bytes) -> str | None:
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    return None


def _valid(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
        return True
    except UnicodeDecodeError as exc:
        # A sample cut in the middle of a character is still valid.
        return exc.end >= len(data) - 3 and exc.reason.startswith(("unexpected end", "incomplete"))


def detect(sample: bytes) -> str:
    """The encoding of a text whose start is ``sample`` (see the module docstring): ``utf-8``,
    ``utf-8-sig``, ``utf-16`` or ``gb18030``."""
    named = bom_encoding(sample)
    if named:
        return named
    if _valid(sample, "utf-8"):
        return "utf-8"
    lines = [line for line in sample.split(b"\n") if any(b > 127 for b in line)]
    if len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut
    not_utf8 = sum(1 for line in lines if not _valid(line, "utf-8"))
    if not_utf8 * 2 > len(lines) and _valid(sample, "gb18030"):
        return "gb18030"
    return "utf-8"


def to_utf8(data: bytes, encoding: str) -> bytes:
    """``data`` as UTF-8 (BOM dropped); undecodable bytes become U+FFFD (quarantined downstream)."""
    if encoding in ("utf-8", "utf_8"):
        if data.startswith(codecs.BOM_UTF8):
            data = data[len(codecs.BOM_UTF8):]
        try:
            data.decode("utf-8")
            return data
        except UnicodeDecodeError:
            return data.decode("utf-8", errors="replace").encode("utf-8")
    return data.decode(encoding, errors="replace").lstrip("\ufeff").encode("utf-8")


class TranscodingReader:
    """A binary stream in ``encoding`` read as UTF-8 (``read(n)``, as the line readers use it).

    Decoded incrementally, so a character cut by a read is completed by the next one; undecodable bytes
    become U+FFFD; a BOM at the start is dropped. ``consumed`` counts the source bytes read.
    """

    def __init__(self, stream, encoding: str):
        self.stream = stream
        self.consumed = 0
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
        self._first = True
        self._done = False

    def read(self, size: int = -1) -> bytes:
        if self._done:
            return b""
        while True:
            block = self.stream.read(size)
            self.consumed += len(block)
            text = self._decoder.decode(block, final=not block)
            if self._first and text:
                text = text.lstrip("\ufeff")
                self._first = False
            if not block:
                self._done = True
                return text.encode("utf-8")
            if text:
                return text.encode("utf-8")
