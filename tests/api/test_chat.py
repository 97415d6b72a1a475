"""/v1/chat/completions with the grounded model and the real default models: a photo with a
sign drawn on it, an espeak-ng clip, a collection of texts."""

from __future__ import annotations

import json

import pytest

from mmserve.app import create_app
from mmserve.config import Config, Limits, ModelConfig
from mmserve.media import MediaPolicy
from tests.chat_media import (
    SIGN_TEXT,
    ask,
    audio_part,
    image_part,
    sign_photo_png,
    spoken_wav,
)

pytestmark = pytest.mark.real_weights
DEFAULTS = ("minilm", "bridge", "efficientnet-lite0", "rapidocr", "yamnet", "whisper-tiny.en")
ANIMALS = {"cat": "a photo of a cat", "car": "a red sports car", "tea": "a cup of tea"}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    models = tuple(ModelConfig(id=m, workers=1) for m in DEFAULTS)
    config = Config(
        data_dir=tmp_path_factory.mktemp("data"),
        models=models,
        limits=Limits(max_images=2),
        media=MediaPolicy(max_audio_seconds=20),
    )
    app = create_app(config, wait_for_models=True)
    client = app.test_client()
    client.post("/v1/collections", json={"name": "things", "model": "minilm"})
    items = [{"id": k, "content": v, "metadata": {"title": v}} for k, v in ANIMALS.items()]
    assert client.post("/v1/collections/things/items", json={"items": items}).status_code == 200
    yield app
    services = app.extensions["mmserve"]
    services.jobs.stop()
    services.pool.stop()
    services.store.close()


@pytest.fixture
def client(app):
    return app.test_client()


def chat(client, messages, status=200, **fields):
    response = client.post("/v1/chat/completions", json={"messages": messages, **fields})
    assert response.status_code == status, response.get_json()
    return response.get_json()


def reply_of(body):
    assert body["object"] == "chat.completion" and body["model"] == "grounded"
    assert body["choices"][0]["message"]["role"] == "assistant"
    return body["choices"][0]["message"]["content"]


def facts(body, kind):
    return [f for f in body["evidence"]["facts"] if f["kind"] == kind]


def test_what_does_the_sign_say_quotes_the_ocr_line_and_cites_it(client):
    body = chat(client, ask("What does the sign say?", image_part(sign_photo_png())))
    line = next(f for f in facts(body, "text") if f["text"] == SIGN_TEXT)
    assert line["source"] == "image 1" and line["line"] == 1
    assert f'"{SIGN_TEXT}" (line 1) [{line["id"]}]' in reply_of(body)
    usage = body["usage"]
    assert usage["completion_tokens"] == len(reply_of(body).split())
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_what_is_in_the_picture_names_the_top_labels(client):
    body = chat(client, ask("What is in the picture?", image_part(sign_photo_png())))
    labels = facts(body, "label")
    assert labels and labels[0]["model"] == "efficientnet-lite0"
    assert f"{labels[0]['text']} ({labels[0]['score']:.2f}) [{labels[0]['id']}]" in reply_of(body)


@pytest.mark.parametrize(("thing", "verdict"), [("cup", "Yes"), ("dog", "No")])
def test_is_there_an_x_answers_yes_or_no_with_the_zero_shot_score(client, thing, verdict):
    body = chat(client, ask(f"Is there a {thing} in the picture?", image_part(sign_photo_png())))
    (score,) = facts(body, "zero_shot")
    assert score["text"] == thing and score["model"] == "bridge"
    assert (score["score"] >= 0.5) == (verdict == "Yes")
    assert reply_of(body).startswith(f"{verdict}: image 1 likely")
    assert f"{score['score']:.2f}" in reply_of(body)


def test_what_is_said_gives_the_transcript_with_its_seconds(client):
    body = chat(client, ask("What is said, and when?", audio_part(spoken_wav())))
    segments = facts(body, "speech")
    assert segments and segments[0]["start"] == 0.0 and segments[-1]["end"] > 1
    heard = " ".join(s["text"] for s in segments).lower()
    assert "tomorrow" in heard and "meeting" in heard
    assert f"[{segments[0]['id']}]" in reply_of(body)
    assert f"{segments[0]['start']:.1f}-{segments[0]['end']:.1f} s" in reply_of(body)


