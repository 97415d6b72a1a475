"""Reciprocal rank fusion of ranked lists (Cormack et al., 2009).

score(item) = sum over lists of weight / (k + rank), rank counted from 1. Only ranks are
used, so cosine similarities and BM25 scores, which live on unrelated scales, need no
calibration against each other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

RRF_K = 60


def reciprocal_rank_fusion(
    rankings: Mapping[str, Sequence[int]], weights: Mapping[str, float], top_k: int
) -> tuple[list[int], list[float]]:
    """(keys, fused scores) best first; ties keep the order the keys were first seen."""
    scores: dict[int, float] = {}
    for name, keys in rankings.items():
        weight = weights.get(name, 1.0)
        for rank, key in enumerate(keys, start=1):
            scores[key] = scores.get(key, 0.0) + weight / (RRF_K + rank)
    best = sorted(scores.items(), key=lambda pair: -pair[1])[:top_k]
    return [key for key, _ in best], [score for _, score in best]
