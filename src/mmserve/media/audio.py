"""Decode audio a client sent into mono float32 samples at the rate a model asks for.

    decode_audio(data, policy=..., field="audio", sample_rate=16_000) -> (samples,) float32
    iter_audio_chunks(data, ..., chunk_seconds=30.0) -> Iterator[(chunk_samples,) float32]

PyAV (FFmpeg) decodes and resamples, as whisper's audio.py does with the ffmpeg CLI, but in
process and bounded: the demuxer is forced to the format read from the magic number (FFmpeg's
own probing knows playlists and image formats, which are no business of an audio endpoint),
the duration is checked from the header before decoding, and decoding stops as soon as the
limit is passed when a header says nothing or lies.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from mmserve.errors import InvalidRequest, PayloadTooLarge
from mmserve.media import metering
from mmserve.media.formats import AUDIO_FORMATS, describe, sniff_audio
from mmserve.media.optional import optional_import
from mmserve.media.policy import DEFAULT_POLICY, MediaPolicy

SAMPLE_RATE = 16_000  # Hz: what whisper and YAMNet take
CHUNK_SECONDS = 30.0  # whisper's window
# Codec priming and padding make decoded audio a little longer than its header says (AAC
# adds ~50 ms, Opus ~7 ms); a clip exactly at the limit must not fail halfway through.
DECODE_SLACK_S = 1.0
WAV_SCAN_BYTES = 64 * 1024  # where a WAV's data chunk header must start
WAV_SIZE_UNKNOWN = (0, 0xFFFF_FFFF)  # placeholders written by streaming WAV writers
ACCEPTED = ", ".join(AUDIO_FORMATS.values())
# FFmpeg demuxer forced for each format, so the bytes are never probed as something else.
DEMUXERS = {
    "WAV": "wav",
    "FLAC": "flac",
    "OGG": "ogg",
    "MP3": "mp3",
    "MP4": "mov",  # mov,mp4,m4a,3gp: external data references stay off (FFmpeg default)
    "AAC": "aac",
    "WEBM": "matroska",
}


def decode_audio(
    data: bytes,
    *,
    policy: MediaPolicy = DEFAULT_POLICY,
    field: str = "audio",
    sample_rate: int = SAMPLE_RATE,
) -> np.ndarray:
    """Mono float32 samples in [-1, 1] at `sample_rate`: shape (samples,).

    Raises PayloadTooLarge (413) over the byte or duration limit and InvalidRequest (400) for
    data that is not a supported, decodable audio file.
    """
    blocks, expected = _decoded_blocks(data, policy, field, sample_rate)
    samples = _join(blocks, expected)
    metering.add("audio_seconds", len(samples) / sample_rate)
    return samples


def iter_audio_chunks(
    data: bytes,
    *,
    policy: MediaPolicy = DEFAULT_POLICY,
    field: str = "audio",
    sample_rate: int = SAMPLE_RATE,
    chunk_seconds: float = CHUNK_SECONDS,
) -> Iterator[np.ndarray]:
    """Like decode_audio, in chunks of `chunk_seconds` (the last one shorter, never padded).

    Holds one chunk of samples at a time, not the whole decoded clip (an hour at 16 kHz is
    230 MB of float32). The format and header checks run here, before the first chunk is
    asked for, so a request can be refused before a streaming response starts; a clip that
    turns out corrupt or too long while decoding raises from the iterator.
    """
    if chunk_seconds <= 0:
        raise ValueError(f"chunk_seconds must be positive, got {chunk_seconds}")
    blocks, _ = _decoded_blocks(data, policy, field, sample_rate)
    # The sink is taken now, in the request: a streamed response decodes after it returned.
    chunks = _rechunk(blocks, round(chunk_seconds * sample_rate))
    return _metered(chunks, sample_rate, metering.current())


def _metered(
    chunks: Iterator[np.ndarray], sample_rate: int, sink: metering.Sink
) -> Iterator[np.ndarray]:
    for chunk in chunks:
        sink("audio_seconds", len(chunk) / sample_rate)
        yield chunk


def audio_seconds(
    data: bytes, *, policy: MediaPolicy = DEFAULT_POLICY, field: str = "audio"
) -> float | None:
    """The duration the header declares, in seconds (None if it declares none), after the
    same format and limit checks as decode_audio; nothing is decoded."""
    opened = _open_checked(data, policy, field)
    opened.container.close()
    return opened.seconds


def _decoded_blocks(
    data: bytes, policy: MediaPolicy, field: str, sample_rate: int
) -> tuple[Iterator[np.ndarray], int]:
    """Open and check eagerly; return a generator that decodes lazily, and the number of
    samples to expect (from the header, else 0)."""
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    opened = _open_checked(data, policy, field)
    max_samples = math.ceil((policy.max_audio_seconds + DECODE_SLACK_S) * sample_rate)
    expected = 0
    if opened.seconds is not None:
        expected = min(math.ceil((opened.seconds + DECODE_SLACK_S) * sample_rate), max_samples)
    return _decode(opened, sample_rate, max_samples, policy, field), expected


class _Opened(NamedTuple):
    container: Any  # av.container.InputContainer, demuxer forced
    stream: Any  # its first audio stream
    seconds: float | None  # the longest duration a header declares
    label: str  # "WAV", "MP3"... for messages


def _open_checked(data: bytes, policy: MediaPolicy, field: str) -> _Opened:
    """Open `data` once every check that needs no decoding has passed."""
    av = optional_import("av")
    if len(data) > policy.max_audio_bytes:
        raise PayloadTooLarge(
            f"{field}: the audio is {len(data):,} bytes; the limit is "
            f"{policy.max_audio_bytes:,} bytes. Send a shorter or more compressed clip",
            param=field,
        )
    kind = sniff_audio(data)
    if kind is None:
        raise InvalidRequest(
            f"{field}: {describe(data)} is not supported audio; send {ACCEPTED} (the format "
            "is read from the bytes, not the file name or the 'format' field)",
            param=field,
            code="unsupported_format",
        )
    try:
        container = av.open(io.BytesIO(data), format=DEMUXERS[kind])
    except (av.error.FFmpegError, ValueError) as e:
        raise _corrupt(field, AUDIO_FORMATS[kind], e) from e
    try:
        stream = next((s for s in container.streams if s.type == "audio"), None)
        if stream is None:
            raise InvalidRequest(
                f"{field}: the {AUDIO_FORMATS[kind]} file has no audio stream",
                param=field,
                code="invalid_audio",
            )
        seconds = _header_seconds(data, container, stream)
        if seconds is not None and seconds > policy.max_audio_seconds:
            raise _too_long(field, f"is {_duration(seconds)} long", policy)
    except BaseException:
        container.close()
        raise
    return _Opened(container, stream, seconds, AUDIO_FORMATS[kind])


def _decode(
    opened: _Opened, sample_rate: int, max_samples: int, policy: MediaPolicy, field: str
) -> Iterator[np.ndarray]:
    av = optional_import("av")
    # Float planar at the target rate, channels kept: the mono mix below is their mean
    # (librosa's convention), which cannot clip, where FFmpeg's downmix scales by 0.707.
    resampler = av.AudioResampler(format="fltp", rate=sample_rate)
    decoded = 0
    try:
        with opened.container as container:
            frames = container.decode(opened.stream)
            for frame in _then_none(frames):
                for out in resampler.resample(frame):
                    block = out.to_ndarray().mean(axis=0, dtype=np.float32)  # (samples,)
                    decoded += len(block)
                    if decoded > max_samples:
                        raise _too_long(field, "runs past the limit", policy)
                    yield block
    except (av.error.FFmpegError, ValueError) as e:
        raise _corrupt(field, opened.label, e) from e
    if decoded == 0:
        raise InvalidRequest(
            f"{field}: no audio could be decoded; the file is empty or corrupt",
            param=field,
            code="invalid_audio",
        )


def _then_none(frames: Iterator[Any]) -> Iterator[Any]:
    """The frames, then None: resampling None flushes the samples the resampler holds."""
    yield from frames
    yield None


def _join(blocks: Iterator[np.ndarray], expected: int) -> np.ndarray:
    """Concatenate into one buffer sized from the header: an hour at 16 kHz peaks at 230 MB
    instead of twice that for a list of blocks plus their concatenation."""
    out = np.empty(expected, dtype=np.float32)
    filled = 0
    for block in blocks:
        if filled + len(block) > len(out):  # no header, or it undercounted: grow by half
            grown = np.empty(max(len(out) * 3 // 2, filled + len(block)), dtype=np.float32)
            grown[:filled] = out[:filled]
            out = grown
        out[filled : filled + len(block)] = block
        filled += len(block)
    # Give back a buffer much larger than its content (a header that overcounted).
    return out[:filled] if filled >= 0.9 * len(out) else out[:filled].copy()


def _rechunk(blocks: Iterator[np.ndarray], size: int) -> Iterator[np.ndarray]:
    pending: list[np.ndarray] = []
    held = 0
    for block in blocks:
        pending.append(block)
        held += len(block)
        while held >= size:
            joined = np.concatenate(pending)
            yield joined[:size]
            pending, held = [joined[size:]], held - size
    if held:
        yield np.concatenate(pending)


def _header_seconds(data: bytes, container: Any, stream: Any) -> float | None:
    """The longest duration any header declares. For a WAV, what its data chunk declares,
    capped at the bytes that came (FFmpeg's figure can come from the RIFF size instead)."""
    declared: list[float | None] = []
    if stream.duration is not None and stream.time_base is not None:
        declared.append(float(stream.duration * stream.time_base))
    elif container.duration is not None:
        declared.append(container.duration / 1_000_000)  # AV_TIME_BASE: microseconds
    if container.format.name == "wav":
        declared.append(wav_declared_seconds(data))
    known = [s for s in declared if s is not None]
    return max(known) if known else None


def wav_declared_seconds(data: bytes) -> float | None:
    """Seconds of audio a RIFF/WAVE header declares (data chunk size / byte rate)."""
    byte_rate = 0
    position = 12  # after "RIFF", size, "WAVE"
    while position + 8 <= min(len(data), WAV_SCAN_BYTES):
        chunk_id = bytes(data[position : position + 4])
        size = int.from_bytes(data[position + 4 : position + 8], "little")
        if chunk_id == b"fmt " and size >= 16:
            byte_rate = int.from_bytes(data[position + 16 : position + 20], "little")
        elif chunk_id == b"data":
            if size in WAV_SIZE_UNKNOWN or byte_rate == 0:
                return None
            # Writers to a pipe (espeak-ng --stdout, sox) put a large placeholder here; the
            # samples cannot outrun the bytes that came, so those bound the duration.
            present = len(data) - (position + 8)
            return min(size, present) / byte_rate
        position += 8 + size + (size & 1)  # chunks are padded to an even length
    return None


def _too_long(field: str, what: str, policy: MediaPolicy) -> PayloadTooLarge:
    limit = policy.max_audio_seconds
    return PayloadTooLarge(
        f"{field}: the audio {what}; the limit is {_duration(limit)}. "
        "Send a shorter clip or split it",
        param=field,
    )


def _corrupt(field: str, label: str, error: Exception) -> InvalidRequest:
    reason = getattr(error, "strerror", None) or str(error)  # FFmpeg's words, no errno
    return InvalidRequest(
        f"{field}: the {label} audio is corrupt or truncated ({reason}); send the complete file",
        param=field,
        code="invalid_audio",
    )


def _duration(seconds: float) -> str:
    """'0.5 s', '42 s', '1:00:00 (3600 s)'."""
    if seconds < 60:
        return f"{seconds:.3g} s"
    whole = round(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d} ({whole} s)"
