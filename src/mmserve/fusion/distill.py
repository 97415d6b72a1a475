"""Distillation: a smaller fusion model (the student) trained on a trained one's (the
teacher's) temperature-softened outputs plus the labels (Hinton et al. 2015):

    loss = alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T))
         + (1 - alpha) * cross-entropy(student, label)           (labelled rows only)

The student may be narrower, shallower, use a cheaper strategy, or fewer modalities (a
text + image student of a text + image + audio teacher saves the audio encoder at serving
time). Unlabeled rows (another file) add teacher targets without labels. The split is the
teacher's (same data, same seed), so both are measured on rows neither trained on. The
student is saved, exported (ONNX fp32 + int8) and registered like any fusion model.

A regression target has no distribution to soften; its term is the squared error to the
teacher's value plus the squared error to the label, both in the target's standard
deviations (as fusion_loss measures it), weighed by alpha and 1 - alpha (T plays no part):

    alpha * ((student - teacher) / std)^2 + (1 - alpha) * ((student - label) / std)^2
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from mmserve.errors import ConfigError
from mmserve.fusion.batch import FeatureBatch
from mmserve.fusion.data import CLASSIFICATION, FeatureDataset, Split
from mmserve.fusion.early_stop import KeepBest
from mmserve.fusion.features import ModalityArrays, ModalitySpec
from mmserve.fusion.layers import TrunkConfig
from mmserve.fusion.metrics import score
from mmserve.fusion.model import FusionConfig, FusionModel
from mmserve.fusion.train import (
    EpochLog,
    TrainConfig,
    TrainResult,
    default_split,
    evaluate,
    fusion_loss,
)


@dataclass(frozen=True, kw_only=True)
class StudentSpec:
    """`--student strategy=early,hidden=32,trunk=32,layers=1,modalities=text+image`."""

    strategy: str = "early"
    hidden: int = 32  # the strategy's width
    trunk: int = 32  # the trunk's width
    layers: int = 1  # trunk layers
    modalities: tuple[str, ...] = ()  # empty: the teacher's

    @classmethod
    def parse(cls, text: str) -> StudentSpec:
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for pair in filter(None, (p.strip() for p in text.split(","))):
            key, sep, value = pair.partition("=")
            if not sep or key not in known:
                raise ConfigError(
                    f"student spec {pair!r}: write KEY=VALUE with KEY one of {', '.join(known)}"
                )
            if key == "modalities":
                values[key] = tuple(m for m in value.split("+") if m)
            elif key == "strategy":
                values[key] = value
            else:
                try:
                    values[key] = int(value)
                except ValueError:
                    raise ConfigError(f"student spec {key}: {value!r} is not a number") from None
        return cls(**values)


@dataclass(frozen=True, kw_only=True)
class DistillConfig:
    temperature: float = 4.0  # softens the teacher: its "dark knowledge" is in small probs
    alpha: float = 0.7  # weight of the teacher's targets; 1 - alpha for the labels

    def __post_init__(self) -> None:
        if not 0 <= self.alpha <= 1:
            raise ConfigError(f"alpha must be in [0, 1], not {self.alpha}")
        if self.temperature <= 0:
            raise ConfigError(f"temperature must be > 0, not {self.temperature}")


def student_config(teacher: FusionModel, spec: StudentSpec) -> FusionConfig:
    tc = teacher.config
    modalities = spec.modalities or tuple(tc.modalities)
    unknown = [m for m in modalities if m not in tc.modalities]
    if unknown:
        raise ConfigError(
            f"student modality {unknown[0]!r}: the teacher takes {', '.join(tc.modalities)}"
        )
    return FusionConfig(
        modalities={m: tc.modalities[m] for m in modalities},
        targets=tc.targets,
        strategy=spec.strategy,
        options={"hidden": spec.hidden},
        trunk=TrunkConfig(hidden=spec.trunk, layers=spec.layers),
    )


def absent(n: int, spec: ModalitySpec) -> ModalityArrays:
    """n rows without this modality."""
    tokens = np.zeros((n, 1, spec.dim), np.float32)
    return ModalityArrays(tokens, np.zeros(n, bool), np.zeros(n, np.int64))


def stack(parts: list[Mapping[str, ModalityArrays]], specs: Mapping[str, ModalitySpec]):
    """Row-wise concatenation of feature sets (pooled: one token each), absent filled in."""
    out = {}
    for m, spec in specs.items():
        pieces = [p[m] if m in p else absent(len(next(iter(p.values()))), spec) for p in parts]
        out[m] = ModalityArrays(
            np.concatenate([p.tokens for p in pieces]),
            np.concatenate([p.present for p in pieces]),
            np.concatenate([p.lengths for p in pieces]),
        )
    return out


def distill(
    teacher: FusionModel,
    dataset: FeatureDataset,
    spec: StudentSpec,
    *,
    unlabeled: Mapping[str, ModalityArrays] | None = None,
    config: DistillConfig | None = None,
    train_config: TrainConfig | None = None,
    split: Split | None = None,
    on_epoch: Callable[[EpochLog], None] | None = None,
) -> TrainResult:
    """Train the student; early stopping on the validation score (labels), best weights
    kept. `dataset` has the teacher's modalities and targets."""
    dc, tc = config or DistillConfig(), train_config or TrainConfig()
    s_config = student_config(teacher, spec)
    split = split or default_split(dataset, tc)
    teacher_specs = dict(teacher.config.modalities)
    train_features = {m: a.take(split.train) for m, a in dataset.features.items()}
    parts = [train_features] + ([unlabeled] if unlabeled else [])
    features = stack(parts, teacher_specs)
    n_labelled = len(split.train)
    n = len(features[next(iter(teacher_specs))])
    labels = {t: torch.from_numpy(y[split.train]) for t, y in dataset.targets.items()}
    soft = _teacher_logits(teacher, features)
    student_batch = FeatureBatch.from_arrays({m: features[m] for m in s_config.modalities})
    torch.manual_seed(tc.seed)
    student = FusionModel(s_config)
    # the teacher's target scales (fitted on the same training rows): regression outputs
    # in the same units, and the loss in the same standard deviations
    student.target_mean.copy_(teacher.target_mean)
    student.target_std.copy_(teacher.target_std)
    optimizer = torch.optim.AdamW(student.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    shuffle = torch.Generator().manual_seed(tc.seed)
    val = dataset.select(list(s_config.modalities)).take(split.val)
    result = TrainResult(student, s_config, tc, split)
    keeper = KeepBest(student, tc.patience)
    started = time.perf_counter()
    bar = tqdm(range(1, tc.epochs + 1), desc="distill", disable=not tc.progress, leave=False)
    for epoch in bar:
        student.train()
        order = torch.randperm(n, generator=shuffle)
        total = 0.0
        for start in range(0, n, tc.batch_size):
            rows = order[start : start + tc.batch_size]
            outputs = student(student_batch.take(rows))
            loss = _loss(student, outputs, soft, labels, rows, n_labelled, dc)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if tc.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(student.parameters(), tc.grad_clip)
            optimizer.step()
            total += loss.item() * len(rows)
        val_loss, val_score = _validate(student, val)
        result.history.append(EpochLog(epoch, total / n, val_loss, val_score))
        if on_epoch is not None:
            on_epoch(result.history[-1])
        bar.set_postfix(loss=f"{total / n:.4f}", val=f"{val_score:.3f}")
        if keeper.update(epoch, val_score):
            result.stopped_early = epoch < tc.epochs
            break
    bar.close()
    result.best_epoch = keeper.best_epoch
    keeper.restore()
    student.eval()
    result.seconds = time.perf_counter() - started
    return result


@torch.no_grad()
def _validate(student: FusionModel, val: FeatureDataset) -> tuple[float, float]:
    """Cross-entropy on the labels and the score early stopping watches."""
    student.eval()
    outputs = student(FeatureBatch.from_arrays(val.features))
    targets = {t: torch.from_numpy(y) for t, y in val.targets.items()}
    loss = fusion_loss(student, outputs, targets, {}).item()
    return loss, score(student.config.targets, evaluate(student, val))


@torch.no_grad()
def _teacher_logits(teacher: FusionModel, features: Mapping[str, ModalityArrays]):
    teacher.eval()
    return teacher(FeatureBatch.from_arrays(dict(features)))  # target -> (rows, classes)


def _loss(
    student: FusionModel,
    outputs: Mapping[str, Tensor],
    soft: Mapping[str, Tensor],
    labels: Mapping[str, Tensor],
    rows: Tensor,
    n_labelled: int,
    dc: DistillConfig,
) -> Tensor:
    total = torch.zeros(())
    t = dc.temperature
    has_label = rows < n_labelled  # labelled rows come first
    for i, target in enumerate(student.config.targets):
        s, k = outputs[target.name], soft[target.name][rows]
        if target.kind != CLASSIFICATION:
            total = total + target.weight * _regression_term(
                s, k, labels[target.name], rows, has_label, student.target_std[i], dc.alpha
            )
            continue
        kl = F.kl_div(
            F.log_softmax(s / t, -1),
            F.log_softmax(k / t, -1),
            log_target=True,
            reduction="batchmean",
        )
        term = dc.alpha * t * t * kl
        if has_label.any() and dc.alpha < 1:
            y = labels[target.name][rows[has_label]]
            term = term + (1 - dc.alpha) * F.cross_entropy(s[has_label], y)
        total = total + target.weight * term
    return total


def _regression_term(
    s: Tensor, k: Tensor, y: Tensor, rows: Tensor, has_label: Tensor, std: Tensor, alpha: float
) -> Tensor:
    """alpha * MSE to the teacher's values + (1 - alpha) * MSE to the labels (labelled rows),
    in standard deviations of the target."""
    term = alpha * F.mse_loss(s / std, k / std)
    if has_label.any() and alpha < 1:
        term = term + (1 - alpha) * F.mse_loss(s[has_label] / std, y[rows[has_label]] / std)
    return term
