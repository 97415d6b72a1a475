"""Embedding content for the search store, through its embedding cache.

One function used by the collection routes, the "index" job and `mmserve index`, so the
server and the CLI embed alike. The cache is keyed by (model, sha256 of the modality and
the content's bytes): the same text, image or clip is embedded once per model, whichever
request or collection it arrives through.

Until the shared content parser (api/content.py) lands, `to_piece` turns a request value
into a Piece: a string is text; content parts are refused with a message saying so.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mmserve.batching.pool import ModelPool
from mmserve.errors import ClientError, InvalidRequest, UnsupportedCapability
from mmserve.models.base import EMBED_AUDIO, EMBED_IMAGE, EMBED_TEXT
from mmserve.store import SearchStore

CAPABILITY = {"text": EMBED_TEXT, "image": EMBED_IMAGE, "audio": EMBED_AUDIO}


@dataclass(frozen=True)
class Piece:
    """One thing to embed: its modality, what the model's preprocess takes (or a callable
    producing it, so a cache hit skips decoding), the hash key and the field to blame."""

    modality: str  # text | image | audio
    value: Any
    content_hash: str
    param: str


def content_hash(modality: str, data: bytes) -> str:
    return hashlib.sha256(modality.encode() + b"\0" + data).hexdigest()


def text_piece(text: str, param: str) -> Piece:
    if not text.strip():
        raise InvalidRequest(f"{param} must not be empty or whitespace only", param=param)
    return Piece("text", text, content_hash("text", text.encode()), param)


def to_piece(value: Any, param: str, config: Any) -> Piece:
    """A request's content (a string, or a content part) as a Piece."""
    if isinstance(value, str):
        return text_piece(value, param)
    try:
        from mmserve.api import content  # the shared parser, once it exists
    except ImportError:
        raise InvalidRequest(
            f"{param}: only text content is accepted by this server build; send a string, "
            "or a precomputed 'vector'",
            param=param,
        ) from None
    return _from_content(content, value, param, config)


def _from_content(content: Any, value: Any, param: str, config: Any) -> Piece:
    parsed = content.parse_content(value, param=param, config=config)
    raw = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    return Piece(parsed.modality, parsed.value, content_hash(parsed.modality, raw), param)


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
    cached = store.embedding_cache.get_many(model_id, hashes)
    missing: dict[str, Piece] = {}
    for piece in pieces:
        if piece.content_hash not in cached:
            missing.setdefault(piece.content_hash, piece)
    by_modality: dict[str, list[Piece]] = {}
    for piece in missing.values():
        by_modality.setdefault(piece.modality, []).append(piece)
    fresh: dict[str, np.ndarray] = {}
    for modality, group in by_modality.items():
        try:
            runner = pool.get(model_id, CAPABILITY[modality])
        except UnsupportedCapability as e:  # blame the first item needing what it lacks
            e.param = group[0].param
            raise
        payloads = [_preprocess(runner.model, p) for p in group]
        vectors = runner.infer(payloads, timeout_s, request_id)
        for piece, vector in zip(group, vectors, strict=True):
            fresh[piece.content_hash] = np.asarray(vector, dtype=np.float32)
    if fresh:
        store.embedding_cache.put_many(model_id, fresh)
    found = cached | fresh
    return [found[h] for h in hashes]


def _preprocess(model: Any, piece: Piece) -> Any:
    value = piece.value() if callable(piece.value) else piece.value
    try:
        return model.preprocess(value)
    except ClientError as e:
        e.param = e.param or piece.param
        raise
