"""The `deidentify` request field (its type: Deidentify, below): what to strip from what the
server returns or keeps.

    "exif"   metadata of images (EXIF, XMP, GPS, maker notes). Always done whether asked or
             not: an image is decoded to pixels and only vectors are kept, never its bytes
             (tests/api/test_deidentify.py checks the data directory).
    "text"   personal data in transcripts, OCR text and stored text (mmserve.services.pii);
             the response says what was redacted, by type.
    "faces"  faces found (mediapipe's BlazeFace, mmserve.models.faces) are blurred in the
             images mmserve makes from what it keeps: an item's image is blurred before it
             is embedded (the stored vector is the blurred picture's) and a collection's
             thumbnails are blurred when it is made with "faces". 503 naming the extra when
             the detector is not installed.

Sent as a JSON list (["text"]) or, in a multipart form, comma-separated (text,exif).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from mmserve.errors import InvalidRequest
from mmserve.models.faces import blur_faces, face_detector
from mmserve.services.content import Content
from mmserve.services.pii import merge, redact
from mmserve.services.store_embed import Piece, piece


def _split(value: Any) -> Any:
    return [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value


Deidentify = Annotated[
    list[Literal["exif", "faces", "text"]],
    BeforeValidator(_split),
    Field(
        default_factory=list,
        description='What to strip: "text" redacts e-mails, phone, card and IBAN numbers and '
        'IP addresses from the text returned or stored; "faces" blurs the faces found in '
        "images before they are embedded and stored, and in a collection's thumbnails; "
        '"exif" (always done: image bytes are never kept)',
    ),
]

FACE = "face"  # the type blurred faces are counted under, next to the text kinds


def wants_text(deidentify: Iterable[str], *, images: bool = False) -> bool:
    """Whether `deidentify` asks for text redaction. On a route that keeps no image
    (`images` false: OCR, captions, transcripts), "faces" is a 400 saying where it applies."""
    if "faces" in deidentify and not images:
        raise InvalidRequest(
            "deidentify: 'faces' does not apply here: this route keeps and returns no image. "
            "It applies to collection items (blurred before they are embedded) and to a "
            "collection's thumbnails",
            param="deidentify",
        )
    return "text" in deidentify


def wants_faces(deidentify: Iterable[str]) -> bool:
    """Whether `deidentify` asks for faces to be blurred; 503 if the detector is missing,
    before any work is done."""
    if "faces" not in deidentify:
        return False
    face_detector()
    return True


def blur_piece(found: Piece, counts: dict[str, int]) -> Piece:
    """An image piece with its faces blurred, hashed again (the cache must not answer the
    unblurred picture's vector); other pieces unchanged. `counts` adds up the faces."""
    if found.modality != "image":
        return found
    image, faces = blur_faces(found.content.value)
    if not faces:
        return found
    merge(counts, {FACE: faces})
    return piece(Content("image", image), found.param)


def deidentify_piece(found: Piece, kinds: Iterable[str], counts: dict[str, int]) -> Piece:
    """A piece to store with what `kinds` asks removed: text redacted, faces blurred (for
    files an index job reads; HTTP items are redacted field by field in their route)."""
    if "text" in kinds and found.modality == "text":
        text = redact_value(found.content.value, counts)
        if text != found.content.value:
            found = piece(Content("text", text), found.param)
    if "faces" in kinds:
        found = blur_piece(found, counts)
    return found


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
