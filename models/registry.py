"""The kinds of model hcp trains, each behind the same small interface, so that ``hcp models train``,
``hcp models evaluate``, the store and the scheduler treat them alike.

A kind is a :class:`ModelKind` in the module named by :data:`KINDS` (imported only when used, like the
CLI's commands). To add one (e.g. ``cause`` or ``anomaly``): write ``models/<kind>.py`` with a
``KIND = ModelKind(...)``, add its line to :data:`KINDS`, a model card to ``docs/models.md`` and tests.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable

#: kind → "module:attribute" of its :class:`ModelKind`. Order is the order of ``hcp models train``.
KINDS = {
    "risk": "models.risk:KIND",
    "cause": "models.cause:KIND",
    "anomaly": "models.anomaly:KIND",
}

Progress = Callable[[str], None]


@dataclass
class TrainResult:
    """A fitted estimator (stored with skops; its types must be in its kind's :data:`models.store.TRUSTED_TYPES`) and
    its manifest: training window, data watermark, evaluation against the baselines, anything the kind
    needs at use (feature names, …). The store adds versions, libraries and the checksum."""

    estimator: object
    manifest: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ModelKind:
    name: str
    label: tuple[str, str]  # (Chinese, English)
    #: Bumped when the features change: a model of another feature version is refused.
    feature_version: int
    #: ``train(wh, seed, progress, lang) -> TrainResult``; raises :class:`models.store.TooLittleData`.
    train: Callable[..., TrainResult]
    #: ``evaluation_lines(manifest, lang) -> list[str]``: the table form of ``hcp models evaluate``.
    evaluation_lines: Callable[[dict, str], list[str]]


def kind(name: str) -> ModelKind:
    module, attribute = KINDS[name].split(":")
    return getattr(importlib.import_module(module), attribute)
