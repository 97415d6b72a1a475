"""Request and response schemas of /v1/audio/*: validated requests, and the OpenAPI document.

Both routes take multipart/form-data (the clip in a part named `file`, the other fields as
form fields, as OpenAI's transcription API does) or JSON with the clip in `audio`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mmserve.api.schemas.common import Label
from mmserve.services.deidentify import Deidentify

AUDIO_DESCRIPTION = (
    "The clip (WAV, FLAC, OGG/Opus, MP3, MP4/M4A, AAC or WebM): base64, a data: URI, an "
    "http(s) URL (if the server allows URLs), a path under the server's media root, or an "
    "OpenAI content part {'type': 'input_audio', ...}. Or send multipart/form-data with the "
    "file in a part named 'file'."
)
MAX_TOP_K = 521  # AudioSet's classes


class AudioClassificationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    audio: str | dict[str, Any] | None = Field(None, description=AUDIO_DESCRIPTION)
    model: str | None = Field(
        None, description="Model id from GET /v1/models; default: the first audio classifier"
    )
    top_k: int = Field(5, ge=1, le=MAX_TOP_K, description="Clip-level labels to return")
    pooling: Literal["mean", "max"] = Field(
        "mean",
        description="How frame probabilities become the clip's: mean (what the clip is "
        "mostly, YAMNet's own convention) or max (anything that happens at least once)",
    )


class AudioFrame(BaseModel):
    start: float = Field(description="Seconds from the start of the clip")
    end: float = Field(description="start + the model's window (0.96 s for YAMNet)")
    labels: list[Label] = Field(description="The frame's top 3")


class AudioClassificationResponse(BaseModel):
    model: str
    duration: float = Field(description="Seconds of audio")
    labels: list[Label] = Field(description="Clip-level top_k, frame probabilities pooled")
    frames: list[AudioFrame]


class TranscriptionRequest(BaseModel):
    """OpenAI's POST /v1/audio/transcriptions fields (multipart), or the same as JSON."""

    model_config = ConfigDict(extra="forbid")

    audio: str | dict[str, Any] | None = Field(None, description=AUDIO_DESCRIPTION)
    model: str | None = Field(
        None,
        description="A served speech model; 'whisper-1' (OpenAI's name) and no model mean "
        "the first one served",
    )
    language: str | None = Field(None, description="ISO-639-1 code of the speech, e.g. 'en'")
    prompt: str | None = Field(None, description="Text to steer spelling and style")
    temperature: float | None = Field(None, ge=0, le=1, description="0: deterministic")
    response_format: Literal["json", "text", "srt", "vtt", "verbose_json"] = "json"
    timestamp_granularities: list[Literal["segment", "word"]] = Field(
        default_factory=lambda: ["segment"],
        description="'word' adds word timestamps; needs response_format=verbose_json",
    )
    stream: bool = Field(
        False,
        description="Server-sent events: one transcript.text.delta per segment as soon as "
        "it is transcribed, then transcript.text.done (or an error event)",
    )
    deidentify: Deidentify


class Segment(BaseModel):
    id: int
    start: float
    end: float
    text: str


class TranscriptionResponse(BaseModel):
    """response_format=json; verbose_json adds task, language, duration, segments, words;
    text, srt and vtt answer text/plain or text/vtt."""

    text: str
    language: str | None = None
    duration: float | None = None
    segments: list[Segment] | None = None
