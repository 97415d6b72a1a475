"""Request and response schemas of zero-shot classification and label sets."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from mmserve.store.names import LABEL_SET

MAX_LABELS = 1000  # per call and per set: ImageNet's 1000 classes fit
MAX_LABEL_CHARS = 200  # a label is a name or a short phrase, not a document
# Declared in the document (api/classifications.py enforces them, with messages of its own).
LABELS = {"minItems": 1, "maxItems": MAX_LABELS, "uniqueItems": True}
LABEL = {"minLength": 1, "maxLength": MAX_LABEL_CHARS, "pattern": r"\S"}
PROMPT = {"maxLength": MAX_LABEL_CHARS, "pattern": r"^[^{}]*\{\}[^{}]*$"}
NAME = {"pattern": LABEL_SET.json_pattern, "maxLength": 64}

INPUT_DESCRIPTION = (
    "One item of any modality: a text, or a content part "
    '({"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}}, '
    '{"type": "input_audio", "input_audio": {"data": "<base64>", "format": "wav"}}, ...)'
)


class ClassificationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: StrictStr | dict[str, Any] = Field(description=INPUT_DESCRIPTION)
    labels: list[Annotated[StrictStr, Field(json_schema_extra=LABEL)]] | None = Field(
        None,
        description="Candidate labels; or name a stored `label_set`",
        examples=[["cat", "dog"]],
        json_schema_extra=LABELS,
    )
    label_set: StrictStr | None = Field(
        None, description="Name of a set from POST /v1/label-sets", json_schema_extra=NAME
    )
    prompt: StrictStr | None = Field(
        None,
        description="Template for inline labels, '{}' replaced by each label; default '{}'",
        examples=["a photo of a {}"],
        json_schema_extra=PROMPT,
    )
    model: str | None = Field(
        None,
        description="A model embedding both the input's modality and text; default: the first "
        "served one (a label set's own model when one is named)",
    )
    top_k: int | None = Field(None, ge=1, description="Keep the best k labels; default: all")


class LabelScore(BaseModel):
    label: str
    score: float = Field(description="softmax over all labels of cosine / temperature")
    similarity: float = Field(description="cosine similarity of input and label, in [-1, 1]")


class ClassificationResponse(BaseModel):
    object: str = "classification"
    model: str
    label_set: str | None = None
    temperature: float
    data: list[LabelScore]


class LabelSetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: StrictStr = Field(examples=["animals"], json_schema_extra=NAME)
    labels: list[Annotated[StrictStr, Field(json_schema_extra=LABEL)]] = Field(
        examples=[["cat", "dog", "horse"]], json_schema_extra=LABELS
    )
    prompt: StrictStr = Field(
        "{}",
        description="'{}' replaced by each label before embedding",
        examples=["a photo of a {}"],
        json_schema_extra=PROMPT,
    )
    model: str | None = Field(
        None,
        description="Embedding model; default: the first served model that embeds text and "
        "images or audio, else the first that embeds text",
    )


class LabelSetResponse(BaseModel):
    object: str = "label_set"
    name: str
    labels: list[str]
    model: str
    prompt: str
    dimensions: int
    created_at: int


class LabelSetList(BaseModel):
    object: str = "list"
    data: list[LabelSetResponse]


class Deleted(BaseModel):
    object: str = "label_set.deleted"
    name: str
    deleted: bool = True
