"""Which files ``hcp ingest`` reads, in which order.

A directory stands for the interchange files in it (by extension; ``manifest.json`` and other names are
left out). Reference data goes first — regions, then departments, then items, by the file's name — so the
facts that follow find their department and catalogue entry (a case event read before its item's
catalogue entry would be flagged ``item_known = false``); within each rank the order given (a directory's
files by name) is kept.
"""

from __future__ import annotations

import os
from pathlib import Path

from ingest.readers import _EXTENSIONS

#: A file whose name starts with one of these holds reference data of that rank (lower first).
REFERENCE_RANK = (("region", 0), ("department", 1), ("dept", 1), ("item", 2))
#: Files in a directory that are not interchange records.
NOT_RECORDS = {"manifest.json"}


def rank(path: str) -> int:
    """0 regions, 1 departments, 2 items, 3 anything else (facts, mixed files, stdin)."""
    name = os.path.basename(path).lower()
    return next((r for prefix, r in REFERENCE_RANK if name.startswith(prefix)), 3)


def directory_files(directory: str) -> list[str]:
    """The interchange files of a directory (one level), by name."""
    return sorted(str(p) for p in Path(directory).iterdir()
                  if p.is_file() and p.name not in NOT_RECORDS and not p.name.startswith(".")
                  and any(p.name.lower().endswith(ext) for ext in _EXTENSIONS))


def expand(paths: list[str] | tuple[str, ...]) -> list[str]:
    """The files to read for ``paths``: directories expanded, reference data first (stable)."""
    files: list[str] = []
    for path in paths:
        files += directory_files(path) if path != "-" and os.path.isdir(path) else [path]
    return sorted(files, key=rank)
