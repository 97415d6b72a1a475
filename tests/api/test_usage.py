"""Usage counted from what the server processed, per key, across a restart; rate limits and
quotas over HTTP; GET /v1/usage; Prometheus counters by key name; auth off counts per address."""

from __future__ import annotations

import pytest

from mmserve.app import create_app
from mmserve.config import ModelConfig
from tests import search_helpers  # noqa: F401  (registers test-multimodal)
from tests.auth_helpers import auth_config, bearer, new_key, stop
from tests.unit.services.test_content import PNG_B64, WAV_B64

MODELS = (ModelConfig(id="fake", max_wait_ms=1), ModelConfig(id="mm", source="test-multimodal"))
PNG_MEGAPIXELS = 20 * 10 / 1e6
WAV_SECONDS = 8000 / 16000


def send_some(client, key):
    texts = ["one two three", "four"]  # fake counts words + 2: 5 + 3 tokens
    ok = client.post("/v1/embeddings", json={"input": texts, "model": "fake"}, headers=bearer(key))
    assert ok.status_code == 200 and ok.get_json()["usage"]["prompt_tokens"] == 8
    media = [{"type": "image", "image": PNG_B64}, {"type": "audio", "audio": WAV_B64}]
    response = client.post(
        "/v1/embeddings", json={"input": media, "model": "mm"}, headers=bearer(key)
    )
    assert response.status_code == 200, response.get_json()


def test_usage_equals_what_was_sent_across_a_restart(tmp_path):
    config = auth_config(tmp_path, *MODELS)
    first = create_app(config, wait_for_models=True)
    key = new_key(first, "alice", "embed")
    send_some(first.test_client(), key)
    send_some(first.test_client(), key)
    stop(first)  # flushes pending counts

    second = create_app(config, wait_for_models=True)
    try:
        usage = second.test_client().get("/v1/usage", headers=bearer(key)).get_json()
    finally:
        stop(second)
    assert usage["key"] == "alice" and usage["period"] == "day"
    counted = usage["usage"]
    assert counted["requests"] == 4
    assert counted["text_tokens"] == 16
    assert counted["image_megapixels"] == pytest.approx(2 * PNG_MEGAPIXELS)
    assert counted["audio_seconds"] == pytest.approx(2 * WAV_SECONDS)


def test_usage_of_another_key_needs_admin(make_auth_app):
    app = make_auth_app()
    alice = new_key(app, "alice", "embed")
    admin = new_key(app, "root", "admin")
    client = app.test_client()
    client.post("/v1/embeddings", json={"input": "a b", "model": "fake"}, headers=bearer(alice))
    assert client.get("/v1/usage?key=root", headers=bearer(alice)).status_code == 403
    seen = client.get("/v1/usage?key=alice&period=month", headers=bearer(admin)).get_json()
    assert seen["usage"]["text_tokens"] == 4 and seen["period"] == "month"
    assert client.get("/v1/usage?period=year", headers=bearer(alice)).status_code == 400


def test_prometheus_counts_by_key_name_never_the_secret(make_auth_app):
    app = make_auth_app()
    alice = new_key(app, "alice", "embed")
    admin = new_key(app, "root", "admin")
    client = app.test_client()
    client.post("/v1/embeddings", json={"input": "a b c", "model": "fake"}, headers=bearer(alice))
    text = client.get("/metrics", headers=bearer(admin)).get_data(as_text=True)
    assert 'mmserve_usage_total{key="alice",unit="text_tokens"} 5.0' in text
    assert alice not in text and admin not in text


def test_rate_limit_429_with_retry_after_and_ratelimit_headers(make_auth_app):
    app = make_auth_app()
    key = new_key(app, "alice", "embed", rate_per_s=1.0, burst=2)
    clock = [1000.0]
    app.extensions["mmserve"].security.limiter.clock = lambda: clock[0]
    client = app.test_client()
    body = {"input": "hi", "model": "fake"}
    first = client.post("/v1/embeddings", json=body, headers=bearer(key))
    assert first.status_code == 200
    assert (first.headers["x-ratelimit-limit"], first.headers["x-ratelimit-remaining"]) == (
        "2",
        "1",
    )
    assert client.post("/v1/embeddings", json=body, headers=bearer(key)).status_code == 200
    refused = client.post("/v1/embeddings", json=body, headers=bearer(key))
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "rate_limited"
    assert refused.headers["Retry-After"] == "1"
    assert refused.headers["x-ratelimit-remaining"] == "0"
    clock[0] += 1.0
    assert client.post("/v1/embeddings", json=body, headers=bearer(key)).status_code == 200


def test_quota_exceeded_names_the_unit_and_reset(make_auth_app):
    app = make_auth_app()
    key = new_key(app, "alice", "embed", "search:read", quotas={"text_tokens": 6})
    client = app.test_client()
    body = {"input": "one two three four", "model": "fake"}  # 6 tokens
    assert client.post("/v1/embeddings", json=body, headers=bearer(key)).status_code == 200
    refused = client.post("/v1/embeddings", json=body, headers=bearer(key))
    assert refused.status_code == 429
    error = refused.get_json()["error"]
    assert error["code"] == "quota_exceeded" and error["param"] == "text_tokens"
    assert "resets at" in error["message"] and int(refused.headers["Retry-After"]) > 0
    usage = client.get("/v1/usage", headers=bearer(key)).get_json()
    assert usage["quota"] == {"text_tokens": 6.0} and usage["usage"]["text_tokens"] == 6


def test_with_auth_off_usage_is_counted_per_client_address(client):
    client.post("/v1/embeddings", json={"input": "a b c", "model": "fake"})
    usage = client.get("/v1/usage").get_json()
    assert usage["key"] == "addr:127.0.0.1"
    assert usage["usage"] == {"requests": 1, "text_tokens": 5}
