"""The file of labelled manipulation episodes: what a test bed (the demo generator) writes beside its
interchange files and the anomaly detector's evaluation reads. It is never ingested, so the detector never
sees the labels it is judged on.

``<out>/labels/manipulation.json``::

    {"generator": "...", "seed": 7, "kinds": [...], "ratings": N,
     "episodes": [{"kind": "device_press", "rating_ids": [...], ...}, ...]}
"""

from __future__ import annotations

import json
from pathlib import Path

#: The episode kinds a labels file may name, in words (Chinese, English).
EPISODE_KINDS = {
    "device_press": ("窗口按评价器", "a window pressing its device"),
    "one_phone": ("一部手机评多件", "one phone rating many cases"),
    "fast_five": ("办结即五星", "five stars seconds after completion"),
    "month_end": ("月末突击", "month-end surge"),
}
LABELS_DIR = "labels"
LABELS_FILE = "manipulation.json"


def read_labels(path: Path) -> list[dict]:
    """The episodes of a labels file."""
    return json.loads(Path(path).read_text(encoding="utf-8"))["episodes"]
