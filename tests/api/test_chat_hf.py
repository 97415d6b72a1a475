"""An hf: vision-language checkpoint (a tiny random-weight LLaVA) answering through
/v1/chat/completions, streamed and not."""

from __future__ import annotations

import json

import pytest

from mmserve.config import ModelConfig
from tests.chat_media import ask, image_part, sign_photo_png
from tests.hf_vlm_models import ANSWER_WORD, write_llava
from tests.search_helpers import make_search_app  # noqa: F401 - fixture


@pytest.fixture(scope="module")
def llava_dir(tmp_path_factory):
    return write_llava(tmp_path_factory.mktemp("llava"))


@pytest.fixture
def client(make_search_app, llava_dir):  # noqa: F811
    vlm = ModelConfig(id="tiny-llava", source=f"hf:{llava_dir}")
    return make_search_app(ModelConfig(id="fake", max_wait_ms=1), vlm).test_client()


def test_the_vlm_looks_at_the_image_and_answers(client):
    response = client.post(
        "/v1/chat/completions",
        json={
            "model": "tiny-llava",
            "messages": ask("what is this ?", image_part(sign_photo_png())),
            "max_tokens": 4,
            "temperature": 0,
        },
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["model"] == "tiny-llava"
    assert body["choices"][0]["message"]["content"].split() == [ANSWER_WORD] * 4
    assert body["usage"]["completion_tokens"] == 4


def test_the_vlm_streams(client):
    response = client.post(
        "/v1/chat/completions",
        json={
            "model": "tiny-llava",
            "messages": ask("what is this ?", image_part(sign_photo_png())),
            "max_tokens": 3,
            "temperature": 0,
            "stream": True,
        },
    )
    events = [e[len("data: ") :] for e in response.get_data(as_text=True).split("\n\n") if e]
    chunks = [json.loads(e) for e in events[:-1]]
    pieces = [c["choices"][0]["delta"].get("content") for c in chunks[1:-1]]
    assert len(pieces) == 3 and "".join(pieces).split() == [ANSWER_WORD] * 3
    assert events[-1] == "[DONE]"


def test_the_vlm_is_listed_as_a_chat_model(client):
    models = {m["id"]: m for m in client.get("/v1/models").get_json()["data"]}
    assert "chat" in models["tiny-llava"]["capabilities"]
