"""Zero-shot classification and label sets, through fakes whose vectors are computed by
hand (tests/search_helpers.py: text -> (len, 0, 0, 1), red image -> (255, 0, 0, 0) + 1e-3,
audio -> (0, 0, 0, rms))."""

import math

import pytest

from mmserve.api.routes.classifications import MAX_LABEL_CHARS, MAX_LABELS, TEMPERATURE
from mmserve.config import ModelConfig
from tests import search_helpers  # noqa: F401  (registers test-multimodal)
from tests.api.test_multimodal_embeddings import AUDIO_PART, IMAGE_PART


@pytest.fixture
def client(make_app):
    app = make_app(ModelConfig(id="fake"), ModelConfig(id="mm", source="test-multimodal"))
    return app.test_client()


def classify(client, **body):
    return client.post("/v1/classifications", json=body)


def error_of(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()["error"]


def test_an_image_ranks_labels_by_cosine_with_softmax_scores(client):
    body = classify(client, input=IMAGE_PART, labels=["ab", "abcdefgh", "abcd"]).get_json()
    assert body["model"] == "mm" and body["temperature"] == TEMPERATURE
    assert [d["label"] for d in body["data"]] == ["abcdefgh", "abcd", "ab"]
    # red (255, 0, 0, 0) against (len, 0, 0, 1): cosine len / sqrt(len^2 + 1)
    cosines = {n: n / math.sqrt(n * n + 1) for n in (8, 4, 2)}
    assert [d["similarity"] for d in body["data"]] == pytest.approx(
        list(cosines.values()), abs=1e-4
    )
    exps = {n: math.exp(c / TEMPERATURE) for n, c in cosines.items()}
    expected = [exps[n] / sum(exps.values()) for n in (8, 4, 2)]
    assert [d["score"] for d in body["data"]] == pytest.approx(expected, rel=1e-3)


def test_audio_prefers_the_shortest_label_and_top_k_truncates(client):
    body = classify(client, input=AUDIO_PART, labels=["abc", "a", "ab"], top_k=2).get_json()
    assert [d["label"] for d in body["data"]] == ["a", "ab"]


def test_a_text_input_and_a_prompt_template(client):
    labels = ["bbbbbbbbbb", "a"]
    body = classify(client, input="xy", labels=labels, prompt="{} z", model="mm").get_json()
    # "xy" -> (2, 0, 0, 1); "a z" -> (3, 0, 0, 1) is closer than "bbbbbbbbbb z" -> (12, 0, 0, 1)
    assert [d["label"] for d in body["data"]] == ["a", "bbbbbbbbbb"]
    assert body["data"][0]["similarity"] == pytest.approx(7 / math.sqrt(5 * 10), abs=1e-5)
    text_only = classify(client, input="xy", labels=labels).get_json()
    assert text_only["model"] == "fake"  # text needs no multimodal model
    assert [d["score"] for d in text_only["data"]] == pytest.approx([0.5, 0.5])


def test_label_sets_are_stored_listed_used_and_deleted(client):
    created = client.post("/v1/label-sets", json={"name": "lengths", "labels": ["ab", "abcd"]})
    assert created.status_code == 201
    card = created.get_json()
    assert card["model"] == "mm" and card["dimensions"] == 4 and card["prompt"] == "{}"
    assert [s["name"] for s in client.get("/v1/label-sets").get_json()["data"]] == ["lengths"]
    assert client.get("/v1/label-sets/lengths").get_json()["labels"] == ["ab", "abcd"]
    body = classify(client, input=IMAGE_PART, label_set="lengths").get_json()
    assert body["label_set"] == "lengths" and body["data"][0]["label"] == "abcd"
    assert client.delete("/v1/label-sets/lengths").get_json()["deleted"] is True
    assert error_of(client.get("/v1/label-sets/lengths"), 404)["code"] == "label_set_not_found"
    error = error_of(classify(client, input="x", label_set="lengths"), 404)
    assert error["param"] == "label_set"


def test_label_sets_survive_a_restart(make_app):
    models = (ModelConfig(id="mm", source="test-multimodal"),)
    first = make_app(*models).test_client()
    labels = ["ab", "abcdefgh"]
    assert first.post("/v1/label-sets", json={"name": "kept", "labels": labels}).status_code == 201
    second = make_app(*models).test_client()  # same data_dir, new app and store
    assert second.get("/v1/label-sets/kept").get_json()["labels"] == labels
    body = classify(second, input=IMAGE_PART, label_set="kept").get_json()
    assert body["data"][0]["label"] == "abcdefgh"


def test_a_text_only_model_cannot_classify_images_naming_those_that_can(client):
    error = error_of(classify(client, input=IMAGE_PART, labels=["a"], model="fake"), 400)
    assert error["code"] == "unsupported_capability" and "mm" in error["message"]


@pytest.mark.parametrize(
    ("body", "param", "status"),
    [
        ({"input": "x"}, "labels", 400),
        ({"input": "x", "labels": ["a"], "label_set": "s"}, "labels", 400),
        ({"input": "x", "labels": []}, "labels", 400),
        ({"input": "x", "labels": ["a"] * (MAX_LABELS + 1)}, "labels", 400),
        ({"input": "x", "labels": ["a", "b" * (MAX_LABEL_CHARS + 1)]}, "labels[1]", 400),
        ({"input": "x", "labels": ["a", " "]}, "labels[1]", 400),
        ({"input": "x", "labels": ["a", "a"]}, "labels[1]", 400),
        ({"input": "x", "labels": ["a", 3]}, "labels[1]", 422),
        ({"input": "x", "labels": ["a"], "prompt": "no slot"}, "prompt", 400),
        ({"input": "x", "labels": ["a"], "prompt": "{0} {x}"}, "prompt", 400),
        ({"input": "", "labels": ["a"]}, "input", 400),
        ({"input": {"type": "video"}, "labels": ["a"]}, "input", 400),
        ({"input": "x", "labels": ["a"], "top_k": 0}, "top_k", 422),
        ({"input": "x", "label_set": "../etc"}, "label_set", 400),
        ({"input": "x", "labels": ["a"], "model": "nope"}, "model", 404),
    ],
)
def test_bad_requests_name_the_field(client, body, param, status):
    assert error_of(classify(client, **body), status)["param"] == param


def test_label_set_errors_name_the_field(client):
    post = lambda **body: client.post("/v1/label-sets", json=body)  # noqa: E731
    assert error_of(post(name="bad name", labels=["a"]), 400)["param"] == "name"
    assert error_of(post(name="ok", labels=["a", ""]), 400)["param"] == "labels[1]"
    assert error_of(post(name="ok", labels=["a"], model="nope"), 404)["param"] == "model"
    assert post(name="ok", labels=["a"], model="mm").status_code == 201
    assert error_of(post(name="ok", labels=["b"]), 400)["code"] == "label_set_exists"
    other = classify(client, input="x", label_set="ok", model="fake")
    assert error_of(other, 400)["param"] == "model"
    assert error_of(client.delete("/v1/label-sets/missing"), 404)["code"] == "label_set_not_found"


def test_routes_are_in_the_openapi_document(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    assert {"/v1/classifications", "/v1/label-sets", "/v1/label-sets/{name}"} <= set(paths)
