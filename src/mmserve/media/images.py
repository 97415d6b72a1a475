"""Decode an image a client sent into an RGB Pillow image, refusing bombs before they cost memory.

    decode_image(data, policy=..., field="image", min_side=None) -> PIL.Image.Image, mode "RGB"

The result is a Pillow image rather than a numpy array because every consumer resizes or crops
first, which Pillow does on 8-bit data without a copy; `np.asarray(image)` gives a
(height, width, 3) uint8 array when a model wants one.

Order of checks, cheapest first: encoded size, format from the magic number, pixel count from
the header (Image.open reads only the header), and only then the decode.

A caller that will shrink the image (a model resizing its shorter side to 256 pixels) passes
that side as `min_side`: a JPEG is then decoded at a reduced DCT scale (1/2, 1/4 or 1/8,
libjpeg's "draft" mode) that keeps the shorter side at least REDUCING_GAP times it. A 12 MP
photo decodes at 1/4 scale: ~6x less CPU than a full decode and resize, and 1/16 of the
memory. The limits apply to the size the header declares, before any decode.
"""

from __future__ import annotations

import io
import re
import struct
import warnings
import zlib
from typing import TYPE_CHECKING

import numpy as np

from mmserve.errors import InvalidRequest, PayloadTooLarge
from mmserve.media import metering
from mmserve.media.formats import IMAGE_FORMATS, describe, sniff_image
from mmserve.media.optional import optional_import
from mmserve.media.policy import DEFAULT_POLICY, MEGAPIXEL, MediaPolicy

if TYPE_CHECKING:
    from PIL.Image import Image

WHITE = (255, 255, 255)  # what transparent pixels become: most models were trained on photos
ACCEPTED = ", ".join(IMAGE_FORMATS.values())
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")  # "I" holds 16-bit PNG/TIFF too
ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")
# What Pillow raises on data it cannot decode (truncated, corrupt, inconsistent headers).
# Anything else escaping a decode is a bug, and stays a 500.
PILLOW_MODULES = r"PIL\."  # where Pillow's warnings come from (they use stacklevel 1)
CORRUPT_DATA_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error)
# A reduced-scale JPEG decode keeps the shorter side >= REDUCING_GAP * min_side, so the final
# resize still averages >= 2 decoded pixels per output pixel (Pillow's thumbnail() uses the
# same gap). Measured on efficientnet-lite0 (docs/benchmarks.md): features at cosine >= 0.998
# to a full decode, the same top-1 class; a gap of 1 moved the top-1 of one photo in twelve.
REDUCING_GAP = 2


def decode_image(
    data: bytes,
    *,
    policy: MediaPolicy = DEFAULT_POLICY,
    field: str = "image",
    min_side: int | None = None,
) -> Image:
    """Decode JPEG, PNG, WebP, GIF (first frame), BMP or TIFF bytes into an RGB image.

    EXIF orientation is applied; alpha is composited on white; palette, CMYK, greyscale and
    16-bit images become 8-bit RGB. With `min_side` (the shorter side the caller resizes
    to), a large JPEG comes back smaller, its shorter side still >= REDUCING_GAP * min_side.
    Raises PayloadTooLarge (413) over a byte or pixel limit and InvalidRequest (400) for
    anything not a supported, intact image.
    """
    pil = optional_import("PIL.Image")
    check_image_bytes(len(data), policy, field)
    fmt = sniff_image(data)
    if fmt is None:
        raise InvalidRequest(
            f"{field}: {describe(data)} is not a supported image; send {ACCEPTED} "
            "(the format is read from the bytes, not the file name or content type)",
            param=field,
            code="unsupported_format",
        )
    _pillow_warnings_handled()
    try:
        image = pil.open(io.BytesIO(data), formats=[fmt])  # reads the header only
        width, height = image.size  # as the header declares them: what the limit is about
        check_pixels((width, height), policy, field)
        if min_side is not None:
            _reduced_scale(image, min_side)
        image.load()  # the first frame only, for GIF, WebP and TIFF
        image = _upright(image)
        metering.add("image_megapixels", width * height / 1e6)  # what was sent, not decoded
        return to_rgb(image)
    except (pil.DecompressionBombError, pil.DecompressionBombWarning) as e:
        # Pillow's own guard, for sizes it meets before ours (in the header parse itself,
        # or in a GIF frame or TIFF tile larger than the image).
        raise PayloadTooLarge(
            f"{field}: the image declares more pixels than the limit of "
            f"{_megapixels(policy.max_image_pixels)}; resize it before sending",
            param=field,
        ) from e
    except CORRUPT_DATA_ERRORS as e:
        raise InvalidRequest(
            f"{field}: the {IMAGE_FORMATS[fmt]} data is corrupt or truncated ({e}); "
            "send the complete file",
            param=field,
            code="invalid_image",
        ) from e


