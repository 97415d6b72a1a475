"""Request and response schemas of POST /v1/rerank (Cohere's and Jina's shape)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MAX_DOCUMENTS = 1000


class RerankRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(
        None,
        description="An embedding model from GET /v1/models; default: minilm for texts, the "
        "first model that embeds every modality present otherwise (bridge)",
    )
    query: str | dict[str, Any] = Field(description="A text, or a content part")
    documents: list[str | dict[str, Any]] = Field(
        min_length=1,
        max_length=MAX_DOCUMENTS,
        description="Texts, {'text': ...} objects, or content parts (image_url, input_audio...)",
    )
    top_n: int | None = Field(None, ge=1, description="Return only the best top_n")
    return_documents: bool = Field(False, description="Echo each document in its result")


class RerankResult(BaseModel):
    index: int = Field(description="The document's position in the request")
    relevance_score: float = Field(description="Cosine similarity with the query, -1..1")
    document: dict[str, Any] | None = Field(
        None, description="With return_documents: {'text': ...}, or the content part sent"
    )


class RerankResponse(BaseModel):
    id: str
    model: str
    results: list[RerankResult] = Field(description="Best first")
    usage: dict[str, int]
