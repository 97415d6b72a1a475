"""Request and response schemas of /v1/fusion/models, /v1/predict and /predict."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mmserve.files import PATH_MAX_CHARS
from mmserve.store.names import FUSION_MODEL

MEDIA = (
    "base64, a data: URI, an http(s) URL (if the server allows URLs), a path under the "
    "server's media root, or an OpenAI content part; omit it when the item has none"
)


class FusionRegister(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1,
        max_length=64,
        description="Served as fusion/<name>: lower-case letters, digits, '_', '-'",
        json_schema_extra={"pattern": FUSION_MODEL.json_pattern},
    )
    path: str = Field(
        min_length=1,
        description="A trained model directory inside the data directory or the media root",
        json_schema_extra={"maxLength": PATH_MAX_CHARS, "pattern": "^[^\\x00]+$"},
    )
    activate: bool = Field(True, description="Serve the new version at once")


class FusionActivate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1)


class FusionVersionOut(BaseModel):
    version: int
    path: str
    source: str
    registered_at: float
    strategy: str | None = None
    modalities: dict[str, str] = Field(default_factory=dict, description="modality -> encoder")
    targets: dict[str, Any] = Field(default_factory=dict)
    test_metrics: dict[str, Any] = Field(default_factory=dict)


class FusionModelOut(BaseModel):
    object: str = "fusion_model"
    id: str = Field(description="What /v1/predict takes as model: fusion/<name>")
    name: str
    active_version: int | None
    versions: list[FusionVersionOut]


class FusionModelList(BaseModel):
    object: str = "list"
    data: list[FusionModelOut]


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(
        None,
        description="fusion/<name>; default (and always on /predict): the only registered "
        "fusion model, or the one named 'default'",
        examples=["fusion/memes"],
    )
    text: str | None = Field(None, description="The item's text")
    image: str | dict[str, Any] | None = Field(None, description="The item's image: " + MEDIA)
    audio: str | dict[str, Any] | None = Field(None, description="The item's audio: " + MEDIA)


class PredictResponse(BaseModel):
    object: str = "prediction"
    model: str
    version: int
    label: str | None = Field(None, description="First target's label (classification)")
    probabilities: dict[str, float] | None = Field(None, description="First target's classes")
    value: float | None = Field(None, description="First target's value (regression)")
    targets: dict[str, Any] = Field(description="Every target: label + probabilities, or value")
