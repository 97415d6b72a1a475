"""Building blocks shared by the strategies: projections, masked softmax, MLPs, heads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from mmserve.fusion.batch import FeatureBatch
from mmserve.fusion.data import TargetSpec
from mmserve.fusion.features import ModalitySpec


class Fusion(nn.Module):
    """What a strategy is: FeatureBatch -> fused representation (batch, out_dim).
    (Late fusion is the exception: it fuses per-target outputs; see late.py.)"""

    out_dim: int

    def forward(self, batch: FeatureBatch) -> Tensor:
        raise NotImplementedError


def masked_softmax(scores: Tensor, mask: Tensor, dim: int) -> Tensor:
    """Softmax over `dim` where masked entries get exactly 0 weight.

    The fill is the most negative finite float, not -inf: a row with nothing unmasked then
    gives uniform weights (zeroed by the final `* mask`) instead of NaN, whose gradient would
    poison every parameter even though the value is never used.
    """
    filled = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    return torch.softmax(filled, dim=dim) * mask


def masked_mean(x: Tensor, mask: Tensor, dim: int) -> Tensor:
    """Mean of x over `dim`, counting only masked-in entries; 0 where none are."""
    weights = mask.to(x.dtype).unsqueeze(-1)  # mask has x's shape without the last dim
    return (x * weights).sum(dim) / weights.sum(dim).clamp(min=1.0)


class Projection(nn.Module):
    """Features of one encoder -> the shared width. The LayerNorm first, because encoders
    emit features on very different scales (L2-normalised text vs raw CNN activations)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.linear = nn.Linear(dim, hidden)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(self.norm(x))


class PooledProjections(nn.Module):
    """Pool each modality's tokens, project to `hidden` and stack the modalities."""

    def __init__(self, specs: Mapping[str, ModalitySpec], hidden: int):
        super().__init__()
        self.modalities = list(specs)
        self.proj = nn.ModuleDict({m: Projection(s.dim, hidden) for m, s in specs.items()})

    def forward(self, batch: FeatureBatch) -> tuple[Tensor, Tensor]:
        h = torch.stack([self.proj[m](batch.pooled(m)) for m in self.modalities], 1)
        present = torch.stack([batch.present[m] for m in self.modalities], 1)
        return h, present  # (batch, modalities, hidden), (batch, modalities) bool


def mlp(sizes: Sequence[int], dropout: float) -> nn.Sequential:
    """Linear -> GELU -> Dropout for each consecutive pair of sizes."""
    layers: list[nn.Module] = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(n_in, n_out), nn.GELU(), nn.Dropout(dropout)]
    return nn.Sequential(*layers)


@dataclass(frozen=True, kw_only=True)
class TrunkConfig:
    """The shared trunk between the fused representation and the per-target heads."""

    hidden: int = 128
    layers: int = 1  # 0: heads sit directly on the fused representation
    dropout: float = 0.1


class Trunk(nn.Module):
    def __init__(self, in_dim: int, config: TrunkConfig):
        super().__init__()
        self.norm = nn.LayerNorm(in_dim)
        self.body = mlp([in_dim] + [config.hidden] * config.layers, config.dropout)
        self.out_dim = config.hidden if config.layers else in_dim

    def forward(self, x: Tensor) -> Tensor:
        return self.body(self.norm(x))  # (batch, out_dim)


class Heads(nn.Module):
    """One linear head per target: class logits, or one standardised regression value."""

    def __init__(self, in_dim: int, targets: Sequence[TargetSpec]):
        super().__init__()
        self.heads = nn.ModuleDict({t.name: nn.Linear(in_dim, t.n_outputs) for t in targets})

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return {name: head(x) for name, head in self.heads.items()}  # (batch, n_outputs) each
