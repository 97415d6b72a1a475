"""Schemas of GET /v1/models: the model cards."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class BatchingSettings(BaseModel):
    max_batch_size: int
    max_batch_tokens: int
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
    batching: BatchingSettings | None = Field(
        None, description="null for models not run through the batcher ('grounded')"
    )
    details: dict[str, Any] = Field(
        default_factory=dict, description="dimensions, max_tokens and other model facts"
    )


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
