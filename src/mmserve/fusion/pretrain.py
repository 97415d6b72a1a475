"""Self-supervised pretraining of a fusion trunk on unlabeled rows, and transfer from it.

The pretext task is cross-modal matching: is this row as it was recorded ("real"), or has
one of its modalities been swapped for another row's ("swapped")? Each row appears once as
it is and, for each modality it has beside another, once with that modality taken from a
random other row. The whole fusion model (strategy, trunk, a two-class head) is trained on
that with the ordinary trainer (fusion/train.py: split, early stopping, progress bar).

Why matching and not masked-modality reconstruction: reconstruction teaches each modality
to predict the others' features, through single-modality inputs, and needs a decoder per
1280-d output; what a downstream fusion head needs is the trunk's representation of the
modalities *together*: whether and how they agree. Matching trains exactly that path, is a
contrastive loss between the modalities of a row (negatives from other rows) in
classification form, and costs one small head. On the fusion demo data (does the caption
match the picture?) it is the downstream task without its labels, which is the point of
pretraining: see the label-efficiency figure in docs/training.md.

Transfer: `transfer_state(trunk_or_model, dataset)` -> the FusionConfig to fine-tune with
(the source's strategy, options and trunk; the new data set's targets) and the source's
weights for everything but the heads. Works from a pretrained trunk or any trained fusion
model (a new target, a new task). `freeze=True` in train() then trains the heads alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmserve.errors import ConfigError
from mmserve.fusion.data import FeatureDataset, Split, TargetSpec
from mmserve.fusion.dataset import Table, read_table
from mmserve.fusion.encoders import (
    EncoderSet,
    FeatureCache,
    encode_rows,
    encoders_for,
    feature_cache_dir,
)
from mmserve.fusion.features import ModalityArrays, ModalitySpec, collate
from mmserve.media import MediaPolicy

PRETEXT = "pretext"  # the target name of the matching head
CLASSES = ("real", "swapped")
KIND = "pretrained-trunk"  # training["kind"] in a trunk artifact's config.json
MIN_PER_CLASS = 2  # few_labels: so no class vanishes from a small labelled subset
NOT_TRANSFERRED = ("heads.", "target_mean", "target_std")  # task-specific state


def matching_dataset(
    features: Mapping[str, ModalityArrays], specs: Mapping[str, ModalitySpec], seed: int
) -> FeatureDataset:
    """The rows as they are (label "real") + one copy per modality with that modality
    swapped for another row's ("swapped"), over rows that have it and something else."""
    n = len(next(iter(features.values())))
    rng = np.random.default_rng(seed)
    present = np.stack([features[m].present for m in specs], 1)  # (rows, modalities)
    index = {m: [np.arange(n)] for m in specs}
    labels = [np.zeros(n, np.int64)]
    for k, m in enumerate(specs):
        rows = np.flatnonzero(present[:, k] & (present.sum(1) >= 2))
        if len(rows) < 2:
            continue
        order = rng.permutation(rows)
        partner = np.empty(n, np.int64)
        partner[order] = np.roll(order, 1)  # a derangement: nobody keeps its own
        for other in specs:
            index[other].append(partner[rows] if other == m else rows)
        labels.append(np.ones(len(rows), np.int64))
    if len(labels) == 1:
        raise ConfigError(
            "pretraining needs rows with two modalities or more: no row has a modality to swap"
        )
    arrays = {m: features[m].take(np.concatenate(index[m])) for m in specs}
    target = TargetSpec(name=PRETEXT, classes=CLASSES)
    return FeatureDataset(arrays, {PRETEXT: np.concatenate(labels)}, dict(specs), (target,))


def few_labels(split: Split, labels: np.ndarray, fraction: float, seed: int) -> Split:
    """The same test rows; a stratified `fraction` of the training and validation rows (at
    least MIN_PER_CLASS of each class): the label-efficiency experiments' few labels."""
    rng = np.random.default_rng(seed + 1000)

    def part(rows: np.ndarray) -> np.ndarray:
        kept = []
        for c in np.unique(labels[rows]):
            group = rng.permutation(rows[labels[rows] == c])
            kept.append(group[: max(MIN_PER_CLASS, round(len(group) * fraction))])
        return np.sort(np.concatenate(kept))

    return Split(part(split.train), part(split.val), split.test)


