"""Schemas of the background job routes (/v1/jobs)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: StrictStr = Field(examples=["index"])
    params: dict[str, Any] = Field(
        default_factory=dict, examples=[{"path": "photos/2021", "collection": "photos"}]
    )


class JobOut(BaseModel):
    object: str = "job"
    id: str
    type: str
    state: str
    progress: dict[str, int | None]
    params: dict[str, Any]
    result: Any
    error: str | None
    cancel_requested: bool
    created_at: float
    updated_at: float


class JobList(BaseModel):
    object: str = "list"
    data: list[JobOut]
