"""Strategies on pooled modality vectors: early (concatenate), mean, weighted sum, gated.

Each takes a FeatureBatch and returns a fused representation (batch, out_dim). Every one
pools tokens with the padding mask, and keeps an absent modality out of its output: a
learned "missing" vector stands in for it (early, gated) or its weight is zero (mean,
weighted). Zero-filling would instead tell the model "present, and all zeros".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from mmserve.fusion.batch import FeatureBatch
from mmserve.fusion.features import ModalitySpec
from mmserve.fusion.layers import Fusion, PooledProjections, masked_mean, masked_softmax, mlp


@dataclass(frozen=True, kw_only=True)
class EarlyConfig:
    hidden: int = 128
    dropout: float = 0.1


class EarlyFusion(Fusion):
    """Concatenate the pooled features of every modality (plus presence flags) -> MLP."""

    def __init__(self, specs: Mapping[str, ModalitySpec], config: EarlyConfig):
        super().__init__()
        self.modalities = list(specs)
        self.norm = nn.ModuleDict({m: nn.LayerNorm(s.dim) for m, s in specs.items()})
        # what an absent modality contributes: learned, so "absent" is its own input
        self.missing = nn.ParameterDict(
            {m: nn.Parameter(torch.zeros(s.dim)) for m, s in specs.items()}
        )
        width = sum(s.dim for s in specs.values()) + len(specs)
        self.mlp = mlp([width, config.hidden], config.dropout)
        self.out_dim = config.hidden

    def forward(self, batch: FeatureBatch) -> Tensor:
        parts, flags = [], []
        for m in self.modalities:
            present = batch.present[m][:, None]  # (batch, 1)
            x = self.norm[m](batch.pooled(m))  # (batch, dim_m)
            parts.append(torch.where(present, x, self.missing[m].expand_as(x)))
            flags.append(present.to(x.dtype))
        return self.mlp(torch.cat(parts + flags, dim=1))  # (batch, hidden)


@dataclass(frozen=True, kw_only=True)
class MeanConfig:
    hidden: int = 128


class MeanFusion(Fusion):
    """Project each modality to a shared width; average over the modalities present."""

    def __init__(self, specs: Mapping[str, ModalitySpec], config: MeanConfig):
        super().__init__()
        self.project = PooledProjections(specs, config.hidden)
        self.out_dim = config.hidden

    def forward(self, batch: FeatureBatch) -> Tensor:
        h, present = self.project(batch)  # (batch, modalities, hidden), (batch, modalities)
        return masked_mean(h, present, dim=1)  # (batch, hidden)


@dataclass(frozen=True, kw_only=True)
class WeightedConfig:
    hidden: int = 128


class WeightedFusion(Fusion):
    """Like mean, with one learned weight per modality, renormalised over those present."""

    def __init__(self, specs: Mapping[str, ModalitySpec], config: WeightedConfig):
        super().__init__()
        self.project = PooledProjections(specs, config.hidden)
        self.logits = nn.Parameter(torch.zeros(len(specs)))  # starts as the plain mean
        self.out_dim = config.hidden

    def forward(self, batch: FeatureBatch) -> Tensor:
        h, present = self.project(batch)  # (batch, modalities, hidden), (batch, modalities)
        scores = self.logits.expand(present.shape)  # (batch, modalities)
        weights = masked_softmax(scores, present, dim=1)
        return (weights[..., None] * h).sum(1)  # (batch, hidden)

    def modality_weights(self) -> dict[str, float]:
        """The learned weights when every modality is present (for reports)."""
        weights = torch.softmax(self.logits.detach(), 0).tolist()
        return dict(zip(self.project.modalities, weights, strict=True))


@dataclass(frozen=True, kw_only=True)
class GatedConfig:
    hidden: int = 128


class GatedFusion(Fusion):
    """Gated multimodal units (Arevalo et al. 2017) for any number of modalities: the gates,
    one per modality and feature, come from all the inputs of the row, so the model can lean
    on the image for one row and on the text for the next."""

    def __init__(self, specs: Mapping[str, ModalitySpec], config: GatedConfig):
        super().__init__()
        n, hidden = len(specs), config.hidden
        self.project = PooledProjections(specs, hidden)
        self.missing = nn.Parameter(torch.zeros(n, hidden))  # gate input for absent ones
        self.gate = nn.Linear(n * hidden + n, n * hidden)
        self.out_dim = hidden

    def forward(self, batch: FeatureBatch) -> Tensor:
        h, present = self.project(batch)  # (batch, modalities, hidden), (batch, modalities)
        h = torch.tanh(h)
        context = torch.where(present[..., None], h, self.missing.expand_as(h))
        gate_in = torch.cat([context.flatten(1), present.to(h.dtype)], 1)  # (batch, n*hidden+n)
        scores = self.gate(gate_in).view_as(h)  # (batch, modalities, hidden)
        gates = masked_softmax(scores, present[..., None].expand_as(h), dim=1)
        return (gates * h).sum(1)  # (batch, hidden)
