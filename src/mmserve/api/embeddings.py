"""POST /v1/embeddings, in the OpenAI shape, so the official client works unmodified."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
from flask import Blueprint, g, jsonify

from mmserve.api.common import parse_body, services
from mmserve.api.openapi import operation
from mmserve.api.schemas import EmbeddingRequest, EmbeddingResponse
from mmserve.errors import ClientError, InvalidRequest
from mmserve.models.base import EMBED_TEXT

bp = Blueprint("embeddings", __name__)


@bp.post("/v1/embeddings")
@operation(
    "Embed texts",
    tags=["embeddings"],
    request=EmbeddingRequest,
    response=EmbeddingResponse,
    errors=(400, 404, 413, 422, 429, 500, 503, 504),
)
def create_embeddings() -> Any:
    """Each input is tokenised in the request thread, then batched with other requests'
    inputs for the forward pass."""
    body = parse_body(EmbeddingRequest)
    svc = services()
    runner = (
        svc.pool.get(body.model, EMBED_TEXT) if body.model else svc.pool.default_for(EMBED_TEXT)
    )
    if body.dimensions is not None:
        raise InvalidRequest(
            f"model {runner.model.id!r} does not support 'dimensions'; omit it to get all "
            f"{runner.model.describe().get('dimensions')} dimensions",
            param="dimensions",
        )
    texts = _texts(body.input, svc.config.limits.max_inputs)
    payloads = [
        _preprocess(runner.model, text, _param(body.input, index))
        for index, text in enumerate(texts)
    ]
    vectors = runner.infer(payloads, svc.config.limits.request_timeout_s, g.get("request_id"))
    tokens = sum(runner.model.count_tokens(p) for p in payloads)
    return jsonify(
        {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": _encode(v, body.encoding_format)}
                for i, v in enumerate(vectors)
            ],
            "model": runner.model.id,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )


def _texts(value: str | list[Any], max_inputs: int) -> list[str]:
    texts = [value] if isinstance(value, str) else value
    if not texts:
        raise InvalidRequest("input must not be an empty list", param="input")
    if not all(isinstance(t, str) for t in texts):
        raise InvalidRequest(
            "token arrays are not supported; send the text itself",
            param="input",
            code="unsupported_input",
        )
    if len(texts) > max_inputs:
        raise InvalidRequest(
            f"input has {len(texts)} items; the limit is {max_inputs} (limits.max_inputs). "
            "Split the call.",
            param="input",
            code="too_many_inputs",
        )
    for index, text in enumerate(texts):
        if not text.strip():
            raise InvalidRequest(
                "input must not be empty or whitespace only", param=_param(value, index)
            )
    return texts


def _preprocess(model: Any, text: str, param: str) -> Any:
    try:
        return model.preprocess(text)
    except ClientError as e:
        e.param = param
        raise


def _param(value: str | list[Any], index: int) -> str:
    return "input" if isinstance(value, str) else f"input[{index}]"


def _encode(vector: np.ndarray, encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":
        return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")
    return list(np.asarray(vector, dtype=np.float32).tolist())
