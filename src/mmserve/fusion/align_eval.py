"""Text -> image retrieval of any embedding Model on the same (caption, picture) pairs: how
an aligned model compares with `bridge`, measured side by side (benchmarks/bench_align.py,
the tests). Models are driven through their contract (preprocess, forward), as the server
drives them, so what is measured is what is served."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mmserve.fusion.align import recall_at
from mmserve.models.base import Model, l2_normalise

BATCH = 32


def embed_items(model: Model, items: Sequence[Any]) -> np.ndarray:
    """(n, dim) unit vectors of texts, PIL images or Waveforms."""
    out = []
    for start in range(0, len(items), BATCH):
        payloads = [model.preprocess(item) for item in items[start : start + BATCH]]
        out += [np.asarray(model.postprocess(v), np.float32) for v in model.forward(payloads)]
    return l2_normalise(np.stack(out))


def text_to_image_recall(
    model: Model, texts: Sequence[str], images: Sequence[Any]
) -> dict[str, float]:
    """Recall@1/5/10 of each text's own picture among all the pictures."""
    sims = embed_items(model, list(texts)) @ embed_items(model, list(images)).T
    return recall_at(sims)


def chance_recall(n: int, k: int = 1) -> float:
    return min(k / n, 1.0)
