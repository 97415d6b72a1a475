"""POST /v1/rerank: order documents (texts, images, clips) by relevance to a query, in the
shape Cohere, Jina, TEI and infinity share."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, g, jsonify

from mmserve.api.common import parse_body, services
from mmserve.api.openapi import operation
from mmserve.api.schemas.rerank import RerankRequest, RerankResponse
from mmserve.services.content import Content, parse_content
from mmserve.services.rerank import rank

bp = Blueprint("rerank", __name__)


@bp.post("/v1/rerank")
@operation(
    "Rerank documents for a query",
    tags=["rerank"],
    request=RerankRequest,
    response=RerankResponse,
    errors=(400, 404, 413, 422, 429, 500, 503, 504),
)
def rerank() -> Any:
    """relevance_score is the cosine similarity of each document's embedding with the
    query's, computed by one embedding model in one batch; results are sorted best first."""
    body = parse_body(RerankRequest)
    svc = services()
    query = parse_content(body.query, param="query", config=svc.config)
    documents = [_document(d, i, svc.config) for i, d in enumerate(body.documents)]
    ranking = rank(
        svc.pool,
        query,
        documents,
        model=body.model,
        top_n=body.top_n,
        timeout_s=svc.config.limits.request_timeout_s,
        request_id=g.get("request_id"),
    )
    results = []
    for index, score in zip(ranking.order, ranking.scores, strict=True):
        result: dict[str, Any] = {"index": index, "relevance_score": score}
        if body.return_documents:
            result["document"] = _echo(body.documents[index])
        results.append(result)
    return jsonify(
        id=f"rerank-{uuid.uuid4().hex[:16]}",
        model=ranking.model,
        results=results,
        usage={"total_tokens": ranking.tokens},
    )


def _document(value: Any, index: int, config: Any) -> Content:
    # Cohere's v1 API also takes {"text": "..."} objects.
    if isinstance(value, dict) and set(value) == {"text"}:
        value = value["text"]
    return parse_content(value, param=f"documents[{index}]", config=config)


def _echo(value: Any) -> dict[str, Any]:
    return {"text": value} if isinstance(value, str) else dict(value)