def check_image_bytes(size: int, policy: MediaPolicy, field: str) -> None:
    if size > policy.max_image_bytes:
        raise PayloadTooLarge(
            f"{field}: the image is {size:,} bytes; the limit is {policy.max_image_bytes:,} "
            "bytes. Send a smaller or more compressed image",
            param=field,
        )
    if size == 0:
        raise InvalidRequest(f"{field}: the image is empty", param=field, code="invalid_image")


def check_pixels(size: tuple[int, int], policy: MediaPolicy, field: str) -> None:
    width, height = size
    if width * height > policy.max_image_pixels:
        raise PayloadTooLarge(
            f"{field}: the image is {width}x{height} ({_megapixels(width * height)}); the "
            f"limit is {_megapixels(policy.max_image_pixels)}. Resize it before sending",
            param=field,
        )


def to_rgb(image: Image) -> Image:
    """8-bit RGB from any Pillow mode; transparency composited on white."""
    pil = optional_import("PIL.Image")
    if image.mode == "RGB" and "transparency" not in image.info:
        return image
    if image.mode in SIXTEEN_BIT_MODES:
        # Pillow's convert() clips 16-bit values at 255 (an almost white image); keep the
        # high byte instead.
        high_bytes = np.clip(np.asarray(image), 0, 65_535) >> 8
        image = pil.fromarray(high_bytes.astype(np.uint8))
    if image.mode in ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = pil.new("RGBA", rgba.size, (*WHITE, 255))
        return pil.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _reduced_scale(image: Image, min_side: int) -> None:
    """Have a JPEG decode at the smallest DCT scale that keeps both sides at least
    REDUCING_GAP * min_side (a no-op for other formats and for small JPEGs)."""
    if image.format == "JPEG":
        side = REDUCING_GAP * min_side
        image.draft(image.mode, (side, side))


def _upright(image: Image) -> Image:
    """Apply the EXIF orientation (phones store photos sideways and set a flag)."""
    ops = optional_import("PIL.ImageOps")
    ops.exif_transpose(image, in_place=True)
    return image


def _pillow_warnings_handled() -> None:
    """Make Pillow's warnings about client data deterministic, in tests and in production.

    - DecompressionBombWarning (images between Pillow's limit and twice it, met inside
      Image.open before our own check runs) becomes an error, caught above as a 413.
    - Pillow's UserWarnings on damaged metadata ("Corrupt EXIF data", "Tag data larger than
      file") are ignored: the pixels decode, the tag is skipped, and a phone photo with buggy
      EXIF should not fail. Nothing in them is for the operator's log.

    Filters are process-wide; Pillow has no per-call switch and catch_warnings is not
    thread-safe, so these are put first and left there. They are checked on every call
    because a catch_warnings block elsewhere (pytest's included) restores what it found.
    """
    pil = optional_import("PIL.Image")
    wanted = [
        ("error", None, pil.DecompressionBombWarning, None, 0),
        ("ignore", None, UserWarning, re.compile(PILLOW_MODULES), 0),
    ]
    if warnings.filters[: len(wanted)] != wanted:
        warnings.filterwarnings("ignore", category=UserWarning, module=PILLOW_MODULES)
        warnings.filterwarnings("error", category=pil.DecompressionBombWarning)


def _megapixels(pixels: int) -> str:
    return f"{pixels / MEGAPIXEL:.1f} megapixels"
