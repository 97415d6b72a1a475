import pytest

from mmserve.media import describe, sniff_audio, sniff_image
from tests.unit.media.makers import AUDIO_ENCODERS, audio_bytes, image_bytes


@pytest.mark.parametrize(
    ("fmt", "name"),
    [
        ("JPEG", "JPEG"),
        ("PNG", "PNG"),
        ("WEBP", "WEBP"),
        ("GIF", "GIF"),
        ("BMP", "BMP"),
        ("TIFF", "TIFF"),
    ],
)
def test_images_are_recognised_by_their_bytes(fmt, name):
    data = image_bytes(fmt)
    assert sniff_image(data) == name
    assert sniff_audio(data) is None


@pytest.mark.parametrize("kind", sorted(AUDIO_ENCODERS))
def test_audio_is_recognised_by_its_bytes(kind):
    data = audio_bytes(kind, seconds=0.1)
    assert sniff_audio(data) == kind
    assert sniff_image(data) is None


def test_id3_tag_before_other_audio_is_skipped():
    flac = audio_bytes("FLAC", seconds=0.1)
    tag = b"ID3\x04\x00\x00" + bytes([0, 0, 0, 5]) + b"\0" * 5
    assert sniff_audio(tag + flac) == "FLAC"
    assert sniff_audio(tag + b"ID3" + b"\0" * 20) == "MP3"  # a chain of tags: no recursion


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty data"),
        (image_bytes("PNG"), "a PNG image"),
        (b"\0\0\0\x18ftypheic\0\0\0\0", "a HEIC image"),
        (b"%PDF-1.7\n", "a PDF document"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "an SVG/XML document"),
        (b"hello, this is text", "text"),
        (b"\x00\x01\x02binary", "data of an unknown format"),
    ],
)
def test_describe_names_what_was_sent(data, words):
    assert describe(data) == words
