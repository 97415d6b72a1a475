"""The fusion model: a strategy fuses the modalities, a shared trunk follows, then one head
per target. Its config is the one JSON document a trained model needs to be rebuilt."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor, nn

from mmserve.errors import ConfigError
from mmserve.fusion.batch import FeatureBatch
from mmserve.fusion.data import REGRESSION, FeatureDataset, TargetSpec
from mmserve.fusion.features import ModalityArrays, ModalitySpec, check_features
from mmserve.fusion.layers import Fusion, Heads, Trunk, TrunkConfig
from mmserve.fusion.strategies import get_strategy, strategy_config


@dataclass(frozen=True, kw_only=True)
class FusionConfig:
    modalities: Mapping[str, ModalitySpec]  # the inputs, in a fixed order
    targets: tuple[TargetSpec, ...]
    strategy: str = "attention"
    options: Mapping[str, Any] = field(default_factory=dict)  # the strategy config's fields
    trunk: TrunkConfig = field(default_factory=TrunkConfig)

    def __post_init__(self) -> None:
        object.__setattr__(self, "targets", tuple(self.targets))
        names = list(self.modalities) + [t.name for t in self.targets]
        bad = [n for n in names if not n or not n.replace("_", "a").isalnum()]
        if bad:
            raise ConfigError(f"names {bad} must be letters, digits and '_' (e.g. 'text')")
        if not self.modalities or not self.targets:
            raise ConfigError("a fusion model needs at least one modality and one target")
        if len(set(names)) != len(names):
            raise ConfigError(f"modality and target names must be distinct: {names}")
        strategy_config(self.strategy, self.options)  # fail now, not after loading data

    @classmethod
    def for_dataset(
        cls, dataset: FeatureDataset, strategy: str = "attention", **kwargs: Any
    ) -> FusionConfig:
        return cls(
            modalities=dataset.specs, targets=dataset.target_specs, strategy=strategy, **kwargs
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "modalities": {m: asdict(s) for m, s in self.modalities.items()},
            "targets": [asdict(t) for t in self.targets],
            "strategy": self.strategy,
            "options": asdict(strategy_config(self.strategy, self.options)),
            "trunk": asdict(self.trunk),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> FusionConfig:
        return cls(
            modalities={m: ModalitySpec(**s) for m, s in raw["modalities"].items()},
            targets=tuple(TargetSpec(**t) for t in raw["targets"]),
            strategy=raw["strategy"],
            options=raw.get("options", {}),
            trunk=TrunkConfig(**raw.get("trunk", {})),
        )


class FusionModel(nn.Module):
    target_mean: Tensor  # (targets,) buffers, see below
    target_std: Tensor

    def __init__(self, config: FusionConfig):
        super().__init__()
        self.config = config
        strategy = get_strategy(config.strategy)
        settings = strategy_config(config.strategy, config.options)
        self.late = strategy.late
        if strategy.late:
            self.fusion = strategy.module(config.modalities, settings, config.targets, config.trunk)
        else:
            fusion = cast(Fusion, strategy.module(config.modalities, settings))
            self.fusion = fusion
            self.trunk = Trunk(fusion.out_dim, config.trunk)
            self.heads = Heads(self.trunk.out_dim, config.targets)
        # Regression heads predict standardised values; these map them back to target units,
        # so every consumer (loss, metrics, ONNX) sees real units. Set by the trainer.
        self.register_buffer("target_mean", torch.zeros(len(config.targets)))
        self.register_buffer("target_std", torch.ones(len(config.targets)))

    def forward(self, batch: FeatureBatch) -> dict[str, Tensor]:
        """target -> class logits (batch, classes), or values (batch,) in target units."""
        raw = self.fusion(batch) if self.late else self.heads(self.trunk(self.fusion(batch)))
        out = {}
        for i, target in enumerate(self.config.targets):
            if target.kind == REGRESSION:
                out[target.name] = raw[target.name][:, 0] * self.target_std[i] + self.target_mean[i]
            else:
                out[target.name] = raw[target.name]
        return out

    def set_target_scale(self, name: str, mean: float, std: float) -> None:
        i = [t.name for t in self.config.targets].index(name)
        self.target_mean[i] = mean
        self.target_std[i] = max(std, 1e-8)

    @property
    def modalities(self) -> list[str]:
        return list(self.config.modalities)

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def probabilities(model: FusionModel, outputs: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Class logits -> probabilities; regression values unchanged."""
    return {
        t.name: outputs[t.name].softmax(-1) if t.kind != REGRESSION else outputs[t.name]
        for t in model.config.targets
    }


@torch.no_grad()
def predict(
    model: FusionModel, batch: FeatureBatch, batch_size: int = 1024
) -> dict[str, np.ndarray]:
    """target -> class probabilities (rows, classes) or values (rows,), as numpy; in chunks
    of `batch_size` rows so memory stays flat on a large evaluation set."""
    model.eval()
    parts: dict[str, list[np.ndarray]] = {}
    for start in range(0, batch.size, batch_size):
        rows = torch.arange(start, min(start + batch_size, batch.size))
        for name, out in probabilities(model, model(batch.take(rows))).items():
            parts.setdefault(name, []).append(out.numpy())
    return {name: np.concatenate(p) for name, p in parts.items()}


class TorchFusion:
    """A batched predictor over a torch model; same interface as runtime.OnnxFusion."""

    def __init__(self, model: FusionModel):
        self.model = model.eval()
        self.specs = dict(model.config.modalities)
        self.targets = list(model.config.targets)

    def predict(self, features: Mapping[str, ModalityArrays]) -> dict[str, np.ndarray]:
        check_features(features, self.specs)
        return predict(self.model, FeatureBatch.from_arrays({m: features[m] for m in self.specs}))
