"""Where trained models live, and how they are loaded safely.

Layout under ``$HCP_HOME/models/`` (every directory 0700, :func:`hcp.settings.private_dir`)::

    models/<kind>/v<N>/model.skops      the fitted estimator, in skops format (no pickle)
    models/<kind>/v<N>/manifest.json    training window, data watermark, metrics, library versions, checksum
    models/<kind>/current.json          {"version": N} — written last, atomically: a half-written model
                                        is never current

**Loading is safe.** skops reads only the object types it is told to trust; :data:`TRUSTED_TYPES` lists,
per kind, the scikit-learn and numpy types its model is made of, and a file that needs anything else is refused
(a raw pickle could run any code it carries). The file's SHA-256 must match the manifest's checksum.

**Versions.** A model is only used with the library versions it was trained with (scikit-learn, numpy,
scipy, skops) and the same feature definition (``feature_version``); otherwise :class:`ModelIncompatible`
says so and how to retrain (``hcp models train <kind>``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
from pathlib import Path

from hcp.errors import HcpError
from hcp.i18n import tr
from hcp.settings import hcp_home, private_dir

#: The plain types every model file is made of besides its estimators.
_COMMON_TYPES = ("numpy.dtype", "numpy.ndarray", "numpy.float64", "numpy.int64", "builtins.slice")
#: kind → the only object types its model file may contain (skops refuses anything else on load): a file
#: of one kind holding another kind's estimator (a tree in the risk model's place) is refused too.
TRUSTED_TYPES: dict[str, tuple[str, ...]] = {
    "risk": ("sklearn.pipeline.Pipeline", "sklearn.preprocessing._data.StandardScaler",
             "sklearn.linear_model._logistic.LogisticRegression", *_COMMON_TYPES),
    "cause": ("sklearn.pipeline.Pipeline", "sklearn.feature_extraction.text.TfidfVectorizer",
              "sklearn.feature_extraction.text.TfidfTransformer",
              "sklearn.linear_model._logistic.LogisticRegression", *_COMMON_TYPES),
    "anomaly": ("sklearn.pipeline.Pipeline", "sklearn.preprocessing._data.StandardScaler",
                "sklearn.ensemble._iforest.IsolationForest", "sklearn.tree._classes.ExtraTreeRegressor",
                "sklearn.tree._tree.Tree", *_COMMON_TYPES),
}
#: Libraries whose versions must match between training and use.
PINNED_LIBRARIES = ("sklearn", "numpy", "scipy", "skops")


class ModelMissing(HcpError):
    """No trained model of this kind (yet)."""


class ModelIncompatible(HcpError):
    """A stored model that cannot be used as it is: other library versions, another feature definition,
    a damaged file or untrusted content."""


class TooLittleData(HcpError):
    """The warehouse does not hold enough history to train (or honestly test) a model."""


def models_root() -> Path:
    return hcp_home() / "models"


def library_versions() -> dict[str, str]:
    import numpy  # lazy: the heavy model libraries, loaded only to record their versions
    import polars  # lazy: the heavy model libraries, loaded only to record their versions
    import scipy  # lazy: the heavy model libraries, loaded only to record their versions
    import sklearn  # lazy: the heavy model libraries, loaded only to record their versions
    import skops  # lazy: the heavy model libraries, loaded only to record their versions

    return {"sklearn": sklearn.__version__, "numpy": numpy.__version__, "scipy": scipy.__version__,
            "skops": skops.__version__, "polars": polars.__version__, "python": platform.python_version()}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_private(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)


def current_version(kind: str) -> int | None:
    pointer = models_root() / kind / "current.json"
    if not pointer.exists():
        return None
    return int(json.loads(pointer.read_text(encoding="utf-8"))["version"])


def save(kind: str, estimator, manifest: dict) -> Path:
    """Store a new version of ``kind`` and make it current; returns its directory."""
    import skops.io  # lazy: skops loads scikit-learn; only to save or load a model

    base = private_dir(models_root() / kind)
    version = max([int(p.name[1:]) for p in base.glob("v*") if p.name[1:].isdigit()] or [0]) + 1
    directory = private_dir(base / f"v{version}")
    model_path = directory / "model.skops"
    skops.io.dump(estimator, model_path)
    os.chmod(model_path, 0o600)
    manifest = {**manifest, "kind": kind, "version": version, "libraries": library_versions(),
                "file": model_path.name, "sha256": _sha256(model_path)}
    _write_private(directory / "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2, default=str))
    _write_private(base / "current.json", json.dumps({"version": version}))
    return directory


def load_manifest(kind: str, lang: str = "zh") -> dict:
    version = current_version(kind)
    if version is None:
        raise ModelMissing(tr(lang, f"尚无 {kind} 模型：请先运行 hcp models train {kind}",
                              f"no {kind} model yet: run `hcp models train {kind}` first"))
    return json.loads((models_root() / kind / f"v{version}" / "manifest.json").read_text(encoding="utf-8"))


def check_compatible(manifest: dict, feature_version: int, lang: str = "zh") -> None:
    """Refuse a model trained with other library versions or another feature definition."""
    kind = manifest["kind"]
    now = library_versions()
    changed = [f"{lib} {manifest['libraries'].get(lib)} → {now[lib]}" for lib in PINNED_LIBRARIES
               if manifest["libraries"].get(lib) != now[lib]]
    if manifest.get("feature_version") != feature_version:
        changed.append(f"features v{manifest.get('feature_version')} → v{feature_version}")
    if changed:
        raise ModelIncompatible(tr(
            lang,
            f"{kind} 模型 v{manifest['version']} 由其他版本训练（{'; '.join(changed)}），不能使用：请运行 hcp models train {kind} 重新训练",
            f"{kind} model v{manifest['version']} was trained with other versions ({'; '.join(changed)}) and is "
            f"not used: retrain it with `hcp models train {kind}`"))


def load(kind: str, feature_version: int, lang: str = "zh"):
    """The current model of ``kind`` and its manifest, checked (versions, checksum, trusted types).

    The manifest and the file's checksum are read on every call (a retrained model is used at once); the
    model itself is loaded once per file and checksum (:func:`_load_checked`): loading costs ~0.45 s, and
    the dashboard asks for it on every click of its pages."""
    manifest = load_manifest(kind, lang)
    check_compatible(manifest, feature_version, lang)
    path = models_root() / kind / f"v{manifest['version']}" / manifest["file"]
    if not path.exists() or _sha256(path) != manifest["sha256"]:
        raise ModelIncompatible(tr(lang, f"{kind} 模型文件缺失或已损坏（校验和不符）：请运行 hcp models train {kind}",
                                   f"the {kind} model file is missing or damaged (checksum mismatch): "
                                   f"run `hcp models train {kind}`"))
    model, untrusted = _load_checked(str(path), manifest["sha256"], tuple(TRUSTED_TYPES.get(kind, ())))
    if untrusted:
        raise ModelIncompatible(tr(lang, f"{kind} 模型文件含有不受信任的类型 {untrusted}，拒绝加载",
                                   f"the {kind} model file holds untrusted types {untrusted}; refused"))
    return model, manifest


@functools.lru_cache(maxsize=8)
def _load_checked(path: str, sha256: str, trusted: tuple[str, ...]) -> tuple[object | None, list[str]]:  # noqa: ARG001 - sha256: the key
    """The model in ``path`` (whose checksum ``sha256`` the caller has just verified) and ``[]``, or None and
    the types in the file that are not ``trusted`` (nothing of it is loaded then). Kept for the next call with
    the same file, checksum and trusted types."""
    import skops.io  # lazy: skops loads scikit-learn; only to save or load a model

    untrusted = [t for t in skops.io.get_untrusted_types(file=path) if t not in trusted]
    if untrusted:
        return None, untrusted
    return skops.io.load(path, trusted=list(trusted)), []
