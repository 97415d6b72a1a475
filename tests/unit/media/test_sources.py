import base64
import os

import numpy as np
import pytest

from mmserve.errors import InvalidRequest, NotFound, PayloadTooLarge, SchemaError
from mmserve.media import (
    MediaPolicy,
    decode_base64,
    load_audio,
    load_audio_chunks,
    load_image,
    media_bytes,
)
from tests.unit.media.makers import RED, audio_bytes, image_bytes

PNG = image_bytes("PNG")
B64 = base64.b64encode(PNG).decode()


def is_red_png(image):
    return image.size == (32, 24) and image.getpixel((0, 0)) == RED


@pytest.mark.parametrize(
    "value",
    [
        PNG,
        bytearray(PNG),
        memoryview(PNG),
        B64,
        "\n".join(B64[i : i + 76] for i in range(0, len(B64), 76)),  # MIME line breaks
        B64.rstrip("="),  # padding dropped
        base64.urlsafe_b64encode(PNG).decode(),
        f"data:image/png;base64,{B64}",
        f"DATA:image/jpeg;base64,{B64}",  # the claimed type is ignored: the bytes decide
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{B64}"}},
        {
            "type": "image_url",
            "image_url": {"url": f"data:image/png;base64,{B64}", "detail": "low"},
        },
        {"type": "input_image", "image_url": f"data:image/png;base64,{B64}"},
    ],
)
def test_every_image_form_gives_the_same_image(value):
    assert is_red_png(load_image(value))


def test_percent_encoded_data_uri():
    text = "".join(f"%{b:02x}" for b in PNG)
    assert is_red_png(load_image(f"data:image/png,{text}"))


@pytest.mark.parametrize(
    ("value", "code", "words"),
    [
        ("not base64 at all!", "invalid_base64", "image: not valid base64"),
        ("QUJD=x", "invalid_base64", "not valid base64"),
        ("data:image/png;base64,@@@@", "invalid_base64", "not valid base64"),
        ("data:image/png;base64" + B64, "invalid_data_uri", "needs a ','"),
        ("", "invalid_image", "the image is empty"),
        ("aGVsbG8gd29ybGQ=", "unsupported_format", "text is not a supported image"),
    ],
)
def test_bad_strings_are_a_400_naming_the_field(value, code, words):
    with pytest.raises(InvalidRequest) as caught:
        load_image(value, field="image")
    assert caught.value.code == code and caught.value.param == "image"
    assert words in caught.value.message


@pytest.mark.parametrize(
    ("part", "error", "words"),
    [
        ({"type": "text", "text": "hi"}, InvalidRequest, "got a part of type 'text'"),
        ({"type": "image_url", "image_url": {"url": 42}}, SchemaError, "image_url.url must be"),
        ({"type": "image_url"}, SchemaError, "image_url.url must be a string"),
        ({"type": "input_audio", "input_audio": {"data": B64}}, InvalidRequest, "'input_audio'"),
    ],
)
def test_bad_image_parts_name_the_field(part, error, words):
    with pytest.raises(error) as caught:
        load_image(part, field="input[2]")
    assert caught.value.param == "input[2]"
    assert caught.value.message.startswith("input[2]: ")
    assert words in caught.value.message


def test_other_types_are_a_schema_error():
    with pytest.raises(SchemaError, match=r"image: expected the image as bytes.*got int"):
        load_image(42)


def test_base64_over_the_limit_is_refused_before_decoding():
    policy = MediaPolicy(max_image_bytes=1024)
    with pytest.raises(PayloadTooLarge, match="decodes to about 3,000 bytes; the limit is 1,024"):
        decode_base64("A" * 4000, limit=policy.max_image_bytes, field="image")
    with pytest.raises(PayloadTooLarge):
        load_image(base64.b64encode(b"\0" * 2000).decode(), policy=policy)


def test_raw_bytes_over_the_limit_are_a_413():
    with pytest.raises(PayloadTooLarge, match="image: the image is 2,048 bytes"):
        media_bytes(
            b"\0" * 2048, kind="image", policy=MediaPolicy(max_image_bytes=1024), field="image"
        )


# Audio


WAV = audio_bytes("WAV")


@pytest.mark.parametrize(
    "value",
    [
        WAV,
        base64.b64encode(WAV).decode(),
        f"data:audio/wav;base64,{base64.b64encode(WAV).decode()}",
        {
            "type": "input_audio",
            "input_audio": {"data": base64.b64encode(WAV).decode(), "format": "wav"},
        },
        {"type": "input_audio", "input_audio": {"data": base64.b64encode(WAV).decode()}},
    ],
)
def test_every_audio_form_gives_the_same_samples(value):
    samples = load_audio(value)
    assert samples.dtype == np.float32 and len(samples) == 16_000


def test_audio_chunks_from_a_content_part():
    part = {
        "type": "input_audio",
        "input_audio": {"data": base64.b64encode(WAV).decode(), "format": "wav"},
    }
    assert [len(c) for c in load_audio_chunks(part, chunk_seconds=0.4)] == [6_400, 6_400, 3_200]


def test_png_sent_as_mp3_is_refused_as_what_it_is():
    part = {"type": "input_audio", "input_audio": {"data": B64, "format": "mp3"}}
    with pytest.raises(InvalidRequest) as caught:
        load_audio(part, field="input[0]")
    assert caught.value.code == "unsupported_format" and caught.value.param == "input[0]"
    assert "a PNG image is not supported audio" in caught.value.message


