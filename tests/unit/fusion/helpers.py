"""Tiny specs, batches and configs for the fusion tests (imported by them, after conftest
has checked that torch is installed)."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from mmserve.fusion.batch import FeatureBatch
from mmserve.fusion.data import REGRESSION, TargetSpec
from mmserve.fusion.features import ModalitySpec
from mmserve.fusion.layers import TrunkConfig
from mmserve.fusion.model import FusionConfig
from mmserve.fusion.strategies import STRATEGIES
from mmserve.fusion.train import TrainConfig

SPECS = {
    "text": ModalitySpec(dim=8, max_tokens=4, encoder="text-enc"),
    "image": ModalitySpec(dim=6, encoder="image-enc"),
    "audio": ModalitySpec(dim=5, max_tokens=3, encoder="audio-enc"),
}
TARGETS = (
    TargetSpec(name="label", classes=("a", "b", "c")),
    TargetSpec(name="value", kind=REGRESSION, weight=0.5),
)
SMALL = {"hidden": 16, "heads": 2}  # the options each strategy takes, if it has them
FAST = TrainConfig(epochs=30, patience=8, lr=3e-3, batch_size=32, progress=False)


def small_config(
    strategy: str,
    specs: Mapping[str, ModalitySpec] = SPECS,
    targets: tuple[TargetSpec, ...] = TARGETS,
) -> FusionConfig:
    fields = STRATEGIES[strategy].config.__dataclass_fields__
    return FusionConfig(
        modalities=specs,
        targets=targets,
        strategy=strategy,
        options={k: v for k, v in SMALL.items() if k in fields},
        trunk=TrunkConfig(hidden=16),
    )


def random_batch(size: int = 6, seed: int = 0) -> FeatureBatch:
    """Modalities absent in some rows, token counts varying; row 0 always lacks its image
    and has all its other modalities."""
    g = torch.Generator().manual_seed(seed)
    tokens = {m: torch.randn(size, s.max_tokens, s.dim, generator=g) for m, s in SPECS.items()}
    present = {m: torch.rand(size, generator=g) > 0.3 for m in SPECS}
    lengths = {
        m: torch.randint(1, s.max_tokens + 1, (size,), generator=g) for m, s in SPECS.items()
    }
    for m in SPECS:
        present[m][0] = m != "image"
    return FeatureBatch.from_tensors(tokens, present, lengths)
