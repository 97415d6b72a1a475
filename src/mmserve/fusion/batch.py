"""FeatureBatch: the torch view of a batch of features, with the masks every strategy uses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from mmserve.fusion.features import ModalityArrays


@dataclass(frozen=True)
class FeatureBatch:
    tokens: dict[str, Tensor]  # modality -> (batch, tokens, dim) float
    present: dict[str, Tensor]  # modality -> (batch,) bool
    lengths: dict[str, Tensor]  # modality -> (batch,) int64, 0 where absent

    @classmethod
    def from_tensors(
        cls,
        tokens: Mapping[str, Tensor],
        present: Mapping[str, Tensor] | None = None,
        lengths: Mapping[str, Tensor] | None = None,
    ) -> FeatureBatch:
        """Defaults: every modality present in every row, every token real."""
        tokens = {m: t[:, None, :] if t.dim() == 2 else t for m, t in tokens.items()}
        present = dict(present or {})
        lengths = dict(lengths or {})
        for m, t in tokens.items():
            present.setdefault(m, torch.ones(t.shape[0], dtype=torch.bool))
            lengths.setdefault(m, torch.full((t.shape[0],), t.shape[1], dtype=torch.int64))
        return cls(tokens, {m: present[m].bool() for m in tokens}, {m: lengths[m] for m in tokens})

    @classmethod
    def from_arrays(cls, features: Mapping[str, ModalityArrays]) -> FeatureBatch:
        return cls(
            {m: torch.from_numpy(np.ascontiguousarray(a.tokens)) for m, a in features.items()},
            {m: torch.from_numpy(a.present) for m, a in features.items()},
            {m: torch.from_numpy(a.lengths) for m, a in features.items()},
        )

    @property
    def modalities(self) -> list[str]:
        return list(self.tokens)

    @property
    def size(self) -> int:
        return next(iter(self.present.values())).shape[0]

    def mask(self, modality: str) -> Tensor:
        """(batch, tokens) bool: True for a real token of a present modality."""
        tokens = self.tokens[modality]
        position = torch.arange(tokens.shape[1], device=tokens.device)  # (tokens,)
        real = position[None, :] < self.lengths[modality][:, None]  # (batch, tokens)
        return real & self.present[modality][:, None]

    def masked(self, modality: str) -> Tensor:
        """(batch, tokens, dim) with masked slots set to 0. Masking alone already keeps them out
        of every output; this also stops a NaN or inf left there from spreading (0 * nan)."""
        mask = self.mask(modality)[..., None]  # (batch, tokens, 1)
        return torch.where(mask, self.tokens[modality], torch.zeros_like(self.tokens[modality]))

    def pooled(self, modality: str) -> Tensor:
        """(batch, dim): mean over real tokens; 0 for an absent modality (callers mask it)."""
        mask = self.mask(modality)[..., None].to(self.tokens[modality].dtype)  # (batch, tokens, 1)
        total = (self.masked(modality) * mask).sum(1)  # (batch, dim)
        return total / mask.sum(1).clamp(min=1.0)

    def take(self, index: Tensor) -> FeatureBatch:
        return FeatureBatch(
            {m: t[index] for m, t in self.tokens.items()},
            {m: p[index] for m, p in self.present.items()},
            {m: n[index] for m, n in self.lengths.items()},
        )

    def only(self, modalities: list[str]) -> FeatureBatch:
        return FeatureBatch(
            {m: self.tokens[m] for m in modalities},
            {m: self.present[m] for m in modalities},
            {m: self.lengths[m] for m in modalities},
        )
