"""Late fusion: a whole model (projection, trunk, heads) per modality; their outputs are
combined with learned weights, renormalised over the modalities present in each row.

Unlike the other strategies this one fuses decisions, not representations, so it returns
per-target outputs itself and the FusionModel puts no shared trunk on top.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from mmserve.fusion.batch import FeatureBatch
from mmserve.fusion.data import TargetSpec
from mmserve.fusion.features import ModalitySpec
from mmserve.fusion.layers import Heads, Projection, Trunk, TrunkConfig, masked_softmax


@dataclass(frozen=True, kw_only=True)
class LateConfig:
    hidden: int = 128  # width of each modality's projection


class LateFusion(nn.Module):
    def __init__(
        self,
        specs: Mapping[str, ModalitySpec],
        config: LateConfig,
        targets: Sequence[TargetSpec],
        trunk: TrunkConfig,
    ):
        super().__init__()
        self.modalities = list(specs)
        self.targets = [t.name for t in targets]
        self.proj = nn.ModuleDict({m: Projection(s.dim, config.hidden) for m, s in specs.items()})
        trunks = {m: Trunk(config.hidden, trunk) for m in specs}
        self.trunks = nn.ModuleDict(trunks)
        self.heads = nn.ModuleDict({m: Heads(trunks[m].out_dim, targets) for m in specs})
        # one weight per (target, modality): text may decide one target, audio another
        self.logits = nn.Parameter(torch.zeros(len(targets), len(specs)))

    def forward(self, batch: FeatureBatch) -> dict[str, Tensor]:
        outs = {m: self.heads[m](self.trunks[m](self.proj[m](batch.pooled(m)))) for m in self.proj}
        present = torch.stack([batch.present[m] for m in self.modalities], 1)  # (batch, mods)
        fused = {}
        for i, target in enumerate(self.targets):
            weights = masked_softmax(self.logits[i].expand(present.shape), present, dim=1)
            stacked = torch.stack([outs[m][target] for m in self.modalities], 1)  # (b, mods, out)
            fused[target] = (weights[..., None] * stacked).sum(1)  # (batch, n_outputs)
        return fused

    def modality_weights(self) -> dict[str, dict[str, float]]:
        """target -> modality -> learned weight when all are present (for reports)."""
        weights = torch.softmax(self.logits.detach(), 1).tolist()
        return {
            t: dict(zip(self.modalities, w, strict=True))
            for t, w in zip(self.targets, weights, strict=True)
        }
