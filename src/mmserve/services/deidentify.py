"""The `deidentify` request field (its schema: api/schemas/common.Deidentify): what to
strip from what the server returns or keeps.

    "exif"   metadata of images (EXIF, XMP, GPS, maker notes). Always done whether asked or
             not: an image is decoded to pixels and only vectors are kept, never its bytes
             (tests/api/test_deidentify.py checks the data directory).
    "text"   personal data in transcripts, OCR text and stored text (mmserve.services.pii);
             the response says what was redacted, by type.
    "faces"  refused with 400: mmserve keeps no images or thumbnails in which to blur a
             face, and answers none.

Sent as a JSON list (["text"]) or, in a multipart form, comma-separated (text,exif).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from mmserve.errors import InvalidRequest
from mmserve.services.pii import merge, redact


def wants_text(deidentify: Iterable[str]) -> bool:
    """Whether `deidentify` asks for text redaction; 400 for "faces"."""
    if "faces" in deidentify:
        raise InvalidRequest(
            "deidentify: 'faces' does not apply here: mmserve keeps no images or thumbnails "
            "(only vectors) and returns none, so there is no face to blur",
            param="deidentify",
        )
    return "text" in deidentify


def redact_segments(parts: Iterable[Any], counts: dict[str, int]) -> Iterator[Any]:
    """Transcript parts with each segment's text redacted; `counts` adds up what was."""
    for part in parts:
        for segment in part.segments:
            redacted = redact(segment["text"])
            segment["text"] = redacted.text
            merge(counts, redacted.counts)
        yield part


def redact_lines(lines: list[dict[str, Any]], counts: dict[str, int]) -> list[dict[str, Any]]:
    """OCR lines with their text redacted."""
    out = []
    for line in lines:
        redacted = redact(line["text"])
        merge(counts, redacted.counts)
        out.append({**line, "text": redacted.text})
    return out


def redact_content(content: Any, counts: dict[str, int]) -> Any:
    """A text item, or a text content part, redacted; media parts pass unchanged."""
    if isinstance(content, str):
        return redact_value(content, counts)
    if isinstance(content, dict) and content.get("type") in ("text", "input_text"):
        return {**content, "text": redact_value(content.get("text"), counts)}
    return content


def redact_value(value: Any, counts: dict[str, int]) -> Any:
    """Strings redacted inside JSON-like values (item content, metadata)."""
    if isinstance(value, str):
        redacted = redact(value)
        merge(counts, redacted.counts)
        return redacted.text
    if isinstance(value, dict):
        return {k: redact_value(v, counts) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(v, counts) for v in value]
    return value
