"""The file of labelled manipulation episodes: what a test bed (the demo generator) writes beside its
interchange files and the anomaly detector's evaluation reads. It is never ingested, so the detector never
sees the labels it is judged on.

``<out>/labels/manipulation.json``::

    {"generator": "...", "seed": 7, "kinds": [...], "ratings": N,
     "episodes": [{"kind": "device_pressing", "rating_ids": [...], ...}, ...]}
"""

from __future__ import annotations

import json
from pathlib import Path

LABELS_DIR = "labels"
LABELS_FILE = "manipulation.json"


def read_labels(path: Path) -> list[dict]:
    """The episodes of a labels file."""
    return json.loads(Path(path).read_text(encoding="utf-8"))["episodes"]
