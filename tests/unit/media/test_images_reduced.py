"""decode_image(min_side=...): a JPEG decoded at reduced DCT scale for a model that shrinks it.

The tolerance: both decodes go through the model's resize to 256 px, and the reduced one
must stay within a mean of 1 level (of 255) per channel of the full one. Measured on these
pictures: 0.24-0.51 levels; decoding down to the model's side itself (a reducing gap of 1)
gives up to 2.1, so the bound catches a gap that is too small. What it costs a model is
measured in docs/benchmarks.md (efficientnet-lite0 features at cosine >= 0.998, same top-1).
"""

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFile

from mmserve.errors import PayloadTooLarge
from mmserve.media import MediaPolicy, decode_image
from mmserve.media.images import REDUCING_GAP
from tests.unit.media.makers import BLUE, RED, declaring

MODEL_SIDE = 256  # what efficientnet-lite0 resizes the shorter side to
MEAN_LEVELS = 1.0  # mean absolute difference per channel, in 8-bit levels, after the resize


def photo_jpeg(size=(2400, 1800), quality=92, **save) -> bytes:
    """Something photo-like: smooth gradients, hard-edged shapes and fine texture."""
    width, height = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    red = 128 + 100 * np.sin(x / 97) * np.cos(y / 131)
    green = 255 * x / width
    blue = 255 * y / height + 20 * np.random.default_rng(0).standard_normal((height, width))
    pixels = np.clip(np.stack([red, green, blue], axis=-1), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    draw = ImageDraw.Draw(image)
    for i in range(12):
        left, top = (i * 197) % (width - 300), (i * 331) % (height - 300)
        draw.ellipse((left, top, left + 250, top + 180), fill=(20 * i, 255 - 20 * i, 90))
        draw.line((0, top, width, top + 400), fill=(255, 255, 255), width=3)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality, **save)
    return buffer.getvalue()


def shrunk(image: Image.Image) -> np.ndarray:
    """The model's resize (shorter side to MODEL_SIDE, bilinear), as an int array."""
    scale = MODEL_SIDE / min(image.size)
    size = (round(image.width * scale), round(image.height * scale))
    return np.asarray(image.resize(size, Image.Resampling.BILINEAR), dtype=np.int16)


@pytest.mark.parametrize("size", [(2400, 1800), (1800, 2400), (1100, 1030), (4000, 1200)])
def test_reduced_decode_matches_the_full_one_after_the_resize(size):
    data = photo_jpeg(size)
    full = decode_image(data)
    reduced = decode_image(data, min_side=MODEL_SIDE)
    assert full.size == size
    assert min(reduced.size) >= REDUCING_GAP * MODEL_SIDE
    assert reduced.width * reduced.height < full.width * full.height  # it did reduce
    difference = np.abs(shrunk(full) - shrunk(reduced))
    assert difference.mean() <= MEAN_LEVELS, difference.mean()


def test_the_scale_keeps_the_gap_on_the_shorter_side():
    # 2400x1800: 1/2 gives 1200x900 and 1/4 600x450 (under 512), so 1/2 it is.
    assert decode_image(photo_jpeg((2400, 1800)), min_side=MODEL_SIDE).size == (1200, 900)
    # 1/8 of 4800x4800 is 600: still over 512.
    assert decode_image(photo_jpeg((4800, 4800)), min_side=MODEL_SIDE).size == (600, 600)


def test_small_jpegs_and_other_formats_decode_unchanged():
    small = photo_jpeg((900, 600))  # 1/2 would make the shorter side 300 < 512
    assert np.array_equal(
        np.asarray(decode_image(small, min_side=MODEL_SIDE)), np.asarray(decode_image(small))
    )
    buffer = io.BytesIO()
    Image.open(io.BytesIO(photo_jpeg())).save(buffer, "PNG")
    assert decode_image(buffer.getvalue(), min_side=MODEL_SIDE).size == (2400, 1800)


def test_greyscale_and_cmyk_jpegs_reduce_to_rgb():
    for mode in ("L", "CMYK"):
        buffer = io.BytesIO()
        Image.open(io.BytesIO(photo_jpeg())).convert(mode).save(buffer, "JPEG", quality=90)
        image = decode_image(buffer.getvalue(), min_side=MODEL_SIDE)
        assert image.mode == "RGB" and image.size == (1200, 900)


def test_exif_orientation_is_applied_to_the_reduced_image():
    # Stored 1600x800, left half red, shown turned (orientation 6): 1/4 scale, then upright.
    image = Image.new("RGB", (1600, 800), RED)
    image.paste(BLUE, (800, 0, 1600, 800))
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif, quality=95)
    decoded = decode_image(buffer.getvalue(), min_side=100)
    assert decoded.size == (200, 400)
    assert np.abs(np.subtract(decoded.getpixel((100, 20)), RED)).max() <= 8
    assert np.abs(np.subtract(decoded.getpixel((100, 380)), BLUE)).max() <= 8


def test_the_pixel_limit_applies_to_the_declared_size_not_the_reduced_one(monkeypatch):
    # 2400x1800 is 4.3 MP; at 1/2 scale it would be 1.1 MP, under a 2 MP limit.
    policy = MediaPolicy(max_image_pixels=2_000_000)
    with pytest.raises(PayloadTooLarge, match=r"2400x1800 \(4.3 megapixels\)"):
        decode_image(photo_jpeg(), policy=policy, min_side=MODEL_SIDE)

    def refuse(self):
        raise AssertionError("a bomb must be refused before any pixel is decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)
    with pytest.raises(PayloadTooLarge, match="40.0 megapixels"):
        decode_image(declaring("JPEG", 7_000, 7_000), min_side=MODEL_SIDE)
