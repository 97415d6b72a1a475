"""A synthetic feature-level data set on which only fusion can succeed.

Two hidden variables: u, visible only in the text features, and v, visible only in the image
features (each as a direction in feature space, plus noise). The targets are

    xor      classification: "same" if u and v have the same sign, else "different"
    product  regression: u * v

Either modality alone says nothing about either target (given u alone, v's sign is a coin
flip: accuracy 0.5, R2 0), so a model beats chance only by combining the two. Audio
carries pure noise, a distractor to ignore. Absent modalities are filled with large junk,
so a model that does not mask them fails loudly.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from mmserve.fusion.data import REGRESSION, FeatureDataset, TargetSpec
from mmserve.fusion.features import ModalityArrays, ModalitySpec

DIMS = {"text": 16, "image": 12, "audio": 8}
TOKENS = {"text": 4, "image": 1, "audio": 2}


def make_xor_dataset(
    n: int = 600,
    *,
    dims: Mapping[str, int] = DIMS,
    tokens: Mapping[str, int] = TOKENS,
    noise: float = 0.3,  # per-feature noise std, against a signal of std 1 along one direction
    missing: float = 0.0,  # probability that each modality of each row is absent
    seed: int = 0,
) -> FeatureDataset:
    rng = np.random.default_rng(seed)
    u, v = rng.standard_normal(n), rng.standard_normal(n)
    signal = {"text": u, "image": v}  # any other modality: noise only
    specs, features = {}, {}
    for modality, dim in dims.items():
        max_tokens = tokens.get(modality, 1)
        direction = rng.standard_normal(dim)
        direction /= np.linalg.norm(direction)
        x = signal.get(modality, np.zeros(n))[:, None, None] * direction  # (n, 1, dim)
        x = x + noise * rng.standard_normal((n, max_tokens, dim))  # (n, tokens, dim)
        lengths = rng.integers(1, max_tokens + 1, n)
        present = rng.random(n) >= missing
        padding = np.arange(max_tokens)[None, :] >= lengths[:, None]
        # junk, not zeros, where nothing is: masking must keep it out of every output
        junk = 10 * rng.standard_normal(x.shape)
        x = np.where((padding | ~present[:, None])[..., None], junk, x)
        features[modality] = ModalityArrays(
            x.astype(np.float32), present, np.where(present, lengths, 0).astype(np.int64)
        )
        specs[modality] = ModalitySpec(dim=dim, max_tokens=max_tokens, encoder="synthetic")
    targets = {
        "xor": ((u > 0) != (v > 0)).astype(np.int64),
        "product": (u * v).astype(np.float32),
    }
    target_specs = (
        TargetSpec(name="xor", classes=("same", "different")),
        TargetSpec(name="product", kind=REGRESSION, weight=0.5),
    )
    return FeatureDataset(features, targets, specs, target_specs)
