"""The registry of servable fusion models, in the data directory: persistence only.

    <data_dir>/fusion/registry.json        names -> versions, the active one, its history
    <data_dir>/fusion/models/<name>/v<k>/  a copy of each registered artifact directory

Registering copies the artifact in (the trainer's output can then be deleted or
overwritten without touching what is served) and, by default, activates it. Versions are
never overwritten; `rollback` re-activates the version that was active before the current
one. Every change rewrites registry.json atomically under a file lock, so the CLI and a
running server (or two CLIs) can change it at the same time; a server notices a change by
the file's stat (`stamp()`), one syscall per request, and reloads without a restart.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmserve.errors import InvalidRequest, NotFound
from mmserve.files import replaced_dir_atomically, write_atomically
from mmserve.store.names import FUSION_MODEL, check_name

REGISTRY, LOCK = "registry.json", "registry.lock"


@dataclass(frozen=True)
class FusionVersion:
    name: str
    version: int
    path: Path  # the registry's copy
    source: str  # where it was registered from
    registered_at: float
    summary: dict[str, Any]  # strategy, modalities, targets, test metrics

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "path": str(self.path),
            "source": self.source,
            "registered_at": self.registered_at,
            **self.summary,
        }


@dataclass(frozen=True)
class FusionEntry:
    name: str
    active: int | None
    versions: tuple[FusionVersion, ...]
    history: tuple[int, ...]  # versions activated, oldest first

    def version(self, number: int) -> FusionVersion:
        for v in self.versions:
            if v.version == number:
                return v
        raise NotFound(
            f"fusion model {self.name!r} has no version {number}; it has "
            f"{', '.join(str(v.version) for v in self.versions)}",
            param="version",
            code="version_not_found",
        )

    @property
    def active_version(self) -> FusionVersion | None:
        return None if self.active is None else self.version(self.active)

    def as_dict(self) -> dict[str, Any]:
        return {
            "object": "fusion_model",
            "id": f"fusion/{self.name}",
            "name": self.name,
            "active_version": self.active,
            "versions": [v.as_dict() for v in self.versions],
        }


class FusionRegistry:
    def __init__(self, data_dir: str | Path):
        self.root = Path(data_dir) / "fusion"
        self.file = self.root / REGISTRY

    # --- reading ---------------------------------------------------------------------

    def stamp(self) -> tuple[int, int] | None:
        """Changes whenever the registry does: (mtime_ns, inode); None if there is none."""
        try:
            st = self.file.stat()
        except FileNotFoundError:
            return None
        return st.st_mtime_ns, st.st_ino

    def entries(self) -> list[FusionEntry]:
        raw = self._read()
        return [_entry(name, item) for name, item in sorted(raw["models"].items())]

    def get(self, name: str) -> FusionEntry:
        raw = self._read()
        if name not in raw["models"]:
            known = ", ".join(sorted(raw["models"])) or "none registered"
            raise NotFound(
                f"fusion model {name!r} is not registered; registered: {known}",
                param="model",
                code="model_not_found",
            )
        return _entry(name, raw["models"][name])

    # --- changing --------------------------------------------------------------------

    def register(
        self, name: str, artifact: str | Path, *, activate: bool = True, summary: dict[str, Any]
    ) -> FusionVersion:
        """Copy `artifact` in as the next version of `name` (created if new)."""
        check_name(name, FUSION_MODEL)
        source = Path(artifact).resolve()
        with self._locked() as raw:
            item = raw["models"].setdefault(name, {"active": None, "versions": [], "history": []})
            number = max((v["version"] for v in item["versions"]), default=0) + 1
            target = self.root / "models" / name / f"v{number}"
            with replaced_dir_atomically(target) as staging:
                shutil.copytree(source, staging, dirs_exist_ok=True)
            item["versions"].append(
                {
                    "version": number,
                    "path": str(target.relative_to(self.root)),
                    "source": str(source),
                    "registered_at": time.time(),
                    "summary": summary,
                }
            )
            if activate or item["active"] is None:
                _activate(item, number)
        return self.get(name).version(number)

    def activate(self, name: str, version: int) -> FusionEntry:
        with self._locked() as raw:
            entry = _entry(name, self._item(raw, name))
            entry.version(version)  # 404 naming the versions there are
            _activate(raw["models"][name], version)
        return self.get(name)

    def rollback(self, name: str) -> FusionEntry:
        """Activate the version active before the current one."""
        with self._locked() as raw:
            item = self._item(raw, name)
            history = [v for v in item["history"] if v != item["active"]]
            if not history:
                raise InvalidRequest(
                    f"fusion model {name!r} has no earlier active version to roll back to",
                    param="model",
                    code="nothing_to_roll_back",
                )
            item["history"] = [v for v in item["history"] if v != item["active"]]
            item["active"] = item["history"][-1]
        return self.get(name)

    def remove(self, name: str) -> None:
        with self._locked() as raw:
            self._item(raw, name)
            del raw["models"][name]
        shutil.rmtree(self.root / "models" / name, ignore_errors=True)

    # --- internals -------------------------------------------------------------------

    def _item(self, raw: dict[str, Any], name: str) -> dict[str, Any]:
        if name not in raw["models"]:
            self.get(name)  # raises NotFound with the known names
        item: dict[str, Any] = raw["models"][name]
        return item

    def _read(self) -> dict[str, Any]:
        try:
            raw: dict[str, Any] = json.loads(self.file.read_text())
        except FileNotFoundError:
            return {"models": {}}
        for item in raw["models"].values():  # paths are kept relative: the dir may move
            for v in item["versions"]:
                v["path"] = str(self.root / v["path"])
        return raw

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        """The registry under an exclusive lock; written back (atomically) on success."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / LOCK).open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                raw = json.loads(self.file.read_text()) if self.file.exists() else {"models": {}}
                yield raw
                write_atomically(self.file, json.dumps(raw, indent=2).encode())
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _activate(item: dict[str, Any], version: int) -> None:
    item["active"] = version
    item["history"] = [v for v in item["history"] if v != version] + [version]


def _entry(name: str, item: dict[str, Any]) -> FusionEntry:
    versions = tuple(
        FusionVersion(
            name,
            v["version"],
            Path(v["path"]),
            v["source"],
            v["registered_at"],
            v.get("summary", {}),
        )
        for v in item["versions"]
    )
    return FusionEntry(name, item["active"], versions, tuple(item["history"]))
