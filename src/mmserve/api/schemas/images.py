"""Request and response schemas of /v1/images/*: validated requests, and the OpenAPI document.

Both routes also take multipart/form-data: the image in a part named `file`, the other fields
as form fields; the JSON schemas below describe the JSON form.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mmserve.api.schemas.common import Label
from mmserve.services.deidentify import Deidentify

IMAGE_DESCRIPTION = (
    "The image: base64, a data: URI, an http(s) URL (if the server allows URLs), a path under "
    "the server's media root, or an OpenAI content part {'type': 'image_url', ...}. Or send "
    "multipart/form-data with the file in a part named 'file'."
)


class ImageRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image: str | dict[str, Any] | None = Field(
        None, description=IMAGE_DESCRIPTION, examples=["data:image/jpeg;base64,/9j/4AAQ..."]
    )
    model: str | None = Field(
        None, description="Model id from GET /v1/models; default: the first one that can"
    )
    deidentify: Deidentify


class OcrLine(BaseModel):
    text: str
    box: list[list[float]] = Field(description="4 corners [x, y], clockwise from top-left")
    confidence: float


class OcrResponse(BaseModel):
    model: str
    text: str = Field(description="The lines joined with newlines, in reading order")
    redactions: dict[str, int] | None = Field(
        None, description='With deidentify=["text"]: what was redacted, by type'
    )
    lines: list[OcrLine]


class CaptionRequest(ImageRequest):
    ocr: bool = Field(True, description="Read text in the image (if an OCR model is served)")


class CaptionResponse(BaseModel):
    caption: str = Field(description="One sentence")
    method: Literal["composed", "model"] = Field(
        description="composed: from the classifier's labels and the OCR text, not from a "
        "captioning model; model: written by a captioning model (caption_image)"
    )
    labels: list[Label] = Field(description="The classifier's top 5 (empty for method=model)")
    text: str = Field(description="Text read in the image (empty without an OCR model)")
    redactions: dict[str, int] | None = Field(
        None, description='With deidentify=["text"]: what was redacted, by type'
    )
    model: str = Field(description="The classifier or captioning model used")
    ocr_model: str | None = None