def test_a_real_clip_with_the_wrong_format_name_still_decodes():
    part = {
        "type": "input_audio",
        "input_audio": {"data": base64.b64encode(WAV).decode(), "format": "mp3"},
    }
    assert len(load_audio(part)) == 16_000


@pytest.mark.parametrize(
    ("audio", "error", "words"),
    [
        (
            {"data": B64, "format": "midi"},
            InvalidRequest,
            "input_audio.format 'midi' is not one of",
        ),
        ({"data": 12, "format": "wav"}, SchemaError, "a base64 string in 'data'"),
        ("abc", SchemaError, "input_audio must be an object"),
        (
            {"data": "!!", "format": "wav"},
            InvalidRequest,
            "audio.input_audio.data: not valid base64",
        ),
    ],
)
def test_bad_audio_parts_name_the_field(audio, error, words):
    with pytest.raises(error, match=words) as caught:
        load_audio({"type": "input_audio", "input_audio": audio})
    assert caught.value.param == "audio"


def test_image_part_sent_for_audio_is_a_400():
    with pytest.raises(
        InvalidRequest, match="expected the audio .* 'input_audio', got a part of type 'image_url'"
    ):
        load_audio({"type": "image_url", "image_url": {"url": "x.png"}})


# Server-side paths


@pytest.fixture
def media_root(tmp_path):
    root = tmp_path / "media"
    (root / "photos").mkdir(parents=True)
    (root / "photos" / "cat.png").write_bytes(PNG)
    (tmp_path / "secret.png").write_bytes(PNG)
    return root


def image_part(url):
    return {"type": "image_url", "image_url": {"url": url}}


@pytest.mark.parametrize(
    "url",
    [
        "photos/cat.png",
        "./photos/../photos/cat.png",
        "file:photos/cat.png",
        "file:photos/c%61t.png",
    ],
)
def test_paths_inside_the_root_are_read(media_root, url):
    policy = MediaPolicy(media_root=media_root)
    assert is_red_png(load_image(image_part(url), policy=policy))


def test_absolute_paths_inside_the_root_are_read(media_root):
    policy = MediaPolicy(media_root=media_root)
    path = media_root / "photos" / "cat.png"
    assert is_red_png(load_image(image_part(str(path)), policy=policy))
    assert is_red_png(load_image(f"file://{path}", policy=policy))  # a bare string


def test_paths_are_off_by_default(media_root):
    with pytest.raises(InvalidRequest) as caught:
        load_image(image_part(str(media_root / "photos" / "cat.png")))
    assert caught.value.code == "paths_disabled"
    assert "data: URI" in caught.value.message  # says what to send instead


@pytest.mark.parametrize(
    "url",
    [
        "../secret.png",
        "photos/../../secret.png",
        "file:../secret.png",
        "/etc/passwd",
        "file:///etc/passwd",
    ],
)
def test_paths_out_of_the_root_are_refused(media_root, url):
    with pytest.raises(InvalidRequest) as caught:
        load_image(image_part(url), policy=MediaPolicy(media_root=media_root), field="input[0]")
    assert caught.value.code == "path_not_allowed"
    assert "outside the media root" in caught.value.message


def test_symlink_pointing_out_of_the_root_is_refused(media_root, tmp_path):
    (media_root / "escape.png").symlink_to(tmp_path / "secret.png")
    (media_root / "escape_dir").symlink_to(tmp_path)
    policy = MediaPolicy(media_root=media_root)
    for url in ("escape.png", "escape_dir/secret.png"):
        with pytest.raises(InvalidRequest, match="outside the media root"):
            load_image(image_part(url), policy=policy)


def test_symlink_inside_the_root_is_followed(media_root):
    (media_root / "alias.png").symlink_to(media_root / "photos" / "cat.png")
    assert is_red_png(
        load_image(image_part("alias.png"), policy=MediaPolicy(media_root=media_root))
    )


def test_missing_file_is_a_404(media_root):
    with pytest.raises(NotFound, match="no file 'photos/dog.png' in the media root"):
        load_image(image_part("photos/dog.png"), policy=MediaPolicy(media_root=media_root))


def test_directory_fifo_and_file_hosts_are_refused(media_root):
    os.mkfifo(media_root / "pipe.png")
    policy = MediaPolicy(media_root=media_root)
    for url, words in [
        ("photos", "is not a file"),
        ("pipe.png", "is not a file"),  # and does not block on open
        ("file://otherhost/photos/cat.png", "remove the host"),
        ("photos/\0cat.png", "holds a NUL character"),
    ]:
        with pytest.raises(InvalidRequest, match=words):
            load_image(image_part(url), policy=policy)


def test_file_over_the_limit_is_a_413_before_reading(media_root):
    (media_root / "big.png").write_bytes(PNG + b"\0" * 4096)
    policy = MediaPolicy(media_root=media_root, max_image_bytes=1024)
    with pytest.raises(PayloadTooLarge, match="the file is 4,"):
        load_image(image_part("big.png"), policy=policy)


def test_error_messages_do_not_reveal_the_server_path(media_root):
    with pytest.raises(InvalidRequest) as caught:
        load_image(image_part("../secret.png"), policy=MediaPolicy(media_root=media_root))
    assert str(media_root) not in caught.value.message
