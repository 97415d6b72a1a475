import io
import warnings

import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps

from mmserve.errors import InvalidRequest, PayloadTooLarge
from mmserve.media import MediaPolicy, decode_image
from tests.unit.media.makers import (
    BLUE,
    RED,
    audio_bytes,
    declaring,
    halves_jpeg,
    image_bytes,
    png_declaring,
    sixteen_bit_png,
    two_frame_gif,
)

WHITE = (255, 255, 255)


def near(pixel, expected, tolerance=8):
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, expected, strict=True))


@pytest.mark.parametrize(
    ("fmt", "save"),
    [
        ("JPEG", {"quality": 95}),
        ("PNG", {}),
        ("WEBP", {"lossless": True}),
        ("GIF", {}),
        ("BMP", {}),
        ("TIFF", {}),
        ("TIFF", {"compression": "tiff_lzw"}),
    ],
)
def test_every_format_decodes_to_rgb(fmt, save):
    image = decode_image(image_bytes(fmt, **save))
    assert image.mode == "RGB"
    assert image.size == (32, 24)
    assert near(image.getpixel((5, 5)), RED)


def test_exif_orientation_is_applied():
    # Orientation 6: the camera was turned; the stored 40x20 image displays as 20x40, with
    # the stored left (red) half on top.
    image = decode_image(halves_jpeg(orientation=6))
    assert image.size == (20, 40)
    assert near(image.getpixel((10, 5)), RED)
    assert near(image.getpixel((10, 35)), BLUE)
    assert decode_image(halves_jpeg(orientation=1)).size == (40, 20)


@pytest.mark.parametrize(
    ("fmt", "mode", "color"),
    [
        ("PNG", "RGBA", (255, 0, 0, 0)),  # fully transparent red
        ("PNG", "LA", (0, 0)),  # fully transparent black
        ("WEBP", "RGBA", (0, 0, 255, 0)),
    ],
)
def test_transparent_pixels_become_white(fmt, mode, color):
    save = {"lossless": True} if fmt == "WEBP" else {}
    image = decode_image(image_bytes(fmt, mode, color=color, **save))
    assert image.mode == "RGB"
    assert near(image.getpixel((0, 0)), WHITE)


def test_half_transparent_red_on_white_is_pink():
    image = decode_image(image_bytes("PNG", "RGBA", color=(255, 0, 0, 128)))
    assert near(image.getpixel((0, 0)), (255, 127, 127), tolerance=2)


def test_gif_gives_its_first_frame():
    image = decode_image(two_frame_gif())
    assert image.mode == "RGB"
    assert near(image.getpixel((3, 3)), RED)


def test_transparent_palette_gif_becomes_white():
    data = image_bytes("GIF", "P", color=3, transparency=3)
    assert near(decode_image(data).getpixel((0, 0)), WHITE)


def test_sixteen_bit_greyscale_keeps_its_high_byte():
    # Pillow's plain convert() would clip 0x8000 to 255 (white); it is mid grey.
    image = decode_image(sixteen_bit_png(0x8000))
    assert image.getpixel((0, 0)) == (128, 128, 128)


@pytest.mark.parametrize(
    ("fmt", "mode", "color", "expected"),
    [
        ("JPEG", "CMYK", (0, 255, 255, 0), RED),
        ("PNG", "L", 200, (200, 200, 200)),
        ("PNG", "1", 1, WHITE),
        ("TIFF", "CMYK", (255, 255, 0, 0), BLUE),
    ],
)
def test_other_modes_become_rgb(fmt, mode, color, expected):
    image = decode_image(image_bytes(fmt, mode, color=color))
    assert image.mode == "RGB"
    assert near(image.getpixel((0, 0)), expected, tolerance=12)


def test_result_converts_to_an_array():
    array = np.asarray(decode_image(image_bytes("PNG")))
    assert array.shape == (24, 32, 3) and array.dtype == np.uint8


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"just some text, saved as cat.jpg", "text is not a supported image"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "HEIC image is not a supported image"),
        (b"%PDF-1.4\n", "PDF document"),
    ],
)
def test_other_formats_are_refused_naming_what_is_accepted(data, words):
    with pytest.raises(InvalidRequest) as caught:
        decode_image(data, field="input[2]")
    error = caught.value
    assert error.status == 400 and error.param == "input[2]" and error.code == "unsupported_format"
    assert error.message.startswith("input[2]: ")
    assert words in error.message
    assert "JPEG, PNG, WebP, GIF, BMP, TIFF" in error.message