def test_when_is_a_word_said_leads_with_its_segment(client):
    body = chat(client, ask("When does she say tomorrow?", audio_part(spoken_wav())))
    (first, *_) = [s for s in facts(body, "speech") if "tomorrow" in s["text"].lower()]
    assert reply_of(body).startswith(f'"{first["text"]}" is said in audio 1 from')


def test_what_sound_is_this_names_the_audioset_tags(client):
    body = chat(client, ask("What sound is this?", audio_part(spoken_wav())))
    tags = facts(body, "sound")
    assert tags[0]["text"] == "Speech" and tags[0]["model"] == "yamnet"
    assert reply_of(body).startswith("Audio 1 sounds like: Speech")


def test_which_item_matches_cites_the_collection_items(client):
    body = chat(client, ask("Which item is about a car?"), collection="things")
    items = facts(body, "item")
    assert items[0]["item_id"] == "car" and items[0]["source"] == "collection things"
    assert reply_of(body).startswith("The best match in collection things is item 'car'")


def test_a_question_the_evidence_does_not_answer_says_so(client):
    body = chat(client, ask("How old is the owner?", image_part(sign_photo_png())))
    assert reply_of(body).startswith("The evidence does not answer this question directly")


def test_no_media_and_no_collection_means_nothing_to_answer_from(client):
    body = chat(client, [{"role": "system", "content": "Be brief."}, *ask("Hello")])
    assert "cannot answer" in reply_of(body) and body["evidence"]["facts"] == []


def test_stream_sends_chunks_then_usage_then_done(client):
    response = client.post(
        "/v1/chat/completions",
        json={
            "messages": ask("What does the sign say?", image_part(sign_photo_png())),
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    )
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    events = [e[len("data: ") :] for e in response.get_data(as_text=True).split("\n\n") if e]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant" and chunks[0]["evidence"]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert SIGN_TEXT in text and len(chunks) > 5
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == len(
        text.split()
    )


def test_max_tokens_cuts_the_reply_and_says_length(client):
    body = chat(client, ask("What is in the picture?", image_part(sign_photo_png())), max_tokens=3)
    assert len(reply_of(body).split()) == 3 and body["choices"][0]["finish_reason"] == "length"


def test_stop_sequence_ends_the_reply_before_it(client):
    body = chat(client, ask("What does the sign say?", image_part(sign_photo_png())), stop="NO")
    assert reply_of(body) == 'Image 1 reads: "'


def error_of(body):
    return body["error"]["param"], body["error"]["message"]


@pytest.mark.parametrize(
    ("messages", "status", "param", "words"),
    [
        ([], 400, "messages", "non-empty"),
        ([{"role": "robot", "content": "hi"}], 400, "messages[0].role", "unknown role"),
        ([{"role": "tool", "content": "42"}], 400, "messages[0]", "tool calls"),
        ([{"role": "system", "content": "only rules"}], 400, "messages", "user message"),
        ([{"role": "user", "content": []}], 422, "messages[0].content", "content parts"),
        (ask({"type": "video_url"}), 400, "messages[0].content[0]", "unknown content part"),
    ],
)
def test_bad_messages_get_the_one_error_shape(client, messages, status, param, words):
    body = chat(client, messages, status=status)
    assert error_of(body)[0] == param and words in error_of(body)[1]


def test_too_many_images_names_the_limit(client):
    image = image_part(sign_photo_png())
    body = chat(client, ask("What is this?", image, image, image), status=413)
    assert error_of(body) == (
        "messages[0].content[3]",
        "messages[0].content[3]: more than 2 images in one request (limits.max_images)",
    )


def test_audio_over_the_media_limit_is_refused(client):
    from tests.audio_models import speech_wav

    long_clip = speech_wav("this sentence is spoken slowly and repeated " * 12)
    body = chat(client, ask("What is said?", audio_part(long_clip)), status=413)
    assert error_of(body)[0] == "messages[0].content[1]" and "limit is 20 s" in error_of(body)[1]


def test_tools_and_n_and_unknown_models(client):
    tool = {"type": "function", "function": {"name": "f"}}
    body = chat(client, ask("hi"), status=400, tools=[tool])
    assert body["error"]["code"] == "tools_not_supported"
    assert error_of(chat(client, ask("hi"), status=422, n=2))[0] == "n"
    body = chat(client, ask("hi"), status=404, model="gpt-4o")
    assert "chat models: grounded" in error_of(body)[1]
    body = chat(client, ask("hi"), status=400, model="minilm")
    assert body["error"]["code"] == "unsupported_capability"
