"""Rerank documents (texts, images, clips) for a query with an embedding model, Flask-free.

    rank(pool, query, documents, *, model, top_n, timeout_s, request_id) -> Ranking

The query and every document go through the model's batcher in one runner.infer call (so
they batch with each other and with concurrent requests); a document's relevance_score is
the cosine similarity of its vector with the query's, in [-1, 1]. Text-only requests use the
first text embedder (minilm by default); images or audio need a model that embeds them
together with text (bridge, an hf: CLIP). No cross-encoder installs offline (see
docs/chat.md), so there is no cross-encoder path yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mmserve.batching.pool import ModelPool
from mmserve.models.base import l2_normalise
from mmserve.services.content import Content, embed_contents


@dataclass(frozen=True)
class Ranking:
    model: str
    order: list[int]  # document indices, best first, top_n of them
    scores: list[float]  # relevance_score of each, same order
    tokens: int  # tokens the text inputs took (0 where the model does not count them)


def rank(
    pool: ModelPool,
    query: Content,
    documents: Sequence[Content],
    *,
    model: str | None,
    top_n: int | None,
    timeout_s: float,
    request_id: str | None = None,
) -> Ranking:
    params = ["query", *(f"documents[{i}]" for i in range(len(documents)))]
    embedded = embed_contents(
        pool,
        [query, *documents],
        model=model,
        timeout_s=timeout_s,
        request_id=request_id,
        params=params,
    )
    # (1 + documents, dim); normalised here, as not every model (a local: encoder that pools
    # itself, a test fake) returns unit vectors, and the score must be a cosine.
    vectors = l2_normalise(np.stack(embedded.vectors))
    scores = vectors[1:] @ vectors[0]  # (documents,)
    order = np.argsort(-scores, kind="stable")[: top_n or len(documents)]
    return Ranking(
        embedded.model_id,
        [int(i) for i in order],
        [round(float(scores[i]), 6) for i in order],
        embedded.text_tokens,
    )
