"""Training on feature tensors: seeded split, AdamW, class weights, early stopping on the
validation score, best weights restored. CPU, whole data set in memory (features are small:
10k rows of three 1024-d vectors is 120 MB)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from mmserve.errors import ConfigError
from mmserve.fusion.batch import FeatureBatch
from mmserve.fusion.data import CLASSIFICATION, FeatureDataset, Split, make_split
from mmserve.fusion.early_stop import KeepBest
from mmserve.fusion.features import check_features
from mmserve.fusion.metrics import score, target_metrics
from mmserve.fusion.model import FusionConfig, FusionModel, predict, probabilities


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    epochs: int = 100  # at most; early stopping usually ends sooner
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.01
    patience: int = 10  # epochs without a better validation value before stopping
    monitor: str = "score"  # "score": loss-weighted macro F1 / R2 (higher); "loss" (lower)
    class_weights: bool = True  # weight classes by 1/frequency in the training rows
    grad_clip: float = 1.0  # max gradient norm; 0 turns clipping off
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    seed: int = 0  # split, initial weights, shuffling and dropout all follow from it
    progress: bool = True  # a tqdm bar per run (stderr)

    def __post_init__(self) -> None:
        if self.monitor not in ("score", "loss"):
            raise ConfigError(f"monitor must be 'score' or 'loss', not {self.monitor!r}")
        for name in ("epochs", "batch_size", "patience"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1")


@dataclass(frozen=True)
class EpochLog:
    epoch: int
    train_loss: float
    val_loss: float
    val_score: float


@dataclass
class TrainResult:
    model: FusionModel  # with the best validation weights, in eval mode
    config: FusionConfig
    train_config: TrainConfig
    split: Split
    history: list[EpochLog] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "strategy": self.config.strategy,
            "modalities": self.model.modalities,
            "parameters": self.model.n_parameters(),
            "epochs": len(self.history),
            "best_epoch": self.best_epoch,
            "stopped_early": self.stopped_early,
            "seconds": round(self.seconds, 3),
            "history": [asdict(h) for h in self.history],
        }


def train(
    dataset: FeatureDataset,
    config: FusionConfig,
    train_config: TrainConfig | None = None,
    *,
    split: Split | None = None,
    on_epoch: Callable[[EpochLog], None] | None = None,
    init_state: Mapping[str, Tensor] | None = None,
    freeze: bool = False,
    tuner: nn.Module | None = None,
) -> TrainResult:
    """Train a fusion model; `split` (row indices) overrides the seeded split. `on_epoch`
    sees each epoch's log (job progress; it may raise to stop the run). `init_state`:
    weights to start from (pretrain.transfer_state: all but the heads); `freeze`: train
    the heads alone, the rest stays as `init_state` has it. `tuner`: a module that computes
    the image tokens of each batch from its rows (fusion/finetune.ImageTuner), trained with
    the model at its own learning rate."""
    tc = train_config or TrainConfig()
    check_features(dataset.features, config.modalities)  # names the modality that differs
    split = split or default_split(dataset, tc)
    if not (len(split.train) and len(split.val)):
        raise ConfigError("the split needs training and validation rows")
    torch.manual_seed(tc.seed)  # initial weights and dropout masks
    model = FusionModel(config)
    if init_state is not None:
        model.load_state_dict(init_state, strict=False)  # the heads stay freshly drawn
    if freeze:
        for name, parameter in model.named_parameters():
            parameter.requires_grad_(name.startswith("heads."))
    data = _Tensors.of(dataset, tuner)
    _fit_target_scales(model, dataset, split.train)
    weights = balanced_class_weights(dataset, split.train) if tc.class_weights else {}
    groups: list[dict[str, Any]] = [{"params": list(model.parameters())}]
    if tuner is not None:
        from mmserve.fusion.finetune import encoder_parameters

        groups.append(encoder_parameters(tuner, tc.lr))
    optimizer = torch.optim.AdamW(groups, lr=tc.lr, weight_decay=tc.weight_decay)
    shuffle = torch.Generator().manual_seed(tc.seed)
    result = TrainResult(model, config, tc, split)
    # the tuner's trained blocks are kept and restored with the model's weights
    kept = model if tuner is None else nn.ModuleDict({"model": model, "image": tuner.trainable})
    keeper = KeepBest(kept, tc.patience)
    started = time.perf_counter()
    bar = tqdm(range(1, tc.epochs + 1), desc=config.strategy, disable=not tc.progress, leave=False)
    for epoch in bar:
        train_loss = _train_epoch(model, data, split.train, weights, optimizer, shuffle, tc)
        val_loss, val_score = _validate(model, dataset, data, split.val, weights)
        result.history.append(EpochLog(epoch, train_loss, val_loss, val_score))
        if on_epoch is not None:
            on_epoch(result.history[-1])
        bar.set_postfix(
            loss=f"{train_loss:.4f}", val_loss=f"{val_loss:.4f}", val=f"{val_score:.3f}"
        )
        value = val_score if tc.monitor == "score" else -val_loss
        if keeper.update(epoch, value):
            result.stopped_early = epoch < tc.epochs
            break
    bar.close()
    result.best_epoch = keeper.best_epoch
    keeper.restore()
    model.eval()
    result.seconds = time.perf_counter() - started
    return result


def default_split(dataset: FeatureDataset, tc: TrainConfig) -> Split:
    """Seeded, stratified by the first classification target if there is one."""
    first = next((t for t in dataset.target_specs if t.kind == CLASSIFICATION), None)
    return make_split(
        len(dataset),
        val_fraction=tc.val_fraction,
        test_fraction=tc.test_fraction,
        seed=tc.seed,
        stratify=dataset.targets[first.name] if first else None,
    )


def evaluate(model: FusionModel, dataset: FeatureDataset) -> dict[str, dict[str, Any]]:
    """target -> metrics on every row of `dataset` (pass dataset.take(split.test))."""
    outputs = predict(model, FeatureBatch.from_arrays(dataset.features))
    return target_metrics(model.config.targets, dataset.targets, outputs)


def fusion_loss(
    model: FusionModel,
    outputs: Mapping[str, Tensor],
    targets: Mapping[str, Tensor],
    class_weights: Mapping[str, Tensor],
) -> Tensor:
    """sum_t lambda_t * L_t: cross-entropy, or mean squared error in standard deviations (so
    targets in different units weigh as the lambdas say, not as their scales)."""
    total = torch.zeros(())
    for i, t in enumerate(model.config.targets):
        if t.kind == CLASSIFICATION:
            term = F.cross_entropy(outputs[t.name], targets[t.name], class_weights.get(t.name))
        else:
            term = F.mse_loss(
                outputs[t.name] / model.target_std[i], targets[t.name] / model.target_std[i]
            )
        total = total + t.weight * term
    return total


@dataclass(frozen=True)
class _Tensors:
    batch: FeatureBatch
    targets: dict[str, Tensor]
    tuner: nn.Module | None = None  # computes the image tokens of each batch

    @classmethod
    def of(cls, dataset: FeatureDataset, tuner: nn.Module | None = None) -> _Tensors:
        return cls(
            FeatureBatch.from_arrays(dataset.features),
            {t: torch.from_numpy(y) for t, y in dataset.targets.items()},
            tuner,
        )

    def rows(self, index: Tensor) -> tuple[FeatureBatch, dict[str, Tensor]]:
        batch = self.batch.take(index)
        if self.tuner is not None:
            batch = self.tuner(batch, index)
        return batch, {t: y[index] for t, y in self.targets.items()}


def _train_epoch(model, data, train_rows, weights, optimizer, shuffle, tc) -> float:
    model.train()
    if data.tuner is not None:
        data.tuner.train()
    rows = torch.from_numpy(train_rows)
    order = rows[torch.randperm(len(rows), generator=shuffle)]
    total, seen = 0.0, 0
    for start in range(0, len(order), tc.batch_size):
        batch, targets = data.rows(order[start : start + tc.batch_size])
        loss = fusion_loss(model, model(batch), targets, weights)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if tc.grad_clip > 0:
            params = [p for group in optimizer.param_groups for p in group["params"]]
            torch.nn.utils.clip_grad_norm_(params, tc.grad_clip)
        optimizer.step()
        total += loss.item() * batch.size
        seen += batch.size
    return total / seen


@torch.no_grad()
def _validate(model, dataset, data, val_rows, weights) -> tuple[float, float]:
    model.eval()
    batch, targets = data.rows(torch.from_numpy(val_rows))
    outputs = model(batch)
    loss = fusion_loss(model, outputs, targets, weights).item()
    probs = {k: v.numpy() for k, v in probabilities(model, outputs).items()}
    y_true = {t: y[val_rows] for t, y in dataset.targets.items()}
    return loss, score(model.config.targets, target_metrics(model.config.targets, y_true, probs))


def _fit_target_scales(model: FusionModel, dataset: FeatureDataset, rows: np.ndarray) -> None:
    for t in model.config.targets:
        if t.kind != CLASSIFICATION:
            y = dataset.targets[t.name][rows].astype(np.float64)
            model.set_target_scale(t.name, float(y.mean()), float(y.std()))


def balanced_class_weights(dataset: FeatureDataset, rows: np.ndarray) -> dict[str, Tensor]:
    """'Balanced' weights n / (classes * count): every class weighs the same in the loss.
    A class absent from the training rows gets weight 1 (it never occurs there anyway)."""
    weights = {}
    for t in dataset.target_specs:
        if t.kind == CLASSIFICATION:
            counts = np.bincount(dataset.targets[t.name][rows], minlength=t.n_outputs)
            w = np.where(counts > 0, len(rows) / (t.n_outputs * np.maximum(counts, 1)), 1.0)
            weights[t.name] = torch.tensor(w, dtype=torch.float32)
    return weights
