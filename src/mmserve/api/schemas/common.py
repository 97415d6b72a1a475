"""Schemas shared by several resources: the one error shape and a scored label. (The
`deidentify` field, shared too, lives with what it does: mmserve.services.deidentify.)"""

from __future__ import annotations

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail
    request_id: str | None = Field(None, description="Quote it when reporting a problem")


class Label(BaseModel):
    """One label and its score (image classes, audio events)."""

    label: str
    score: float
