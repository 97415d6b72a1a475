"""POST /v1/audio/classifications (what sounds are in a clip, over time) and
POST /v1/audio/transcriptions (OpenAI's speech-to-text shape: the official `openai` client's
client.audio.transcriptions.create(model=..., file=...) works unmodified).

Transcription decodes and transcribes a recording window by window (services/transcripts.py):
the header's duration is checked against media.max_audio_seconds before anything is decoded,
and with stream=true each segment is sent as a server-sent event as soon as it exists.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
from flask import Blueprint, Response, g, jsonify, request, stream_with_context
from pydantic import ValidationError

from mmserve.api.common import schema_error, services, takes_one_upload
from mmserve.api.media_input import (
    media_param,
    request_audio,
    request_json,
    request_media_bytes,
    request_options,
)
from mmserve.api.openapi import operation
from mmserve.api.schemas.audio import (
    AudioClassificationRequest,
    AudioClassificationResponse,
    TranscriptionRequest,
    TranscriptionResponse,
)
from mmserve.batching.runner import ModelRunner
from mmserve.errors import ClientError, InvalidRequest, MMServeError, error_body
from mmserve.media.audio import SAMPLE_RATE, iter_audio_chunks
from mmserve.models.base import CLASSIFY_AUDIO, TRANSCRIBE, Waveform
from mmserve.services.deidentify import redact_segments, wants_text
from mmserve.services.transcripts import (
    Transcript,
    check_options,
    speech_windows,
    srt,
    transcribe_windows,
    verbose_json,
    vtt,
)

bp = Blueprint("audio", __name__)
log = logging.getLogger("mmserve.audio")

FRAME_TOP = 3  # labels per frame
OPENAI_MODEL_ALIASES = ("whisper-1",)  # mean "the default speech model" unless served by id
ERRORS = (400, 404, 413, 422, 429, 500, 503, 504)
MIMETYPES = {"text": "text/plain", "srt": "application/x-subrip", "vtt": "text/vtt"}


@bp.post("/v1/audio/classifications")
@takes_one_upload("audio")
@operation(
    "Tag the sounds in an audio clip",
    tags=["audio"],
    request=AudioClassificationRequest,
    response=AudioClassificationResponse,
    errors=ERRORS,
)
def classifications() -> Any:
    """AudioSet labels (YAMNet: 521 classes) for the whole clip and for each 0.96 s frame
    (one every 0.48 s). Clip-level scores pool the frame probabilities: by their mean by
    default (what the clip mostly is), or their max (pooling=max: anything heard at least
    once). The clip comes as JSON `audio` or as a multipart upload named `file`."""
    body = request_options(AudioClassificationRequest)
    runner = _runner(body.model, CLASSIFY_AUDIO)
    samples = request_audio("audio", SAMPLE_RATE)
    try:
        payload = runner.model.preprocess(Waveform(samples, SAMPLE_RATE))
    except ClientError as e:
        e.param = media_param("audio")
        raise
    svc = services()
    probs = runner.infer([payload], svc.config.limits.request_timeout_s, g.get("request_id"))[0]
    names = runner.model.class_names
    duration = len(samples) / SAMPLE_RATE
    pooled = probs.max(axis=0) if body.pooling == "max" else probs.mean(axis=0)
    step = float(runner.model.frame_seconds)
    window = float(runner.model.window_seconds or step)
    frames = [
        {
            "start": round(i * step, 3),
            "end": round(min(i * step + window, max(duration, i * step)), 3),
            "labels": _top(row, names, FRAME_TOP),
        }
        for i, row in enumerate(probs)
    ]
    return jsonify(
        {
            "model": runner.model.id,
            "duration": round(duration, 3),
            "labels": _top(pooled, names, body.top_k),
            "frames": frames,
        }
    )


def _top(probs: np.ndarray, names: list[str], k: int) -> list[dict[str, Any]]:
    order = np.argsort(-probs, kind="stable")[:k]
    return [{"label": names[i], "score": round(float(probs[i]), 4)} for i in order]


@bp.post("/v1/audio/transcriptions")
@takes_one_upload("audio")
@operation(
    "Transcribe speech (OpenAI-compatible)",
    tags=["audio"],
    request=TranscriptionRequest,
    response=TranscriptionResponse,
    errors=ERRORS,
)
def transcriptions() -> Any:
    """Speech to text in OpenAI's shape: multipart `file` plus `model`, `language`, `prompt`,
    `temperature`, `response_format` (json, text, srt, vtt, verbose_json),
    `timestamp_granularities[]` (word needs verbose_json) and `stream`; or JSON with the clip
    in `audio`. Recordings up to media.max_audio_seconds (checked from the header before
    decoding) are transcribed in windows of about a minute; each window has
    limits.request_timeout_s to finish (504 naming where it stopped)."""
    body = _transcription_request()
    runner = _transcriber(body.model)
    words = "word" in body.timestamp_granularities
    if words and body.response_format != "verbose_json" and not body.stream:
        raise InvalidRequest(
            "timestamp_granularities: word timestamps need response_format=verbose_json",
            param="timestamp_granularities",
        )
    redactions: dict[str, int] | None = None
    if wants_text(body.deidentify):
        if words:
            raise InvalidRequest(
                "deidentify: word timestamps would show what 'text' redacts (a phone number "
                "spans words); ask for segment timestamps only",
                param="deidentify",
            )
        redactions = {}
    options = _options(body, words)
    check_options(runner, options)
    data = request_media_bytes("audio", "audio")
    field = media_param("audio")
    chunks = iter_audio_chunks(data, policy=services().config.media, field=field)
    # Decode the first chunk now: a file that is corrupt from the start answers 400, not a
    # stream that fails at once.
    first = next(chunks)
    windows = speech_windows(itertools.chain([first], chunks))
    timeout_s = services().config.limits.request_timeout_s
    parts = transcribe_windows(runner, windows, options, timeout_s, g.get("request_id"))
    if redactions is not None:
        parts = redact_segments(parts, redactions)
    if body.stream:
        events = _events(parts, g.get("request_id"))
        # no-cache and X-Accel-Buffering: proxies (nginx) pass each event on at once
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return Response(stream_with_context(events), mimetype="text/event-stream", headers=headers)
    transcript = Transcript()
    for part in parts:
        transcript.add(part)
    return _formatted(transcript, body.response_format, words, redactions)


def _transcription_request() -> TranscriptionRequest:
    """The fields, from JSON or from the form; `timestamp_granularities[]` (the openai
    client's spelling) may repeat."""
    if request.mimetype == "multipart/form-data":
        data: dict[str, Any] = request.form.to_dict()
        granularities = request.form.getlist("timestamp_granularities[]")
        granularities += request.form.getlist("timestamp_granularities")
        data.pop("timestamp_granularities[]", None)
        if granularities:
            data["timestamp_granularities"] = granularities
    else:
        data = dict(request_json())
    try:
        return TranscriptionRequest.model_validate(data)
    except ValidationError as e:
        raise schema_error(e) from None


def _options(body: TranscriptionRequest, words: bool) -> dict[str, Any]:
    """The SpeechClip options the request sets."""
    values = {
        "language": body.language.lower() if body.language else None,
        "prompt": body.prompt or None,
        "temperature": body.temperature,
        "word_timestamps": True if words else None,
    }
    return {name: value for name, value in values.items() if value is not None}


def _formatted(
    transcript: Transcript, response_format: str, words: bool, redactions: dict[str, int] | None
) -> Any:
    """The transcript in `response_format`; with redactions, JSON formats carry them as
    `redactions` and text formats as an X-Redactions header ("email=1,phone=2")."""
    extra = {} if redactions is None else {"redactions": redactions}
    if response_format == "json":
        return jsonify({"text": transcript.text, **extra})
    if response_format == "verbose_json":
        return jsonify({**verbose_json(transcript, words), **extra})
    text = {"text": transcript.text + "\n", "srt": srt, "vtt": vtt}[response_format]
    body = text if isinstance(text, str) else text(transcript.segments)
    response = Response(body, mimetype=MIMETYPES[response_format])
    if redactions is not None:
        response.headers["X-Redactions"] = ",".join(f"{k}={v}" for k, v in redactions.items())
    return response


def _events(parts: Iterator[Any], request_id: str | None) -> Iterator[str]:
    """OpenAI's transcription stream events: transcript.text.delta per segment (with the
    segment itself added), then transcript.text.done; an error mid-way is an `error` event,
    since the 200 status has already been sent."""
    transcript = Transcript()
    try:
        for part in parts:
            transcript.add(part)
            for segment in part.segments:
                delta = ("" if segment["id"] == 0 else " ") + segment["text"]
                yield _sse({"type": "transcript.text.delta", "delta": delta, "segment": segment})
    except MMServeError as e:
        if not e.public:
            log.error("request %s failed mid-stream: %s", request_id, e.message, exc_info=e)
        message = e.message if e.public else "internal error; see the server log"
        yield _sse({"type": "error", **error_body(message, e.type, e.code, e.param)})
        return
    except Exception as e:  # the stream has started: the error handlers cannot answer now
        log.error("request %s failed mid-stream", request_id, exc_info=e)
        body = error_body("internal error; see the server log", "server_error", "internal_error")
        yield _sse({"type": "error", **body})
        return
    done = {
        "type": "transcript.text.done",
        "text": transcript.text,
        "duration": round(transcript.duration, 3),
        "language": transcript.language,
    }
    yield _sse(done)


def _sse(event: dict[str, Any]) -> str:
    return f"data: {json.dumps(event)}\n\n"


def _runner(model_id: str | None, capability: str) -> ModelRunner:
    pool = services().pool
    return pool.get(model_id, capability) if model_id else pool.default_for(capability)


def _transcriber(model_id: str | None) -> ModelRunner:
    pool = services().pool
    if model_id in OPENAI_MODEL_ALIASES and model_id not in pool.runners:
        model_id = None
    return _runner(model_id, TRANSCRIBE)
