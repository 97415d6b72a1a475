"""The interface between frozen encoders and fusion models: per-modality token features.

Encoders (built elsewhere) turn raw items of one modality into features; a fusion model only
ever sees features, so an encoder can be swapped, cached or run on another machine without
touching fusion code. The contract, per modality:

    encoder.encode(items)  -> one (tokens, dim) float32 array per item (a pooled vector is
                              one token; token counts may differ between items)
    collate(rows, specs)   -> {modality: ModalityArrays}, where
        tokens  (batch, max_tokens, dim) float32   padded with zeros
        present (batch,) bool                      False: the row has no input of this kind
        lengths (batch,) int64                     real tokens per row (0 where absent)

Absent modalities and padding tokens are *masked* by every fusion strategy: whatever values
sit in their slots never reach an output. This module needs numpy only, so the serving side
can build batches (and run an exported ONNX model) without torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from mmserve.errors import ConfigError

MODALITIES = ("text", "image", "audio")


@dataclass(frozen=True, kw_only=True)
class ModalitySpec:
    """What one modality's features look like; recorded in every trained model."""

    dim: int
    max_tokens: int = 1  # 1: pooled vectors; more: token sequences, padded to this length
    encoder: str = ""  # id of the encoder that made the features, e.g. "minilm"

    def __post_init__(self) -> None:
        if self.dim < 1 or self.max_tokens < 1:
            raise ConfigError(
                f"feature dim ({self.dim}) and max_tokens ({self.max_tokens}) must be >= 1"
            )


class FeatureEncoder(Protocol):
    """What a frozen encoder offers the fusion side. `encode` never sees missing items:
    the caller leaves them out and marks them absent."""

    modality: str  # one of MODALITIES
    encoder_id: str  # recorded in trained models, checked when serving
    spec: ModalitySpec

    def encode(self, items: Sequence[Any]) -> list[np.ndarray]:
        """One (tokens, dim) float32 array per item, tokens <= spec.max_tokens."""
        ...


@dataclass(frozen=True)
class ModalityArrays:
    """One modality of a batch (or of a whole data set)."""

    tokens: np.ndarray  # (batch, tokens, dim) float32
    present: np.ndarray  # (batch,) bool
    lengths: np.ndarray  # (batch,) int64, 0 where absent

    def __len__(self) -> int:
        return len(self.present)

    def take(self, index: np.ndarray) -> ModalityArrays:
        return ModalityArrays(self.tokens[index], self.present[index], self.lengths[index])


def arrays(
    tokens: np.ndarray, present: np.ndarray | None = None, lengths: np.ndarray | None = None
) -> ModalityArrays:
    """Wrap a dense (batch, tokens, dim) or (batch, dim) array; defaults: all present, full."""
    tokens = np.asarray(tokens, dtype=np.float32)
    if tokens.ndim == 2:
        tokens = tokens[:, None, :]  # a pooled vector is one token
    if tokens.ndim != 3:
        raise ValueError(f"features must be (batch, tokens, dim); got shape {tokens.shape}")
    batch, n_tokens = tokens.shape[:2]
    present = np.ones(batch, bool) if present is None else np.asarray(present, bool)
    if lengths is None:
        lengths = np.full(batch, n_tokens, np.int64)
    lengths = np.where(present, np.asarray(lengths, np.int64), 0)
    if present.shape != (batch,) or lengths.shape != (batch,):
        raise ValueError(f"present and lengths must have shape ({batch},)")
    if (lengths > n_tokens).any() or (present & (lengths < 1)).any():
        raise ValueError(f"lengths must be 1..{n_tokens} where present")
    return ModalityArrays(tokens, present, lengths)


def collate(
    rows: Sequence[Mapping[str, np.ndarray | None]], specs: Mapping[str, ModalitySpec]
) -> dict[str, ModalityArrays]:
    """Stack per-item features into a padded batch. A row may leave a modality out (or give
    None): it is marked absent. Token counts are padded to the longest in the batch."""
    out = {}
    for modality, spec in specs.items():
        items = [row.get(modality) for row in rows]
        feats = [_as_tokens(x, modality, spec) if x is not None else None for x in items]
        longest = max((len(f) for f in feats if f is not None), default=1)
        tokens = np.zeros((len(rows), longest, spec.dim), np.float32)
        lengths = np.zeros(len(rows), np.int64)
        for i, f in enumerate(feats):
            if f is not None:
                tokens[i, : len(f)] = f
                lengths[i] = len(f)
        out[modality] = ModalityArrays(tokens, lengths > 0, lengths)
    return out


def check_features(
    features: Mapping[str, ModalityArrays], specs: Mapping[str, ModalitySpec]
) -> None:
    """Raise ValueError naming the modality when features do not match what a model expects."""
    missing = sorted(set(specs) - set(features))
    if missing:
        raise ValueError(f"features lack modality {', '.join(missing)}; pass them as absent")
    sizes = {len(features[m]) for m in specs}
    if len(sizes) > 1:
        raise ValueError(f"modalities have different batch sizes: {sorted(sizes)}")
    for modality, spec in specs.items():
        got = features[modality].tokens.shape
        if got[2] != spec.dim or got[1] > spec.max_tokens:
            raise ValueError(
                f"{modality} features have shape {got}; the model expects "
                f"(batch, <= {spec.max_tokens}, {spec.dim}) from encoder {spec.encoder!r}"
            )


def require_torch() -> None:
    """Fail early, naming the extra, when torch (needed to train, not to serve ONNX) is absent."""
    try:
        import torch  # noqa: F401
    except ImportError as e:
        raise ImportError(
            "torch is needed to train fusion models; install it with "
            "`pip install 'mmserve[fusion]'`"
        ) from e


def _as_tokens(x: np.ndarray, modality: str, spec: ModalitySpec) -> np.ndarray:
    x = np.asarray(x, np.float32)
    x = x[None, :] if x.ndim == 1 else x
    if x.ndim != 2 or x.shape[1] != spec.dim or not 1 <= len(x) <= spec.max_tokens:
        raise ValueError(
            f"{modality} features must be (1..{spec.max_tokens}, {spec.dim}); got {x.shape}"
        )
    return x
