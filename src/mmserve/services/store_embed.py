"""Embedding content for the search store, through its embedding cache.

One function used by the collection routes, the "index" job and `mmserve index`, so the
server and the CLI embed alike: content is parsed by the shared parser (services/content.py),
hashed, looked up in the store's embedding cache, and only the misses are embedded (by
content.embed_contents: capability checks, preprocess, runner.infer).

The cache key is (model, sha256 of the decoded content): the text's UTF-8 bytes, an image's
RGB pixels and size, a clip's 16 kHz samples. So the same picture sent inline, by URL or
read from a file hashes the same, and is embedded once per model whichever request or
collection it arrives through.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mmserve.batching.pool import ModelPool
from mmserve.models.base import Waveform
from mmserve.services.content import Content, embed_contents, parse_content
from mmserve.store import SearchStore


@dataclass(frozen=True)
class Piece:
    """One thing to embed, its cache key and the field to blame for it."""

    content: Content
    content_hash: str
    param: str

    @property
    def modality(self) -> str:
        return self.content.modality


def to_piece(value: Any, param: str, config: Any) -> Piece:
    """A request's content (a string or a content part), decoded and hashed."""
    return piece(parse_content(value, param=param, config=config), param)


def piece(content: Content, param: str) -> Piece:
    return Piece(content, content_hash(content), param)


def content_hash(content: Content) -> str:
    digest = hashlib.sha256(content.modality.encode() + b"\0")
    value = content.value
    if isinstance(value, str):
        digest.update(value.encode())
    elif isinstance(value, Waveform):
        digest.update(f"{value.sample_rate}\0".encode())
        digest.update(np.ascontiguousarray(value.samples, dtype="<f4").tobytes())
    else:  # an RGB PIL image
        digest.update(f"{value.mode}:{value.width}x{value.height}\0".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def embed_pieces(
    pool: ModelPool,
    store: SearchStore,
    model_id: str,
    pieces: Sequence[Piece],
    *,
    timeout_s: float,
    request_id: str | None = None,
) -> list[np.ndarray]:
    """One vector per piece, in order; cached ones are not embedded again, new ones are
    cached (durably) before returning."""
    hashes = [p.content_hash for p in pieces]
    found = store.embedding_cache.get_many(model_id, hashes) if pieces else {}
    missing: dict[str, Piece] = {}
    for p in pieces:
        if p.content_hash not in found:
            missing.setdefault(p.content_hash, p)
    if missing:
        embedded = embed_contents(
            pool,
            [p.content for p in missing.values()],
            model=model_id,
            timeout_s=timeout_s,
            request_id=request_id,
            params=[p.param for p in missing.values()],
        )
        fresh = dict(zip(missing, embedded.vectors, strict=True))
        store.embedding_cache.put_many(model_id, fresh)
        found |= fresh
    return [found[h] for h in hashes]