def transfer_state(source: str | Path, dataset: FeatureDataset) -> tuple[Any, dict[str, Any]]:
    """(FusionConfig for `dataset` shaped like the source, the source's weights without
    its heads). ConfigError when the source cannot take the data set's features."""
    from mmserve.fusion.artifact import load_model
    from mmserve.fusion.model import FusionConfig

    model, manifest = load_model(source)
    src = model.config
    if src.strategy == "late":
        raise ConfigError("a 'late' model has one trunk per target; it cannot be transferred")
    theirs = {m: (s.dim, s.encoder) for m, s in src.modalities.items()}
    ours = {m: (s.dim, s.encoder) for m, s in dataset.specs.items()}
    if theirs != ours:
        raise ConfigError(
            f"{Path(source).name} was trained on {_describe(theirs)}; this data has "
            f"{_describe(ours)}: the modalities and encoders must be the same"
        )
    config = FusionConfig(
        modalities=dataset.specs,
        targets=dataset.target_specs,
        strategy=src.strategy,
        options=src.options,
        trunk=src.trunk,
    )
    state = {k: v for k, v in model.state_dict().items() if not k.startswith(NOT_TRANSFERRED)}
    return config, state


def _describe(specs: Mapping[str, tuple[int, str]]) -> str:
    return ", ".join(f"{m} ({e}, {d}-d)" for m, (d, e) in specs.items())


@dataclass
class Unlabeled:
    features: dict[str, ModalityArrays]
    specs: dict[str, ModalitySpec]
    table: Table
    cache: FeatureCache

    def report(self) -> dict[str, Any]:
        out: dict[str, Any] = self.table.report.as_dict()
        out["features"] = {"cached": self.cache.hits, "encoded": self.cache.misses}
        return out


@dataclass
class PretrainOutcome:
    artifact: Path
    test: dict[str, Any]  # the pretext task on held-out (real + swapped) rows
    result: Any  # train.TrainResult


def load_unlabeled(
    path: Path,
    data_dir: Path,
    *,
    encoders: Mapping[str, str] | None = None,
    encoder_set: EncoderSet | None = None,
    policy: MediaPolicy | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Unlabeled:
    """Every row's features (labels, if any, are ignored), through the fusion data reader
    and the feature cache."""
    table = read_table(path, (), need_targets=False)
    chosen = encoders_for(table, encoders, encoder_set)
    cache = FeatureCache(feature_cache_dir(data_dir))
    rows, specs = encode_rows(table, chosen, cache, policy=policy, progress=progress)
    return Unlabeled(collate(rows, specs), specs, table, cache)


def pretrain_model(
    data: Unlabeled,
    out: str | Path,
    *,
    strategy: str = "attention",
    options: Mapping[str, Any] | None = None,
    train_config: Any = None,
    on_epoch: Callable[[Any], None] | None = None,
    overwrite: bool = False,
) -> PretrainOutcome:
    """Train the trunk on the matching task; save it as a fusion artifact (no ONNX: it is
    a starting point, not a servable model)."""
    from mmserve.fusion.artifact import save_artifact
    from mmserve.fusion.model import FusionConfig
    from mmserve.fusion.train import TrainConfig, evaluate, train

    tc = train_config or TrainConfig()
    dataset = matching_dataset(data.features, data.specs, tc.seed)
    config = FusionConfig.for_dataset(dataset, strategy, options=dict(options or {}))
    result = train(dataset, config, tc, on_epoch=on_epoch)
    test = evaluate(result.model, dataset.take(result.split.test))
    training = {
        "kind": KIND,
        **result.summary(),
        "data": str(data.table.path),
        "rows": len(data.table.rows),
        "pretext_rows": len(dataset),
        "data_report": data.report(),
    }
    path = save_artifact(out, result.model, metrics=test, training=training, overwrite=overwrite)
    return PretrainOutcome(path, test, result)
