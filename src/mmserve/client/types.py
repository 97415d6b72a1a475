"""Typed results: one dataclass per response schema of /openapi.json (named in `SCHEMA`).

tests/client/test_types.py checks that each class has exactly its schema's fields, so a
route that gains or loses a field fails a test until this file follows. Fields the server
adds later are ignored when parsing (an older client keeps working with a newer server).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Health:
    SCHEMA = "Health"
    status: str = "ok"


@dataclass(frozen=True)
class Readiness:
    SCHEMA = "Readiness"
    ready: bool
    models: dict[str, Any]


@dataclass(frozen=True)
class BatchingSettings:
    SCHEMA = "BatchingSettings"
    max_batch_size: int
    max_batch_tokens: int
    max_wait_ms: float
    queue_size: int
    workers: int


@dataclass(frozen=True)
class ModelCard:
    SCHEMA = "ModelCard"
    id: str
    created: int
    source: str
    modality: str
    capabilities: list[str]
    state: str
    queue_depth: int
    object: str = "model"
    owned_by: str = "mmserve"
    error: str | None = None
    batching: BatchingSettings | None = None  # None for 'grounded' (not batched)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Collection:
    SCHEMA = "CollectionOut"
    name: str
    model: str
    dim: int
    metadata_schema: dict[str, str] | None
    created_at: int
    item_count: int | None
    object: str = "collection"
    deidentify: list[str] = field(default_factory=list)  # fields redacted on every write


@dataclass(frozen=True)
class Item:
    SCHEMA = "ItemOut"
    id: str
    modality: str
    content_hash: str | None
    metadata: dict[str, Any]
    created_at: float
    updated_at: float
    vector: list[float] | None = None
    object: str = "item"


@dataclass(frozen=True)
class ItemPage:
    SCHEMA = "ItemPage"
    data: list[Item]
    next_cursor: str | None
    object: str = "list"


@dataclass(frozen=True)
class ItemRef:
    SCHEMA = "ItemRef"
    id: str
    modality: str


@dataclass(frozen=True)
class SearchHit:
    SCHEMA = "SearchHitOut"
    id: str
    score: float
    metadata: dict[str, Any]
    modality: str


@dataclass(frozen=True)
class Label:
    SCHEMA = "Label"
    label: str
    score: float


@dataclass(frozen=True)
class LabelScore:
    SCHEMA = "LabelScore"
    label: str
    score: float
    similarity: float


@dataclass(frozen=True)
class Classification:
    SCHEMA = "ClassificationResponse"
    model: str
    temperature: float
    data: list[LabelScore]
    label_set: str | None = None
    object: str = "classification"


@dataclass(frozen=True)
class LabelSet:
    SCHEMA = "LabelSetResponse"
    name: str
    labels: list[str]
    model: str
    prompt: str
    dimensions: int
    created_at: int
    object: str = "label_set"


@dataclass(frozen=True)
class Caption:
    SCHEMA = "CaptionResponse"
    caption: str
    method: str
    labels: list[Label]
    text: str
    model: str
    ocr_model: str | None = None
    redactions: dict[str, int] | None = None  # with deidentify=["text"]: counts by type


@dataclass(frozen=True)
class OcrLine:
    SCHEMA = "OcrLine"
    text: str
    box: list[list[float]]
    confidence: float


@dataclass(frozen=True)
class Ocr:
    SCHEMA = "OcrResponse"
    model: str
    text: str
    lines: list[OcrLine]
    redactions: dict[str, int] | None = None  # with deidentify=["text"]: counts by type


@dataclass(frozen=True)
class AudioFrame:
    SCHEMA = "AudioFrame"
    start: float
    end: float
    labels: list[Label]


@dataclass(frozen=True)
class AudioTags:
    SCHEMA = "AudioClassificationResponse"
    model: str
    duration: float
    labels: list[Label]
    frames: list[AudioFrame]


@dataclass(frozen=True)
class Segment:
    SCHEMA = "Segment"
    id: int
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Transcription:
    SCHEMA = "TranscriptionResponse"
    text: str
    language: str | None = None
    duration: float | None = None
    segments: list[Segment] | None = None


@dataclass(frozen=True)
class Prediction:
    SCHEMA = "PredictResponse"
    model: str
    version: int
    targets: dict[str, Any]
    label: str | None = None
    probabilities: dict[str, float] | None = None
    value: float | None = None
    object: str = "prediction"


@dataclass(frozen=True)
class FusionVersion:
    SCHEMA = "FusionVersionOut"
    version: int
    path: str
    source: str
    registered_at: float
    strategy: str | None = None
    modalities: dict[str, Any] = field(default_factory=dict)
    targets: dict[str, Any] = field(default_factory=dict)
    test_metrics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FusionModel:
    SCHEMA = "FusionModelOut"
    id: str
    name: str
    active_version: int | None
    versions: list[FusionVersion]
    object: str = "fusion_model"


@dataclass(frozen=True)
class Job:
    SCHEMA = "JobOut"
    id: str
    type: str
    state: str
    progress: dict[str, Any]
    params: dict[str, Any]
    result: Any
    error: str | None
    cancel_requested: bool
    created_at: float
    updated_at: float
    object: str = "job"

    @property
    def finished(self) -> bool:
        return self.state in ("succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class TranscriptDelta:
    """One event of a streamed transcription (not an OpenAPI schema: an SSE event)."""

    type: str  # "transcript.text.delta" or "transcript.text.done"
    text: str  # the delta, or the whole text when done
    segment: Segment | None = None
    duration: float | None = None
    language: str | None = None


@dataclass(frozen=True)
class RerankResult:
    SCHEMA = "RerankResult"
    index: int
    relevance_score: float
    document: dict[str, Any] | None = None


@dataclass(frozen=True)
class Rerank:
    SCHEMA = "RerankResponse"
    id: str
    model: str
    results: list[RerankResult]
    usage: dict[str, int]


RESPONSE_TYPES = (
    Health, Readiness, BatchingSettings, ModelCard, Collection, Item, ItemPage, ItemRef,
    SearchHit, Label, LabelScore, Classification, LabelSet, Caption, OcrLine, Ocr, AudioFrame,
    AudioTags, Segment, Transcription, Prediction, FusionVersion, FusionModel, Job,
    RerankResult, Rerank,
)  # fmt: skip


def parse(kind: type[T], data: Any) -> T:
    """JSON -> `kind` (a dataclass above, a list[...] of one, or a plain type)."""
    return typing.cast(T, _convert(kind, data))


def _convert(kind: Any, data: Any) -> Any:
    if data is None:
        return None
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(kind) if a is not type(None)]
        return _convert(members[0], data) if len(members) == 1 else data
    if origin is list:
        (item,) = typing.get_args(kind)
        return [_convert(item, x) for x in data]
    if dataclasses.is_dataclass(kind) and isinstance(data, dict):
        hints = _hints(kind)
        known = {f.name for f in dataclasses.fields(kind)}
        return kind(**{k: _convert(hints[k], v) for k, v in data.items() if k in known})
    return data


@cache
def _hints(kind: type) -> dict[str, Any]:
    return typing.get_type_hints(kind)
