"""POST /v1/embeddings with content parts, through a hand-computable multimodal fake
(tests/search_helpers.py: image -> (mean R, G, B, 0), audio -> (0, 0, 0, rms),
text -> (len, 0, 0, 1))."""

import base64

import httpx2 as httpx
import numpy as np
import openai
import pytest

from mmserve.config import ModelConfig
from tests import search_helpers  # noqa: F401  (registers test-multimodal)
from tests.unit.services.test_content import PNG_B64, WAV_B64

IMAGE_PART = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}}
AUDIO_PART = {"type": "input_audio", "input_audio": {"data": WAV_B64, "format": "wav"}}
RED = [255.001, 0.001, 0.001, 0.001]  # makers.image_bytes paints red; the fake adds 1e-3


@pytest.fixture
def multimodal(make_app):
    return make_app(ModelConfig(id="fake"), ModelConfig(id="mm", source="test-multimodal"))


def post(client, **body):
    return client.post("/v1/embeddings", json=body)


def test_mixed_inputs_come_from_one_model_in_order(multimodal):
    body = post(multimodal.test_client(), input=["abc", IMAGE_PART, AUDIO_PART]).get_json()
    assert body["model"] == "mm"  # the default for text+image+audio, though fake is first
    text, image, audio = (d["embedding"] for d in body["data"])
    assert text == [3.0, 0.0, 0.0, 1.0]
    assert image == pytest.approx(RED, abs=1e-3)
    assert audio[:3] == [0.0, 0.0, 0.0] and audio[3] > 0.1
    assert body["usage"]["prompt_tokens"] == 0  # the fake counts no tokens


def test_one_part_alone_and_the_bare_image_form(multimodal):
    client = multimodal.test_client()
    one = post(client, input=IMAGE_PART).get_json()["data"]
    bare = post(client, input=[{"type": "image", "image": PNG_B64}]).get_json()["data"]
    assert one[0]["embedding"] == bare[0]["embedding"]


def test_text_stays_with_the_default_text_model(multimodal):
    assert post(multimodal.test_client(), input=["abc"]).get_json()["model"] == "fake"


def test_a_text_model_refuses_images_naming_the_item_and_those_that_can(multimodal):
    response = post(multimodal.test_client(), input=["a", IMAGE_PART], model="fake")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "unsupported_capability"
    assert "input[1]" in error["message"] and "models that can: mm" in error["message"]


def test_no_model_for_images_is_400(make_app):
    response = post(make_app().test_client(), input=[IMAGE_PART])
    assert response.status_code == 400
    assert response.get_json()["error"]["param"] == "model"


def test_a_bad_part_names_its_index(multimodal):
    bad = {"type": "image", "image": "!!not base64"}
    error = post(multimodal.test_client(), input=["a", bad]).get_json()["error"]
    assert error["param"] == "input[1]" and error["code"] == "invalid_base64"


def openai_client(app):
    transport = httpx.WSGITransport(app=app)
    return openai.OpenAI(
        base_url="http://mmserve.test/v1",
        api_key="unused",
        max_retries=0,
        http_client=httpx.Client(transport=transport, base_url="http://mmserve.test"),
    )


def test_the_openai_client_sends_image_parts_in_the_input_list(multimodal):
    result = openai_client(multimodal).embeddings.create(
        model="mm",
        input=["abc", IMAGE_PART],  # type: ignore[list-item]  (the SDK types say str only)
    )
    assert result.model == "mm"
    assert result.data[0].embedding == [3.0, 0.0, 0.0, 1.0]
    assert result.data[1].embedding == pytest.approx(RED, abs=1e-3)


def test_the_openai_client_sends_parts_through_extra_body(multimodal):
    result = openai_client(multimodal).embeddings.create(
        model="mm", input="placeholder", extra_body={"input": [AUDIO_PART, IMAGE_PART]}
    )
    assert len(result.data) == 2
    assert result.data[1].embedding == pytest.approx(RED, abs=1e-3)
    vector = np.asarray(result.data[0].embedding)
    assert vector[3] > 0.1 and not vector[:3].any()


def test_base64_encoding_works_for_images(multimodal):
    body = post(multimodal.test_client(), input=[IMAGE_PART], encoding_format="base64").get_json()
    decoded = np.frombuffer(base64.b64decode(body["data"][0]["embedding"]), dtype="<f4")
    assert decoded.tolist() == pytest.approx(RED, abs=1e-3)