def test_audio_sent_as_an_image_is_named():
    with pytest.raises(InvalidRequest, match="WAV audio is not a supported image"):
        decode_image(audio_bytes("WAV", seconds=0.1))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP"])
@pytest.mark.parametrize("keep", [0.5, 0.1])
def test_truncated_images_are_a_400(fmt, keep):
    noisy = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8))
    buffer = io.BytesIO()
    noisy.save(buffer, fmt)
    data = buffer.getvalue()
    with pytest.raises(InvalidRequest) as caught:
        decode_image(data[: max(16, int(len(data) * keep))])
    assert caught.value.code == "invalid_image"
    assert "corrupt or truncated" in caught.value.message


def test_corrupt_png_is_a_400():
    data = bytearray(image_bytes("PNG", size=(64, 64)))
    data[40:60] = b"\xff" * 20  # inside IDAT: the checksum no longer matches
    with pytest.raises(InvalidRequest, match="corrupt or truncated"):
        decode_image(bytes(data))


def test_empty_image_is_a_400():
    with pytest.raises(InvalidRequest, match="image: the image is empty"):
        decode_image(b"")


def test_byte_limit_is_checked_first():
    policy = MediaPolicy(max_image_bytes=1024)
    with pytest.raises(PayloadTooLarge) as caught:
        decode_image(b"\x89PNG\r\n\x1a\n" + b"\0" * 2000, policy=policy)
    assert caught.value.status == 413
    assert "2,008 bytes; the limit is 1,024 bytes" in caught.value.message


@pytest.fixture
def no_decoding(monkeypatch):
    """Fail the test if Pillow starts decoding pixels."""

    def refuse(self):
        raise AssertionError("a bomb must be refused before any pixel is decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP", "TIFF"])
@pytest.mark.parametrize(
    "side",
    [
        7_000,  # 49 MP: over our 40 MP, under Pillow's guard
        10_000,  # 100 MP: Pillow would warn
        30_000,  # 900 MP: Pillow would raise DecompressionBombError
    ],
)
def test_decompression_bomb_is_a_413_before_any_decoding(fmt, side, no_decoding):
    data = declaring(fmt, side, side)
    assert len(data) < 10_000
    with pytest.raises(PayloadTooLarge) as caught:
        decode_image(data, field="image")
    assert caught.value.param == "image" and caught.value.status == 413
    assert "40.0 megapixels" in caught.value.message


def test_pixel_limit_comes_from_the_policy():
    policy = MediaPolicy(max_image_pixels=100)
    data = image_bytes("PNG", size=(11, 10))
    with pytest.raises(PayloadTooLarge, match=r"11x10 \(0.0 megapixels\); the limit is"):
        decode_image(data, policy=policy)
    assert decode_image(image_bytes("PNG", size=(10, 10)), policy=policy).size == (10, 10)


def test_pillow_bomb_warning_never_reaches_the_log():
    # Outside pytest's "error" filter, as in production: Pillow's DecompressionBombWarning
    # (100 MP is between its limit and twice it) must become our 413, not a log line.
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("default")
        with pytest.raises(PayloadTooLarge):
            decode_image(png_declaring(10_000, 10_000))
    assert seen == []


def test_corrupt_exif_is_skipped_quietly():
    # Buggy camera firmware writes broken EXIF: Pillow warns and skips it; the photo decodes
    # (unrotated) and no warning escapes (this suite turns warnings into errors).
    data = bytearray(halves_jpeg(orientation=6))
    offset = data.find(b"Exif\0\0") + 6 + 4  # the TIFF header's pointer to its first IFD
    data[offset : offset + 2] = b"\x00\xff"  # now points far past the end
    with pytest.warns(UserWarning, match="Corrupt EXIF data"):  # what Pillow alone does
        ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    assert decode_image(bytes(data)).size == (40, 20)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"])
def test_random_damage_is_an_image_or_a_400(fmt):
    rng = np.random.default_rng(7)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (32, 32, 3), np.uint8)).save(buffer, fmt)
    seed = buffer.getvalue()
    for _ in range(150):
        data = bytearray(seed)
        for position in rng.integers(0, len(data), rng.integers(1, 8)):
            data[position] = rng.integers(0, 256)
        if rng.random() < 0.3:
            data = data[: rng.integers(1, len(data))]
        try:
            assert decode_image(bytes(data)).mode == "RGB"
        except (InvalidRequest, PayloadTooLarge):
            pass
