"""Schemas shared by several resources: the one error shape, a scored label and the
`deidentify` request field (what it does: mmserve.services.deidentify)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field


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


def _split(value: Any) -> Any:
    return [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value


Deidentify = Annotated[
    list[Literal["exif", "faces", "text"]],
    BeforeValidator(_split),
    Field(
        default_factory=list,
        description='What to strip: "text" redacts e-mails, phone, card and IBAN numbers and '
        'IP addresses from the text returned or stored; "exif" (always done: image bytes are '
        'never kept); "faces" is refused (no images are kept or returned)',
    ),
]
