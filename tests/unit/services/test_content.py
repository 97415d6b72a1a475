"""The shared content parser: every accepted form, and errors naming the field."""

import base64
import io
import wave
from types import SimpleNamespace

import numpy as np
import pytest

from mmserve.config import Config, Limits
from mmserve.errors import ClientError, PayloadTooLarge
from mmserve.media.policy import MediaPolicy
from mmserve.models.base import Waveform
from mmserve.services.content import Content, image_side, parse_content, parse_inputs
from tests.unit.media.makers import image_bytes


def wav_bytes(samples: np.ndarray, rate: int = 16_000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((samples * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


PNG = image_bytes("PNG", size=(20, 10))
WAV = wav_bytes(np.sin(np.arange(8000) / 5.0) * 0.3)
PNG_B64 = base64.b64encode(PNG).decode()
WAV_B64 = base64.b64encode(WAV).decode()


def test_a_string_is_text():
    assert parse_content("a cat") == Content("text", "a cat")


@pytest.mark.parametrize("part_type", ["text", "input_text"])
def test_text_parts(part_type):
    assert parse_content({"type": part_type, "text": "hi"}) == Content("text", "hi")


@pytest.mark.parametrize(
    "part",
    [
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
        {"type": "input_image", "image_url": f"data:image/png;base64,{PNG_B64}"},
        {"type": "image", "image": PNG_B64},
        {"type": "image", "image": f"data:image/png;base64,{PNG_B64}"},
    ],
)
def test_image_parts_decode_to_rgb(part):
    content = parse_content(part)
    assert content.modality == "image"
    assert content.value.mode == "RGB" and content.value.size == (20, 10)


@pytest.mark.parametrize(
    "part",
    [
        {"type": "input_audio", "input_audio": {"data": WAV_B64, "format": "wav"}},
        {"type": "audio", "audio": WAV_B64},
    ],
)
def test_audio_parts_decode_to_a_16k_waveform(part):
    content = parse_content(part)
    assert content.modality == "audio"
    assert isinstance(content.value, Waveform) and content.value.sample_rate == 16_000
    assert content.value.samples.dtype == np.float32
    assert content.value.seconds == pytest.approx(0.5, abs=0.05)


def test_a_list_mixes_modalities_in_order():
    parsed = parse_inputs(["a", {"type": "image", "image": PNG_B64}, {"type": "text", "text": "b"}])
    assert [c.modality for c in parsed] == ["text", "image", "text"]


@pytest.mark.parametrize(
    ("value", "param", "status"),
    [
        (["ok", ""], "input[1]", 400),
        (["ok", "  "], "input[1]", 400),
        (["ok", {"type": "video", "video": "x"}], "input[1]", 400),
        (["ok", {"text": "no type"}], "input[1]", 400),
        (["ok", {"type": "text", "text": 3}], "input[1].text", 422),
        (["ok", {"type": "image", "image": 3}], "input[1]", 422),
        (["ok", {"type": "image", "image": "not base64!"}], "input[1]", 400),
        (["ok", {"type": "image", "image": WAV_B64}], "input[1]", 400),
        ([{"type": "audio", "audio": PNG_B64}], "input[0]", 400),
        (
            [{"type": "input_audio", "input_audio": {"data": WAV_B64, "format": "xyz"}}],
            "input[0]",
            400,
        ),
        ([{"type": "image_url", "image_url": {"url": "/etc/passwd"}}], "input[0]", 400),
        (["ok", 3.5], "input[1]", 422),
        (["ok", [1, 2]], "input[1]", 400),
        ([], "input", 400),
        (3, "input", 422),
    ],
)
def test_errors_name_the_item(value, param, status):
    with pytest.raises(ClientError) as caught:
        parse_inputs(value)
    assert caught.value.param == param
    assert caught.value.status == status


def test_a_token_array_is_refused_as_a_whole():
    with pytest.raises(ClientError) as caught:
        parse_inputs([101, 2023, 102])
    assert caught.value.param == "input" and caught.value.code == "unsupported_input"


def test_limits_come_from_the_config():
    config = Config(limits=Limits(max_inputs=2), media=MediaPolicy(max_image_pixels=100))
    with pytest.raises(ClientError, match="limits.max_inputs") as caught:
        parse_inputs(["a", "b", "c"], config=config)
    assert caught.value.param == "input"
    with pytest.raises(PayloadTooLarge) as too_big:
        parse_inputs(["a", {"type": "image", "image": PNG_B64}], config=config)
    assert too_big.value.param == "input[1]"


def test_a_config_without_media_uses_the_default_policy():
    content = parse_content({"type": "image", "image": PNG_B64}, config=SimpleNamespace())
    assert content.modality == "image"


def test_images_decode_at_reduced_scale_for_a_model_that_resizes():
    jpeg = base64.b64encode(image_bytes("JPEG", size=(1600, 1200))).decode()
    parts = [
        {"type": "image", "image": jpeg},
        {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{jpeg}"}},
    ]
    # 1/4 scale keeps the shorter side at 300 >= 2 x 128; without a side, the full size.
    assert [c.value.size for c in parse_inputs(parts, image_min_side=128)] == [(400, 300)] * 2
    assert [c.value.size for c in parse_inputs(parts)] == [(1600, 1200)] * 2


def test_image_side_is_the_named_served_models():
    pool = SimpleNamespace(
        runners={"b": SimpleNamespace(model=SimpleNamespace(image_min_side=256))}
    )
    assert image_side(pool, "b") == 256
    assert image_side(pool, None) is None and image_side(pool, "unknown") is None
