"""POST /v1/embeddings, in the OpenAI shape, so the official client works unmodified.

`input` may also hold content parts (images, audio) for models that embed them: strings stay
text, parts decode through mmserve.services.content. Every vector of one call comes from one model,
so texts and images of one call share a space (with `bridge`, MiniLM's)."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
from flask import Blueprint, g, jsonify

from mmserve.api.common import parse_body, services
from mmserve.api.openapi import operation
from mmserve.api.schemas.embeddings import EmbeddingRequest, EmbeddingResponse
from mmserve.errors import InvalidRequest
from mmserve.models.base import EMBED_TEXT
from mmserve.services.content import embed_contents, image_side, parse_inputs

bp = Blueprint("embeddings", __name__)


@bp.post("/v1/embeddings")
@operation(
    "Embed texts, images and audio",
    tags=["embeddings"],
    request=EmbeddingRequest,
    response=EmbeddingResponse,
    errors=(400, 404, 413, 422, 429, 500, 503, 504),
)
def create_embeddings() -> Any:
    """Each input is decoded and preprocessed in the request thread (tokenised, resized),
    then batched with other requests' inputs for the forward pass."""
    body = parse_body(EmbeddingRequest)
    svc = services()
    if body.dimensions is not None:
        _refuse_dimensions(body.model)
    side = image_side(svc.pool, body.model)
    contents = parse_inputs(body.input, config=svc.config, image_min_side=side)
    single = not isinstance(body.input, list)
    embedded = embed_contents(
        svc.pool,
        contents,
        model=body.model,
        timeout_s=svc.config.limits.request_timeout_s,
        request_id=g.get("request_id"),
        params=["input"] if single else None,
    )
    tokens = embedded.text_tokens
    return jsonify(
        {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": _encode(v, body.encoding_format)}
                for i, v in enumerate(embedded.vectors)
            ],
            "model": embedded.model_id,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )


def _refuse_dimensions(model_id: str | None) -> None:
    pool = services().pool
    runner = pool.get(model_id) if model_id else pool.default_for(EMBED_TEXT)
    raise InvalidRequest(
        f"model {runner.model.id!r} does not support 'dimensions'; omit it to get all "
        f"{runner.model.describe().get('dimensions')} dimensions",
        param="dimensions",
    )


def _encode(vector: np.ndarray, encoding_format: str) -> np.ndarray | str:
    """base64 of little-endian float32 bytes, or the float32 array itself, which the app's
    JSON provider writes as a list of floats straight from its buffer."""
    if encoding_format == "base64":
        return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")
    return np.ascontiguousarray(vector, dtype=np.float32)
