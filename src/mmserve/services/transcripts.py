"""Transcribing a recording of any length through a TRANSCRIBE model's batcher, and writing the
transcript in OpenAI's response formats. No Flask here: api/routes/audio.py is the HTTP side.

A long recording is never decoded whole: media.iter_audio_chunks gives 30 s of samples at a
time, `speech_windows` regroups them into windows of about WINDOW_SECONDS that end at the
quietest 0.1 s of their last CUT_SEARCH_SECONDS (so a cut rarely falls inside a word), and
each window is one work item for the model, with its own deadline. So at most about two
windows of samples are held (~6 MB), segments come back while the rest is still decoding
(the SSE stream sends them at once), and a slow window fails with a 504 that names where it
was instead of the whole hour failing silently.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mmserve.batching.runner import ModelRunner
from mmserve.errors import DeadlineExceeded, InvalidRequest
from mmserve.media.audio import SAMPLE_RATE
from mmserve.models.base import SpeechClip, Waveform

WINDOW_SECONDS = 60.0  # audio per work item: a few seconds of CPU at RTF ~0.1
CUT_SEARCH_SECONDS = 5.0  # a window ends at the quietest point of its last 5 s
QUIET_FRAME_SECONDS = 0.1  # energy is compared over frames this long


@dataclass
class TranscriptPart:
    """What one window added: segments with timestamps from the start of the recording."""

    start: float
    seconds: float
    segments: list[dict[str, Any]]
    language: str | None = None


@dataclass
class Transcript:
    """The whole recording, gathered from its parts."""

    segments: list[dict[str, Any]] = field(default_factory=list)
    duration: float = 0.0
    language: str | None = None

    def add(self, part: TranscriptPart) -> None:
        self.segments += part.segments
        self.duration = part.start + part.seconds
        self.language = self.language or part.language

    @property
    def text(self) -> str:
        return " ".join(s["text"] for s in self.segments if s["text"])


def speech_windows(
    chunks: Iterable[np.ndarray],
    sample_rate: int = SAMPLE_RATE,
    window_seconds: float = WINDOW_SECONDS,
    search_seconds: float = CUT_SEARCH_SECONDS,
) -> Iterator[tuple[float, np.ndarray]]:
    """(start in seconds, samples) windows of at most `window_seconds`, each cut at the
    quietest QUIET_FRAME_SECONDS of its last `search_seconds`; the last one is shorter."""
    window = round(window_seconds * sample_rate)
    search = min(round(search_seconds * sample_rate), window // 2)
    frame = max(1, round(QUIET_FRAME_SECONDS * sample_rate))
    pending = np.empty(0, dtype=np.float32)
    offset = 0  # samples already given out
    for chunk in chunks:
        pending = np.concatenate([pending, chunk])
        while len(pending) >= window:
            cut = quiet_cut(pending[:window], search, frame)
            yield offset / sample_rate, pending[:cut]
            pending, offset = pending[cut:], offset + cut
    if len(pending):
        yield offset / sample_rate, pending


def quiet_cut(samples: np.ndarray, search: int, frame: int) -> int:
    """Index just after the middle of the lowest-energy frame in the last `search` samples."""
    tail = samples[len(samples) - search :]
    frames = len(tail) // frame
    if frames == 0:
        return len(samples)
    energy = np.square(tail[: frames * frame].reshape(frames, frame)).sum(axis=1)  # (frames,)
    return len(samples) - search + int(np.argmin(energy)) * frame + frame // 2


def transcribe_windows(
    runner: ModelRunner,
    windows: Iterable[tuple[float, np.ndarray]],
    options: dict[str, Any],
    timeout_s: float,
    request_id: str | None = None,
) -> Iterator[TranscriptPart]:
    """Each window through the model's batcher, in order; segment ids and timestamps are
    continued across windows. `options` are SpeechClip fields the model honours."""
    next_id = 0
    for start, samples in windows:
        clip = _clip(runner, samples, options)
        payload = runner.model.preprocess(clip)
        try:
            out = runner.infer([payload], timeout_s, request_id)[0]
        except DeadlineExceeded:
            raise DeadlineExceeded(
                f"transcribing {len(samples) / SAMPLE_RATE:.0f} s of audio from "
                f"{timestamp(start, ',')} did not finish within request_timeout_s "
                f"({timeout_s:g} s); the server is busy. Retry, or stream (stream=true) to "
                "keep the segments already transcribed"
            ) from None
        segments = [
            _shifted(segment, start, next_id + i) for i, segment in enumerate(out["segments"])
        ]
        next_id += len(segments)
        yield TranscriptPart(start, len(samples) / SAMPLE_RATE, segments, out.get("language"))


def _clip(runner: ModelRunner, samples: np.ndarray, options: dict[str, Any]) -> Waveform:
    # The request's prompt goes with every window (it is vocabulary and style). The text of
    # the previous window is not passed on, as Whisper does within a window: measured on a
    # 5-minute recording it raised the WER from 0.34 to 0.38 and merged segments.
    if not runner.model.transcribe_options:
        return Waveform(samples, SAMPLE_RATE)
    return SpeechClip(samples, SAMPLE_RATE, **options)


def check_options(runner: ModelRunner, options: dict[str, Any]) -> None:
    """400 naming the first option the model cannot honour."""
    honoured = runner.model.transcribe_options
    for name in options:
        if name not in honoured:
            param = "timestamp_granularities" if name == "word_timestamps" else name
            raise InvalidRequest(
                f"{param}: model {runner.model.id!r} does not support this option; it "
                f"supports: {', '.join(sorted(honoured)) or 'none'}",
                param=param,
            )


def _shifted(segment: dict[str, Any], offset: float, new_id: int) -> dict[str, Any]:
    out = dict(segment, id=new_id)
    out["start"] = round(segment["start"] + offset, 3)
    out["end"] = round(segment["end"] + offset, 3)
    if "words" in segment:
        out["words"] = [
            dict(w, start=round(w["start"] + offset, 3), end=round(w["end"] + offset, 3))
            for w in segment["words"]
        ]
    return out


# --- response formats ---------------------------------------------------------------------


def timestamp(seconds: float, decimal: str = ".") -> str:
    """'00:01:02.345' (VTT) or, with decimal=',', '00:01:02,345' (SRT)."""
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal}{millis:03d}"


def srt(segments: list[dict[str, Any]]) -> str:
    blocks = [
        f"{n}\n{timestamp(s['start'], ',')} --> {timestamp(s['end'], ',')}\n{s['text']}\n"
        for n, s in enumerate(segments, start=1)
    ]
    return "\n".join(blocks)


def vtt(segments: list[dict[str, Any]]) -> str:
    blocks = [f"{timestamp(s['start'])} --> {timestamp(s['end'])}\n{s['text']}\n" for s in segments]
    return "WEBVTT\n\n" + "\n".join(blocks)


def verbose_json(transcript: Transcript, words: bool) -> dict[str, Any]:
    """OpenAI's verbose_json: segments always, a flat `words` list when asked for."""
    segments = [{k: v for k, v in s.items() if k != "words"} for s in transcript.segments]
    body: dict[str, Any] = {
        "task": "transcribe",
        "language": language_name(transcript.language),
        "duration": round(transcript.duration, 3),
        "text": transcript.text,
        "segments": segments,
    }
    if words:
        body["words"] = [w for s in transcript.segments for w in s.get("words", [])]
    return body


LANGUAGE_NAMES = {"en": "english"}  # OpenAI names the language in verbose_json


def language_name(code: str | None) -> str:
    if code is None:
        return "unknown"
    return LANGUAGE_NAMES.get(code, code)
