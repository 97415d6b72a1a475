"""Request and response schemas of zero-shot classification and label sets."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr

INPUT_DESCRIPTION = (
    "One item of any modality: a text, or a content part "
    '({"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}}, '
    '{"type": "input_audio", "input_audio": {"data": "<base64>", "format": "wav"}}, ...)'
)


class ClassificationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: StrictStr | dict[str, Any] = Field(description=INPUT_DESCRIPTION)
    labels: list[StrictStr] | None = Field(
        None,
        description="Candidate labels; or name a stored `label_set`",
        examples=[["cat", "dog"]],
    )
    label_set: StrictStr | None = Field(None, description="Name of a set from POST /v1/label-sets")
    prompt: StrictStr | None = Field(
        None,
        description="Template for inline labels, '{}' replaced by each label; default '{}'",
        examples=["a photo of a {}"],
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

    name: StrictStr = Field(examples=["animals"])
    labels: list[StrictStr] = Field(examples=[["cat", "dog", "horse"]])
    prompt: StrictStr = Field(
        "{}",
        description="'{}' replaced by each label before embedding",
        examples=["a photo of a {}"],
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
