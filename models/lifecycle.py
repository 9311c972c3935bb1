"""Training every kind of model and storing it: the one path ``hcp models train``, the scheduler's
monthly retraining and ``hcp demo`` share.

A kind with too little data (a new install, a small county) is skipped with its clear message and no
model — never a crash, never a model that pretends. The model in use stays the last one trained.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from models import registry, store
from warehouse.client import Warehouse


@dataclass(frozen=True)
class Trained:
    kind: str
    directory: Path | None  # None: not trained
    message: str = ""       # why not (TooLittleData), in the chosen language


def train(wh: Warehouse, names: list[str] | None = None, *, seed: int = 0, progress: registry.Progress | None = None,
          lang: str = "zh") -> list[Trained]:
    """Train the kinds named (default: all of :data:`models.registry.KINDS`) on the warehouse and store
    each model; one :class:`Trained` per kind, in order."""
    done = []
    for name in names or list(registry.KINDS):
        kind = registry.kind(name)
        try:
            result = kind.train(wh, seed=seed, progress=progress or (lambda message: None), lang=lang)
        except store.TooLittleData as exc:
            done.append(Trained(name, None, str(exc)))
            continue
        done.append(Trained(name, store.save(name, result.estimator, result.manifest)))
    return done
