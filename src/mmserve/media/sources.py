"""Resolve the forms a client can send an image or an audio clip in, to bytes, then decode.

    load_image(value, policy=..., field="image") -> RGB PIL image
    load_audio(value, policy=..., field="audio", sample_rate=16_000) -> (samples,) float32
    load_audio_chunks(value, ..., chunk_seconds=30.0) -> Iterator[(samples,) float32]
    media_bytes(value, kind="image" | "audio", policy=..., field=...) -> bytes

`value` is what the route has for one item:
  bytes                the body of a multipart upload
  str                  "data:...", "http(s)://..." (if URLs are on), "file:..." (a path under
                       the media root, if set), otherwise base64
  dict                 an OpenAI content part:
                       {"type": "image_url", "image_url": {"url": ...}}, where url is a data:
                       URI, an http(s) URL or a path under the media root;
                       {"type": "input_image", "image_url": ...} (the Responses API shape);
                       {"type": "input_audio", "input_audio": {"data": <base64>, "format": "wav"}}
The media type in a data: URI, the 'format' of input_audio and a path's extension are never
used to decode: the bytes say what they are.
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, unquote_to_bytes, urlsplit

import numpy as np

from mmserve.errors import InvalidRequest, NotFound, PayloadTooLarge, SchemaError
from mmserve.media.audio import CHUNK_SECONDS, SAMPLE_RATE, decode_audio, iter_audio_chunks
from mmserve.media.fetch import fetch_url
from mmserve.media.formats import clip
from mmserve.media.images import decode_image
from mmserve.media.paths import confined_path
from mmserve.media.policy import DEFAULT_POLICY, MediaPolicy

if TYPE_CHECKING:
    from PIL.Image import Image

Kind = Literal["image", "audio"]
# Names input_audio's 'format' may take (OpenAI's, plus the containers we decode). Checked
# so a typo is reported, but not used to decode.
AUDIO_FORMAT_NAMES = (
    "wav",
    "mp3",
    "flac",
    "ogg",
    "opus",
    "oga",
    "m4a",
    "mp4",
    "aac",
    "webm",
    "mpeg",
    "mpga",
)
PART_TYPES = {"image": ("image_url", "input_image"), "audio": ("input_audio",)}
# A path must not block on open (a FIFO), nor follow a symlink swapped in after the check.
OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)


def load_image(
    value: Any,
    *,
    policy: MediaPolicy = DEFAULT_POLICY,
    field: str = "image",
    min_side: int | None = None,
) -> Image:
    data = media_bytes(value, kind="image", policy=policy, field=field)
    return decode_image(data, policy=policy, field=field, min_side=min_side)


def load_audio(
    value: Any,
    *,
    policy: MediaPolicy = DEFAULT_POLICY,
    field: str = "audio",
    sample_rate: int = SAMPLE_RATE,
) -> np.ndarray:
    data = media_bytes(value, kind="audio", policy=policy, field=field)
    return decode_audio(data, policy=policy, field=field, sample_rate=sample_rate)


def load_audio_chunks(
    value: Any,
    *,
    policy: MediaPolicy = DEFAULT_POLICY,
    field: str = "audio",
    sample_rate: int = SAMPLE_RATE,
    chunk_seconds: float = CHUNK_SECONDS,
) -> Iterator[np.ndarray]:
    data = media_bytes(value, kind="audio", policy=policy, field=field)
    return iter_audio_chunks(
        data, policy=policy, field=field, sample_rate=sample_rate, chunk_seconds=chunk_seconds
    )


def media_bytes(value: Any, *, kind: Kind, policy: MediaPolicy, field: str) -> bytes:
    """The encoded bytes of one image or audio clip, from any accepted form, size-checked."""
    limit = policy.max_bytes(kind)
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
    elif isinstance(value, str):
        data = _from_string(value, kind, policy, limit, field, where=field, bare=True)
    elif isinstance(value, Mapping):
        data = _from_part(value, kind, policy, limit, field)
    else:
        raise SchemaError(
            f"{field}: expected {_forms(kind)}, got {type(value).__name__}", param=field
        )
    if len(data) > limit:
        raise _too_large(field, kind, f"is {len(data):,} bytes", limit)
    if not data:
        raise InvalidRequest(f"{field}: the {kind} is empty", param=field, code=f"invalid_{kind}")
    return data


def _from_string(
    text: str, kind: Kind, policy: MediaPolicy, limit: int, field: str, *, where: str, bare: bool
) -> bytes:
    """A data: URI, an http(s) URL, a file: URI; then base64 (bare) or a path (in a url)."""
    text = text.strip()  # JSON written by hand often carries a stray newline
    scheme = text[:8].lower()
    if scheme.startswith("data:"):
        return decode_data_uri(text, limit=limit, field=field, where=where)
    if scheme.startswith(("http://", "https://")):
        return fetch_url(text, policy=policy, max_bytes=limit, field=field)
    if scheme.startswith("file:"):
        parts = urlsplit(text)
        if parts.netloc not in ("", "localhost"):
            raise InvalidRequest(
                f"{where}: file: URIs name a path on this server; remove the host {parts.netloc!r}",
                param=field,
                code="invalid_url",
            )
        return read_media_file(unquote(parts.path), policy=policy, limit=limit, field=field)
    if bare:
        return decode_base64(text, limit=limit, field=field, where=where)
    return read_media_file(text, policy=policy, limit=limit, field=field)


def _from_part(
    part: Mapping[str, Any], kind: Kind, policy: MediaPolicy, limit: int, field: str
) -> bytes:
    part_type = part.get("type")
    if part_type not in PART_TYPES[kind]:
        raise InvalidRequest(
            f"{field}: expected {_forms(kind)}, got a part of type {clip(str(part_type))}",
            param=field,
            code="invalid_content_part",
        )
    if kind == "image":
        url = part.get("image_url")
        if isinstance(url, Mapping):  # chat shape {"url": ...}; the Responses API sends a str
            url = url.get("url")
        if not isinstance(url, str):
            raise SchemaError(f"{field}: image_url.url must be a string", param=field)
        return _from_string(
            url, kind, policy, limit, field, where=f"{field}.image_url.url", bare=False
        )
    audio = part.get("input_audio")
    if not isinstance(audio, Mapping) or not isinstance(audio.get("data"), str):
        raise SchemaError(
            f"{field}: input_audio must be an object with a base64 string in 'data'", param=field
        )
    claimed = audio.get("format")
    if claimed is not None and (
        not isinstance(claimed, str) or claimed.lower() not in AUDIO_FORMAT_NAMES
    ):
        raise InvalidRequest(
            f"{field}: input_audio.format {clip(str(claimed))} is not one of "
            f"{', '.join(AUDIO_FORMAT_NAMES)}",
            param=field,
            code="unsupported_format",
        )
    where = f"{field}.input_audio.data"
    if audio["data"][:5].lower() == "data:":
        return decode_data_uri(audio["data"], limit=limit, field=field, where=where)
    return decode_base64(audio["data"], limit=limit, field=field, where=where)


def decode_base64(text: str, *, limit: int, field: str, where: str | None = None) -> bytes:
    """Standard or URL-safe base64, line breaks and missing padding tolerated."""
    where = where or field
    compact = "".join(text.split())  # clients wrap base64 at 76 characters
    if len(compact) // 4 * 3 > limit:  # refuse before decoding: 4 characters per 3 bytes
        raise _too_large(
            field, "base64", f"decodes to about {len(compact) // 4 * 3:,} bytes", limit
        )
    compact = compact.replace("-", "+").replace("_", "/")  # URL-safe alphabet
    compact += "=" * (-len(compact) % 4)
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as e:
        raise InvalidRequest(
            f"{where}: not valid base64 ({e}); send the bytes base64-encoded, or a data: URI "
            "like 'data:image/png;base64,iVBOR...'",
            param=field,
            code="invalid_base64",
        ) from e


def decode_data_uri(uri: str, *, limit: int, field: str, where: str | None = None) -> bytes:
    """The bytes of a data: URI (RFC 2397), base64 or percent-encoded."""
    where = where or field
    header, comma, payload = uri.partition(",")
    if not comma:
        raise InvalidRequest(
            f"{where}: a data: URI needs a ',' before its data, like "
            "'data:image/png;base64,iVBOR...'",
            param=field,
            code="invalid_data_uri",
        )
    if "base64" in (p.strip().lower() for p in header[5:].split(";")[1:]):
        return decode_base64(payload, limit=limit, field=field, where=where)
    if len(payload) > 3 * limit:  # worst case for percent-encoding: '%xx' per byte
        raise _too_large(field, "data: URI", f"holds {len(payload):,} characters", limit)
    return unquote_to_bytes(payload)


def read_media_file(path: str, *, policy: MediaPolicy, limit: int, field: str) -> bytes:
    """A file under policy.media_root; relative paths are relative to it. '..' and symlinks
    may be used as long as the resolved path stays inside the root."""
    root = policy.media_root
    if root is None:
        raise InvalidRequest(
            f"{field}: server-side paths are off on this server; send the file itself "
            "(a multipart upload, base64, or a data: URI like 'data:image/png;base64,...')",
            param=field,
            code="paths_disabled",
        )
    resolved = confined_path(
        path, [root], field=field, outside="outside the media root; give a path inside it"
    )
    try:
        fd = os.open(resolved, OPEN_FLAGS)
    except FileNotFoundError as e:
        raise NotFound(
            f"{field}: no file {clip(path)} in the media root", param=field, code="file_not_found"
        ) from e
    except OSError as e:  # permission, a symlink swapped in after the check
        raise InvalidRequest(
            f"{field}: path {clip(path)} cannot be read", param=field, code="invalid_path"
        ) from e
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InvalidRequest(
                f"{field}: path {clip(path)} is not a file", param=field, code="invalid_path"
            )
        if info.st_size > limit:
            raise _too_large(field, "file", f"is {info.st_size:,} bytes", limit)
        with os.fdopen(fd, "rb", closefd=False) as file:
            return file.read(limit + 1)  # a file growing meanwhile is caught by media_bytes
    finally:
        os.close(fd)


def _forms(kind: Kind) -> str:
    parts = " or ".join(repr(t) for t in PART_TYPES[kind])
    return (
        f"the {kind} as bytes, a base64 or data: string, a URL, or a content part of type {parts}"
    )


def _too_large(field: str, what: str, detail: str, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"{field}: the {what} {detail}; the limit is {limit:,} bytes", param=field
    )
