"""Request and response schemas of /v1/files and /v1/batches (OpenAI's shapes)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr


class FileOut(BaseModel):
    id: str
    object: str = "file"
    bytes: int
    created_at: int
    filename: str
    purpose: str = Field(description='"batch" (an input), "batch_output" (a batch wrote it)')
    status: str = "processed"
    status_details: str | None = None


class FileList(BaseModel):
    object: str = "list"
    data: list[FileOut]
    # Every file is in one page: false tells the openai client's iterator to stop (without
    # it, it asks again with after=<last id> and would loop).
    has_more: bool = False


class FileDeleted(BaseModel):
    id: str
    object: str = "file"
    deleted: bool


class BatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input_file_id: StrictStr = Field(description="A file uploaded with purpose 'batch'")
    endpoint: StrictStr = Field(
        description="The route every line calls: /v1/embeddings or one of mmserve's own "
        "(/v1/classifications, /v1/images/captions, ...); GET /v1/batches/endpoints lists them",
        examples=["/v1/embeddings"],
    )
    completion_window: StrictStr = Field("24h", description='"24h", the only window')
    metadata: dict[StrictStr, StrictStr] | None = Field(None, description="Kept with the batch")


class RequestCounts(BaseModel):
    total: int
    completed: int
    failed: int


class BatchOut(BaseModel):
    id: str
    object: str = "batch"
    endpoint: str
    errors: dict[str, Any] | None
    input_file_id: str
    completion_window: str
    status: str = Field(
        description="validating, in_progress, cancelling, completed, failed, cancelled"
    )
    output_file_id: str | None
    error_file_id: str | None
    created_at: int
    in_progress_at: int | None
    expires_at: int | None
    finalizing_at: int | None
    completed_at: int | None
    failed_at: int | None
    expired_at: int | None
    cancelling_at: int | None
    cancelled_at: int | None
    request_counts: RequestCounts
    metadata: dict[str, str] | None


class BatchList(BaseModel):
    object: str = "list"
    data: list[BatchOut]
    first_id: str | None
    last_id: str | None
    has_more: bool


class BatchEndpoints(BaseModel):
    object: str = "list"
    data: list[str]
