"""Request and response schemas, declared once: requests are validated with them and the
OpenAPI document is generated from them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail
    request_id: str | None = Field(None, description="Quote it when reporting a problem")


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: (
        StrictStr | dict[str, Any] | list[StrictStr | dict[str, Any] | StrictInt | list[StrictInt]]
    ) = Field(
        description="A text, a content part, or a list of them. Content parts: "
        '{"type": "text", "text": ...}, {"type": "image_url", "image_url": {"url": ...}}, '
        '{"type": "image", "image": <base64>}, {"type": "input_audio", "input_audio": '
        '{"data": <base64>, "format": "wav"}}, {"type": "audio", "audio": <base64>}. '
        "Images and audio need a model that embeds them (e.g. bridge). Token arrays are "
        "refused: send text.",
        examples=[
            "a dog on the beach",
            ["first text", "second text"],
            ["a cat", {"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}}],
        ],
    )
    model: str | None = Field(
        None,
        description="Model id from GET /v1/models; default: the first embedding model",
        examples=["minilm"],
    )
    encoding_format: Literal["float", "base64"] = Field(
        "float", description="base64: little-endian float32 bytes, as the openai client reads"
    )
    dimensions: int | None = Field(
        None, gt=0, description="Only for models that support shortened embeddings"
    )
    user: str | None = Field(None, description="Accepted for OpenAI compatibility; unused")


class Embedding(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class EmbeddingUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage


class BatchingSettings(BaseModel):
    max_batch_size: int
    max_wait_ms: float
    queue_size: int
    workers: int


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "mmserve"
    source: str
    modality: str
    capabilities: list[str]
    state: Literal["loading", "ready", "degraded", "failed"]
    error: str | None = None
    queue_depth: int
    batching: BatchingSettings
    details: dict[str, Any] = Field(
        default_factory=dict, description="dimensions, max_tokens and other model facts"
    )


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    ready: bool
    models: dict[str, dict[str, Any]]
