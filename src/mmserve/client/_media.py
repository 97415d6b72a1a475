"""Images and audio as the server's JSON takes them, from what a caller has at hand.

    pathlib.Path            a local file, read and sent as base64
    bytes / bytearray       the file's bytes, sent as base64
    PIL.Image.Image         encoded as PNG
    numpy array             an image (uint8, HxW or HxWxC) as PNG; audio (1-D float in
                            [-1, 1] or int16) as 16-bit WAV at `sample_rate`
    str                     sent as is: a data: URI, base64, an http(s) URL, or a path
                            under the server's media root (a local path must be a Path)

numpy and Pillow are imported only when such a value is given: the client itself needs
neither.
"""

from __future__ import annotations

import base64
import io
import os
import wave
from typing import Any, Literal

Kind = Literal["image", "audio"]
DEFAULT_SAMPLE_RATE = 16_000  # Hz: what the speech models take


def media_field(value: Any, kind: Kind, *, sample_rate: int = DEFAULT_SAMPLE_RATE) -> str:
    """The value for a JSON "image"/"audio" field: a string as is, anything else base64."""
    if isinstance(value, str):
        return value
    return base64.b64encode(media_bytes(value, kind, sample_rate=sample_rate)).decode()


def media_bytes(value: Any, kind: Kind, *, sample_rate: int = DEFAULT_SAMPLE_RATE) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, os.PathLike):
        with open(value, "rb") as handle:
            return handle.read()
    if hasattr(value, "__array__") and not hasattr(value, "save"):
        return _wav(value, sample_rate) if kind == "audio" else _png(value)
    if hasattr(value, "save") and hasattr(value, "mode"):  # a PIL image
        out = io.BytesIO()
        value.save(out, format="PNG")
        return out.getvalue()
    raise TypeError(
        f"cannot send a {type(value).__name__} as {kind}: give a pathlib.Path, bytes, "
        "a PIL image, a numpy array, or a str (data: URI, base64, URL, server path)"
    )


def content_part(value: Any, kind: Kind, *, sample_rate: int = DEFAULT_SAMPLE_RATE) -> Any:
    """An OpenAI content part for routes whose input may be any modality; a str is text."""
    if isinstance(value, str) or isinstance(value, dict):
        return value
    data = base64.b64encode(media_bytes(value, kind, sample_rate=sample_rate)).decode()
    if kind == "image":
        return {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}}
    return {"type": "input_audio", "input_audio": {"data": data, "format": "wav"}}


def _png(array: Any) -> bytes:
    from PIL import Image  # only for numpy images

    out = io.BytesIO()
    Image.fromarray(array).save(out, format="PNG")
    return out.getvalue()


def _wav(array: Any, sample_rate: int) -> bytes:
    import numpy as np  # only for numpy audio

    samples = np.asarray(array)
    if samples.ndim != 1:
        raise ValueError(f"audio must be a 1-D array of samples, got shape {samples.shape}")
    if samples.dtype != np.int16:
        samples = (np.clip(samples.astype(np.float64), -1.0, 1.0) * 32767).astype(np.int16)
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(samples.tobytes())
    return out.getvalue()
