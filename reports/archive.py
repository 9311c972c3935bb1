"""The report archive: every published bulletin and digest, with a manifest, exactly once per data version.

Layout (default ``$HCP_HOME/reports/``, or ``[reports] archive_dir``)::

    monthly/2025-10/all/v1/        bulletin-2025-10.pdf, .html, workbook-2025-10.xlsx, figures.json, manifest.json
    monthly/2025-10/370200000000/v1/   a city office's bulletin (scope = its region code; ".en" for English)
    monthly/2025-10/all/checked.json   the last data version found to give the same figures as the latest version
    digest/2025-10-29/all/v1/      digest-2025-10-29.json, .txt, manifest.json
    runs.jsonl                     every attempt of every job: ok / same data / unchanged / retry / failed
    failures/                      one record per run that failed after all its retries
    scheduler.json                 what the scheduler has handled (see reports.scheduler)

**Manifest** (``manifest.json`` in each version): kind, period, scope, lang, version, the data version
(``data_watermark`` = newest ``received_at`` of the raw tables, ``settings`` = fingerprint of the scoring
and rectification settings), ``checksum`` (``sha256:`` of the canonical JSON of the figures — no run
time in it), ``files`` (name, sha256, bytes), ``supersedes`` and, outside the checksum, ``generated_at``
and ``trigger``.

**Exactly once.** :meth:`Archive.publish` holds an exclusive lock on the archive (a ``flock`` on
``.lock``, so two schedulers or a scheduler and a manual run cannot race), then:

1. if the latest version of (kind, period, scope) — or ``checked.json`` — has the current data version,
   nothing is computed and nothing is written (**same data**);
2. otherwise the figures are computed; if their checksum equals the latest version's, no new version is
   written, only ``checked.json`` (**unchanged**: new data arrived, but not for these figures);
3. otherwise version N+1 is written: files into a temporary directory, then one atomic rename. A crash
   leaves at most a temporary directory, never a half-published version.

So a restart or a repeated run never publishes a second bulletin for the same month and data, and a new
version appears only when the data watermark moved *and* the figures changed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from hcp.config import Config, get_config
from hcp.locks import file_lock
from reports.figures import DataVersion
from warehouse.client import SHANGHAI

MANIFEST = "manifest.json"
#: The archive roots whose lock the current thread holds.
_HELD = threading.local()


def default_root(config: Config | None = None) -> Path:
    """Where published reports go: ``[reports] archive_dir``, else ``$HCP_HOME/reports``."""
    return (config or get_config()).reports.archive_root()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@dataclass
class Computed:
    """What a publisher computed: its data version, the checksum of its figures, and what to render."""

    version: DataVersion
    checksum: str
    payload: object


@dataclass
class Published:
    status: str  # new | same-data | unchanged
    manifest: dict
    directory: Path

    @property
    def files(self) -> list[Path]:
        return [self.directory / f["name"] for f in self.manifest["files"]]


class Archive:
    def __init__(self, root: Path | str | None = None, *, clock: Callable[[], dt.datetime] | None = None):
        self.root = Path(root) if root is not None else default_root()
        self.clock = clock or (lambda: dt.datetime.now(SHANGHAI))

    # Locking -------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive across threads and processes (:func:`hcp.locks.file_lock` on ``.lock``), re-entrant
        within a thread."""
        held = _HELD.__dict__.setdefault("roots", set())
        key = self.root.resolve()
        if key in held:
            yield
            return
        with file_lock(self.root / ".lock"):
            held.add(key)
            try:
                yield
            finally:
                held.discard(key)

    # Reading -------------------------------------------------------------------------------------
    def folder(self, kind: str, period: str, scope: str) -> Path:
        return self.root / kind / period / scope

    def versions(self, kind: str, period: str, scope: str) -> list[dict]:
        """Manifests of the published versions, oldest first."""
        folder = self.folder(kind, period, scope)
        found = []
        if folder.is_dir():
            for child in folder.iterdir():
                if child.is_dir() and child.name.startswith("v") and child.name[1:].isdigit() and (child / MANIFEST).exists():
                    found.append(json.loads((child / MANIFEST).read_text(encoding="utf-8")))
        return sorted(found, key=lambda m: m["version"])

    def latest(self, kind: str, period: str, scope: str) -> dict | None:
        versions = self.versions(kind, period, scope)
        return versions[-1] if versions else None

    def _checked(self, kind: str, period: str, scope: str) -> dict | None:
        path = self.folder(kind, period, scope) / "checked.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None

    # Publishing ----------------------------------------------------------------------------------
    def publish(self, *, kind: str, period: str, scope: str, lang: str, current: Callable[[], DataVersion],
                compute: Callable[[], Computed], render: Callable[[object, int], dict[str, bytes]],
                trigger: str) -> Published:
        """Publish (kind, period, scope) once per data version; see the module docstring."""
        with self.lock():
            latest = self.latest(kind, period, scope)
            folder = self.folder(kind, period, scope)
            if latest is not None:
                seen = {latest["data_version"]}
                checked = self._checked(kind, period, scope)
                if checked and checked.get("version") == latest["version"]:
                    seen.add(checked["data_version"])
                if current().key in seen:
                    return Published("same-data", latest, folder / f"v{latest['version']}")
            computed = compute()
            if latest is not None and latest["checksum"] == computed.checksum:
                _write_atomic(folder / "checked.json", json.dumps(
                    {"version": latest["version"], "data_version": computed.version.key,
                     "data_watermark": computed.version.watermark, "checksum": computed.checksum,
                     "checked_at": self._now()}, ensure_ascii=False, indent=2))
                return Published("unchanged", latest, folder / f"v{latest['version']}")
            number = (latest["version"] + 1) if latest else 1
            files = render(computed.payload, number)
            manifest = {
                "kind": kind, "period": period, "scope": scope, "lang": lang, "version": number,
                "data_watermark": computed.version.watermark, "settings": computed.version.settings,
                "data_version": computed.version.key, "checksum": computed.checksum,
                "files": [{"name": name, "sha256": sha256(data), "bytes": len(data)}
                          for name, data in sorted(files.items())],
                "supersedes": latest["version"] if latest else None,
                "trigger": trigger, "generated_at": self._now(),
            }
            final = folder / f"v{number}"
            tmp = folder / f".v{number}.{os.getpid()}.tmp"
            if tmp.exists():
                shutil.rmtree(tmp)
            tmp.mkdir(parents=True)
            for name, data in files.items():
                (tmp / name).write_bytes(data)
            (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
            os.rename(tmp, final)
            return Published("new", manifest, final)

    # Run log and failures ------------------------------------------------------------------------
    def _now(self) -> str:
        return self.clock().astimezone(SHANGHAI).isoformat(timespec="seconds")

    def log(self, record: dict) -> None:
        """Append one line to ``runs.jsonl`` (the time is the scheduler's clock)."""
        with self.lock():
            self.root.mkdir(parents=True, exist_ok=True)
            with open(self.root / "runs.jsonl", "a", encoding="utf-8") as handle:
                handle.write(json.dumps({"at": self._now(), **record}, ensure_ascii=False, sort_keys=True) + "\n")

    def runs(self) -> list[dict]:
        path = self.root / "runs.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def record_failure(self, job: str, key: str, attempts: list[dict]) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in key)
        path = self.root / "failures" / f"{job}-{safe}.json"
        with self.lock():
            _write_atomic(path, json.dumps({"job": job, "key": key, "reported_at": self._now(),
                                            "attempts": attempts}, ensure_ascii=False, indent=2))
        return path

    def failures(self) -> list[dict]:
        return [json.loads(p.read_text(encoding="utf-8")) for p in sorted((self.root / "failures").glob("*.json"))]

    # Scheduler state -----------------------------------------------------------------------------
    def read_state(self) -> dict:
        path = self.root / "scheduler.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}

    def write_state(self, state: dict) -> None:
        with self.lock():
            _write_atomic(self.root / "scheduler.json", json.dumps(state, ensure_ascii=False, indent=2, sort_keys=True))
