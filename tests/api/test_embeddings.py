import base64

import numpy as np
import pytest

from mmserve.api.schemas.embeddings import EmbeddingResponse
from mmserve.config import ModelConfig


def post(client, **body):
    return client.post("/v1/embeddings", json=body)


def test_one_text_gives_the_openai_shape(client):
    response = post(client, input="hello", model="fake")
    assert response.status_code == 200
    body = response.get_json()
    EmbeddingResponse.model_validate(body)
    assert body["object"] == "list" and body["model"] == "fake"
    assert body["data"] == [{"object": "embedding", "index": 0, "embedding": [5.0] * 8}]
    assert body["usage"] == {"prompt_tokens": 3, "total_tokens": 3}


def test_a_list_keeps_its_order_and_counts_tokens(client):
    body = post(client, input=["a", "bb bb", "ccc"]).get_json()
    assert [d["index"] for d in body["data"]] == [0, 1, 2]
    assert [d["embedding"][0] for d in body["data"]] == [1.0, 5.0, 3.0]
    assert body["usage"]["prompt_tokens"] == 3 + 4 + 3


def test_base64_is_little_endian_float32(client):
    body = post(client, input=["abcd"], encoding_format="base64").get_json()
    decoded = np.frombuffer(base64.b64decode(body["data"][0]["embedding"]), dtype="<f4")
    assert decoded.tolist() == [4.0] * 8


def test_model_defaults_to_the_first_embedding_model(client):
    assert post(client, input="x").get_json()["model"] == "fake"


def test_request_id_is_echoed_or_made(client):
    response = client.post("/v1/embeddings", json={"input": "x"}, headers={"X-Request-ID": "abc-1"})
    assert response.headers["X-Request-ID"] == "abc-1"
    made = post(client, input="x").headers["X-Request-ID"]
    assert len(made) == 32
    unsafe = client.post("/v1/embeddings", json={"input": "x"}, headers={"X-Request-ID": "a b"})
    assert unsafe.headers["X-Request-ID"] != "a b"


def error_of(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body["error"]


def test_malformed_json_is_400(client):
    response = client.post("/v1/embeddings", data="{not json", content_type="application/json")
    assert error_of(response, 400)["code"] == "invalid_json"
    response = client.post("/v1/embeddings", json=["a", "list"])
    assert "JSON object" in error_of(response, 400)["message"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": 3}, "input"),
        ({"input": ["ok", 3.5]}, "input[1]"),
        ({}, "input"),
        ({"input": "x", "encoding_format": "hex"}, "encoding_format"),
        ({"input": "x", "temperature": 1}, "temperature"),
    ],
)
def test_wrong_types_are_422_naming_the_field(client, body, param):
    error = error_of(client.post("/v1/embeddings", json=body), 422)
    assert error["param"] == param
    assert error["message"].startswith(param)


def test_token_arrays_empty_inputs_and_dimensions_are_400(client):
    assert error_of(post(client, input=[1, 2, 3]), 400)["code"] == "unsupported_input"
    assert error_of(post(client, input=[]), 400)["param"] == "input"
    assert error_of(post(client, input=["ok", "  "]), 400)["param"] == "input[1]"
    assert error_of(post(client, input=""), 400)["param"] == "input"
    error = error_of(post(client, input="x", dimensions=4), 400)
    assert error["param"] == "dimensions" and "8 dimensions" in error["message"]


def test_unknown_model_is_404_listing_the_served_ones(client):
    error = error_of(post(client, input="x", model="gpt-9"), 404)
    assert error["code"] == "model_not_found" and "fake" in error["message"]


def test_too_many_inputs_names_the_limit(make_app):
    client = make_app(max_inputs=3).test_client()
    error = error_of(post(client, input=["a"] * 4), 400)
    assert error["code"] == "too_many_inputs" and "limit is 3" in error["message"]
    assert post(client, input=["a"] * 3).status_code == 200


def test_too_many_tokens_names_the_limit_and_the_item(make_app):
    client = make_app(ModelConfig(id="fake", source="fake:max_tokens=4")).test_client()
    error = error_of(post(client, input=["one two", "one two three"]), 413)
    assert error["param"] == "input[1]"
    assert error["code"] == "context_length_exceeded"
    assert "at most 4" in error["message"]


def test_body_over_the_limit_is_413_from_the_header(make_app):
    client = make_app(max_body_bytes=2048).test_client()
    error = error_of(post(client, input="x" * 4000), 413)
    assert "the limit is 2,048 (limits.max_body_bytes)" in error["message"]


def test_wrong_method_is_405_with_allow(client):
    response = client.get("/v1/embeddings")
    error_of(response, 405)
    assert "POST" in response.headers["Allow"]


def test_full_queue_is_429_with_retry_after(make_app):
    app = make_app(ModelConfig(id="fake", queue_size=4, max_batch_size=4))
    response = post(app.test_client(), input=["a"] * 5)
    assert error_of(response, 429)["code"] == "overloaded"
    assert response.headers["Retry-After"] == "1"


def test_slow_model_is_504(make_app):
    client = make_app(
        ModelConfig(id="fake", source="fake:delay_ms=300"), request_timeout_s=0.05
    ).test_client()
    assert error_of(post(client, input="x"), 504)["code"] == "timeout"


def test_poison_input_is_an_opaque_500_and_the_server_stays_ready(client):
    error = error_of(post(client, input=["fine", "poison"]), 500)
    assert "poison" not in error["message"] and "request id" in error["message"]
    assert post(client, input=["fine"]).status_code == 200
    assert client.get("/readyz").status_code == 200


def test_unexpected_preprocess_crash_is_opaque_500(client):
    response = post(client, input="crash")
    assert "RuntimeError" not in error_of(response, 500)["message"]


def test_model_that_cannot_embed_text_is_400_naming_those_that_can(make_app):
    app = make_app(ModelConfig(id="fake"), ModelConfig(id="other", source="fake"))
    pool = app.extensions["mmserve"].pool
    pool.runners["other"].model.capabilities = frozenset({"transcribe"})
    error = error_of(post(app.test_client(), input="x", model="other"), 400)
    assert error["code"] == "unsupported_capability"
    assert "models that can: fake" in error["message"]
