"""Schemas of POST /v1/embeddings (the OpenAI shape)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr


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
