"""Named label sets for zero-shot classification: the labels, their embeddings, the model
that made them. Persistence only (no Flask, no model).

    LabelSetStore(root).create(LabelSet, vectors) / get(name) -> (LabelSet, vectors)
                        .list() -> [LabelSet] / .delete(name)

One set is two files under root: <name>.npy, the (labels, dim) float32 vectors, written
first; then <name>.json, the metadata, whose atomic rename commits the set. A crash between
the two leaves an orphan .npy that no listing shows and the next create of that name
replaces. The embeddings are computed once, at creation, and survive restarts.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmserve.errors import InvalidRequest, NotFound
from mmserve.files import write_atomically
from mmserve.store import names


@dataclass(frozen=True)
class LabelSet:
    name: str
    labels: tuple[str, ...]
    model: str
    prompt: str  # "{}" is replaced by each label before embedding
    dimensions: int
    created_at: int  # Unix seconds

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"labels": list(self.labels)}


def check_name(name: str, field: str = "name") -> str:
    return names.check_name(name, names.LABEL_SET, field)


class LabelSetStore:
    def __init__(self, root: Path):
        self.root = root
        self._lock = threading.Lock()  # one writer at a time; readers see committed sets

    def create(self, label_set: LabelSet, vectors: np.ndarray) -> LabelSet:
        check_name(label_set.name)
        if vectors.shape != (len(label_set.labels), label_set.dimensions):
            raise ValueError(f"vectors {vectors.shape} do not match the label set")
        with self._lock:
            if self._json(label_set.name).exists():
                raise InvalidRequest(
                    f"name: label set {label_set.name!r} exists; delete it first "
                    f"(DELETE /v1/label-sets/{label_set.name}) to replace it",
                    param="name",
                    code="label_set_exists",
                )
            self.root.mkdir(parents=True, exist_ok=True)
            self._write(self._npy(label_set.name), lambda f: np.save(f, vectors.astype("<f4")))
            body = json.dumps(label_set.to_dict(), ensure_ascii=False).encode()
            self._write(self._json(label_set.name), lambda f: f.write(body))
        return label_set

    def get(self, name: str) -> tuple[LabelSet, np.ndarray]:
        label_set = self._read(name)
        vectors = np.load(self._npy(name))
        return label_set, vectors

    def list(self) -> list[LabelSet]:
        if not self.root.is_dir():
            return []
        return [self._read(p.stem) for p in sorted(self.root.glob("*.json"))]

    def delete(self, name: str) -> None:
        with self._lock:
            self._read(name)  # 404 if absent
            self._json(name).unlink()  # the commit marker first: a crash leaves an orphan
            self._npy(name).unlink(missing_ok=True)

    def _read(self, name: str) -> LabelSet:
        check_name(name)
        try:
            data = json.loads(self._json(name).read_text(encoding="utf-8"))
        except FileNotFoundError:
            known = ", ".join(p.stem for p in sorted(self.root.glob("*.json"))) or "none"
            raise NotFound(
                f"no label set named {name!r}; existing: {known}",
                param="label_set",
                code="label_set_not_found",
            ) from None
        return LabelSet(**data | {"labels": tuple(data["labels"])})

    def _json(self, name: str) -> Path:
        return self.root / f"{name}.json"

    def _npy(self, name: str) -> Path:
        return self.root / f"{name}.npy"

    def _write(self, path: Path, write: Callable[[Any], Any]) -> None:
        write_atomically(path, write)


def now() -> int:
    return int(time.time())
