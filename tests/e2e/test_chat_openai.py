"""The official `openai` client against `mmserve serve` with the default models: a grounded
answer about a photo with a sign, a spoken clip and a collection, streamed and not."""

from __future__ import annotations

import openai
import pytest
import requests

from tests.chat_media import SIGN_TEXT, ask, audio_part, image_part, sign_photo_png, spoken_wav
from tests.e2e.test_serve import running_server

pytestmark = [pytest.mark.e2e, pytest.mark.real_weights]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("chat")) as (base, _, _):
        requests.post(f"{base}/v1/collections", json={"name": "docs", "model": "minilm"})
        items = [
            {"id": "invoice", "content": "the invoice is overdue", "metadata": {"title": "bill"}},
            {"id": "beach", "content": "a dog runs on the beach", "metadata": {"title": "dog"}},
        ]
        requests.post(f"{base}/v1/collections/docs/items", json={"items": items})
        yield base


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=f"{server}/v1", api_key="not-needed", max_retries=0)


def test_streams_a_grounded_answer_about_the_sign(client):
    stream = client.chat.completions.create(
        model="grounded",
        messages=ask("What does the sign say?", image_part(sign_photo_png())),
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert f'"{SIGN_TEXT}" (line 1)' in text
    assert chunks[0].model_extra["evidence"]["facts"]
    assert chunks[-1].usage.completion_tokens == len(text.split())


def test_answers_what_is_said_in_a_clip(client):
    completion = client.chat.completions.create(
        model="grounded",
        messages=ask("What is said?", audio_part(spoken_wav())),
        max_completion_tokens=200,
    )
    answer = completion.choices[0].message.content
    assert "tomorrow" in answer.lower() and " s) [E" in answer
    assert completion.model == "grounded" and completion.usage.total_tokens > 0


def test_finds_the_matching_item_of_a_collection(client):
    completion = client.chat.completions.create(
        model="grounded",
        messages=ask("Which item is about a dog?"),
        extra_body={"collection": "docs"},
    )
    assert completion.choices[0].message.content.startswith(
        "The best match in collection docs is item 'beach'"
    )
    assert completion.model_extra["evidence"]["facts"][0]["item_id"] == "beach"


def test_bad_requests_raise_the_clients_error_with_our_message(client):
    with pytest.raises(openai.BadRequestError, match="tool calls are not supported"):
        client.chat.completions.create(
            model="grounded", messages=[{"role": "tool", "content": "x", "tool_call_id": "1"}]
        )
