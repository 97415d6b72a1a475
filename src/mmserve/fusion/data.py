"""Feature data sets (features of every row + targets), splits, and their files. numpy only."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmserve.errors import ConfigError
from mmserve.fusion.features import ModalityArrays, ModalitySpec, check_features

CLASSIFICATION = "classification"
REGRESSION = "regression"


@dataclass(frozen=True, kw_only=True)
class TargetSpec:
    """One prediction target: a head of its own on the shared trunk."""

    name: str
    kind: str = CLASSIFICATION
    classes: tuple[str, ...] = ()  # label names; a row's label is an index into them
    weight: float = 1.0  # lambda_t: loss = sum_t lambda_t * L_t

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", tuple(self.classes))
        if self.kind not in (CLASSIFICATION, REGRESSION):
            raise ConfigError(f"target {self.name!r}: kind must be classification or regression")
        if self.kind == CLASSIFICATION and len(self.classes) < 2:
            raise ConfigError(f"target {self.name!r}: name at least two classes")
        if self.kind == REGRESSION and self.classes:
            raise ConfigError(f"target {self.name!r}: a regression target has no classes")
        if self.weight < 0:
            raise ConfigError(f"target {self.name!r}: weight must be >= 0")

    @property
    def n_outputs(self) -> int:
        return len(self.classes) if self.kind == CLASSIFICATION else 1


@dataclass(frozen=True)
class Split:
    """Row indices of each part; fixed by a seed, or given."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def to_dict(self) -> dict[str, list[int]]:
        return {k: getattr(self, k).tolist() for k in ("train", "val", "test")}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Iterable[int]]) -> Split:
        return cls(*(np.asarray(list(raw[k]), np.int64) for k in ("train", "val", "test")))


@dataclass(frozen=True)
class FeatureDataset:
    features: dict[str, ModalityArrays]  # modality -> arrays over all rows
    targets: dict[str, np.ndarray]  # target -> (rows,) int64 class index, or float32 value
    specs: dict[str, ModalitySpec]
    target_specs: tuple[TargetSpec, ...]

    def __post_init__(self) -> None:
        check_features(self.features, self.specs)
        names = [t.name for t in self.target_specs]
        if not names or sorted(names) != sorted(self.targets):
            raise ValueError(f"targets {sorted(self.targets)} do not match specs {names}")
        for spec in self.target_specs:
            y = self.targets[spec.name]
            if y.shape != (len(self),):
                raise ValueError(f"target {spec.name!r} has shape {y.shape}; want ({len(self)},)")
            if spec.kind == CLASSIFICATION and (y.min() < 0 or y.max() >= len(spec.classes)):
                raise ValueError(f"target {spec.name!r} has labels outside 0..{spec.n_outputs - 1}")

    def __len__(self) -> int:
        return len(next(iter(self.features.values())))

    def take(self, index: np.ndarray) -> FeatureDataset:
        return FeatureDataset(
            {m: a.take(index) for m, a in self.features.items()},
            {t: y[index] for t, y in self.targets.items()},
            self.specs,
            self.target_specs,
        )

    def select(self, modalities: Iterable[str]) -> FeatureDataset:
        """The same rows seen through fewer modalities (single-modality baselines)."""
        keep = list(modalities)
        unknown = sorted(set(keep) - set(self.specs))
        if unknown or not keep:
            raise ValueError(f"unknown modality {unknown}; have {list(self.specs)}")
        return FeatureDataset(
            {m: self.features[m] for m in keep},
            self.targets,
            {m: self.specs[m] for m in keep},
            self.target_specs,
        )

    def save(self, path: str | Path) -> None:
        """One .npz file: arrays plus a JSON header with the specs."""
        header = {
            "specs": {m: asdict(s) for m, s in self.specs.items()},
            "targets": [asdict(t) for t in self.target_specs],
        }
        arrays: dict[str, Any] = {"header": np.array(json.dumps(header))}
        for m, a in self.features.items():
            arrays |= {
                f"{m}.tokens": a.tokens,
                f"{m}.present": a.present,
                f"{m}.lengths": a.lengths,
            }
        arrays |= {f"target.{t}": y for t, y in self.targets.items()}
        np.savez_compressed(path, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> FeatureDataset:
        with np.load(path, allow_pickle=False) as f:
            header = json.loads(str(f["header"]))
            specs = {m: ModalitySpec(**s) for m, s in header["specs"].items()}
            features = {
                m: ModalityArrays(f[f"{m}.tokens"], f[f"{m}.present"], f[f"{m}.lengths"])
                for m in specs
            }
            target_specs = tuple(TargetSpec(**t) for t in header["targets"])
            targets = {t.name: f[f"target.{t.name}"] for t in target_specs}
        return cls(features, targets, specs, target_specs)


def make_split(
    n: int,
    *,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    stratify: np.ndarray | None = None,
) -> Split:
    """A seeded split; with `stratify` (class labels) every class keeps its share in each
    part, so a rare class cannot vanish from the validation set that early stopping reads."""
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ConfigError("val_fraction and test_fraction must be in (0, 1) and sum below 1")
    rng = np.random.default_rng(seed)
    groups = (
        [np.arange(n)]
        if stratify is None
        else [np.flatnonzero(stratify == c) for c in np.unique(stratify)]
    )
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for group in groups:
        rows = rng.permutation(group)
        n_val, n_test = round(len(rows) * val_fraction), round(len(rows) * test_fraction)
        parts["val"].append(rows[:n_val])
        parts["test"].append(rows[n_val : n_val + n_test])
        parts["train"].append(rows[n_val + n_test :])
    split = Split(*(np.sort(np.concatenate(parts[k])) for k in ("train", "val", "test")))
    if min(len(split.train), len(split.val), len(split.test)) == 0:
        raise ConfigError(f"{n} rows are too few to split into train, val and test")
    return split
