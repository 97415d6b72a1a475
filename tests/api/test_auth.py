"""API keys on a real app: 401 / 403 in the one error shape, revocation on the next request,
rotation, expiry, both headers, open health routes, /metrics for admin or its token."""

from __future__ import annotations

import time

from tests.auth_helpers import bearer, new_key

EMBED = {"input": "hello there", "model": "fake"}


def assert_error(response, status, code):
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert set(body) == {"error", "request_id"}
    assert body["error"]["code"] == code
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body["error"]


def test_no_key_is_401_with_a_challenge(make_auth_app):
    client = make_auth_app().test_client()
    response = client.post("/v1/embeddings", json=EMBED)
    error = assert_error(response, 401, "missing_credential")
    assert "Authorization: Bearer" in error["message"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_wrong_key_is_401_whatever_its_shape(make_auth_app):
    app = make_auth_app()
    good = new_key(app, "alice", "embed")
    client = app.test_client()
    for wrong in ("nonsense", good[:-1] + ("A" if good[-1] != "A" else "B"), "mms_" + "0" * 60):
        response = client.post("/v1/embeddings", json=EMBED, headers=bearer(wrong))
        assert_error(response, 401, "unauthorized")
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_bearer_and_x_api_key_both_work(make_auth_app):
    app = make_auth_app()
    key = new_key(app, "alice", "embed")
    client = app.test_client()
    assert client.post("/v1/embeddings", json=EMBED, headers=bearer(key)).status_code == 200
    assert client.post("/v1/embeddings", json=EMBED, headers={"X-API-Key": key}).status_code == 200


def test_a_key_without_the_scope_is_403_naming_it(make_auth_app):
    app = make_auth_app()
    key = new_key(app, "reader", "search:read")
    response = app.test_client().post("/v1/embeddings", json=EMBED, headers=bearer(key))
    error = assert_error(response, 403, "insufficient_scope")
    assert "'embed'" in error["message"] and error["param"] == "embed"


def test_admin_has_every_scope(make_auth_app):
    app = make_auth_app()
    key = new_key(app, "root", "admin")
    assert (
        app.test_client().post("/v1/embeddings", json=EMBED, headers=bearer(key)).status_code == 200
    )


def test_revocation_holds_from_the_next_request(make_auth_app):
    app = make_auth_app()
    key = new_key(app, "alice", "embed")
    client = app.test_client()
    assert client.post("/v1/embeddings", json=EMBED, headers=bearer(key)).status_code == 200
    app.extensions["mmserve"].security.keys.revoke("alice")
    assert_error(
        client.post("/v1/embeddings", json=EMBED, headers=bearer(key)), 401, "unauthorized"
    )


def test_rotation_retires_the_old_secret(make_auth_app):
    app = make_auth_app()
    old = new_key(app, "alice", "embed")
    _, new = app.extensions["mmserve"].security.keys.rotate("alice")
    client = app.test_client()
    assert client.post("/v1/embeddings", json=EMBED, headers=bearer(old)).status_code == 401
    assert client.post("/v1/embeddings", json=EMBED, headers=bearer(new)).status_code == 200


def test_an_expired_key_is_401(make_auth_app):
    app = make_auth_app()
    key = new_key(app, "old", "embed", expires_at=time.time() - 1)
    response = app.test_client().post("/v1/embeddings", json=EMBED, headers=bearer(key))
    assert_error(response, 401, "unauthorized")


def test_only_the_hash_is_stored(make_auth_app, tmp_path):
    app = make_auth_app()
    key = new_key(app, "alice", "embed")
    stored = b"".join(p.read_bytes() for p in (tmp_path / "data").glob("auth.sqlite3*"))
    assert key.encode() not in stored and key.split("_")[-1].encode() not in stored


def test_health_and_docs_stay_open(make_auth_app):
    client = make_auth_app().test_client()
    for path in ("/healthz", "/readyz", "/openapi.json", "/docs"):
        assert client.get(path).status_code == 200, path


def test_metrics_needs_admin_or_the_metrics_token(make_auth_app):
    token = "scrape-" + "x" * 20
    app = make_auth_app(metrics_token=token)
    client = app.test_client()
    embedder = new_key(app, "alice", "embed")
    admin = new_key(app, "root", "admin")
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=bearer(embedder)).status_code == 403
    assert client.get("/metrics", headers=bearer(admin)).status_code == 200
    assert client.get("/metrics", headers=bearer(token)).status_code == 200
    assert client.get("/metrics", headers=bearer(token + "y")).status_code == 401


def test_the_audit_log_says_who_did_what_without_secrets(make_auth_app, tmp_path):
    import json

    app = make_auth_app()
    key = new_key(app, "alice", "embed")
    client = app.test_client()
    client.post("/v1/embeddings", json=EMBED, headers=bearer(key))
    client.post("/v1/embeddings", json=EMBED)
    text = (tmp_path / "data" / "audit" / "audit.log").read_text()
    records = [json.loads(line) for line in text.splitlines()]
    assert [(r["who"], r["status"], r["route"]) for r in records] == [
        ("alice", 200, "/v1/embeddings"),
        (None, 401, "/v1/embeddings"),
    ]
    assert records[0]["model"] == "fake" and records[0]["request_id"]
    assert key not in text and "hello there" not in text


def test_cors_is_off_by_default_and_an_allow_list_when_set(make_auth_app, tmp_path):
    from mmserve.config import ModelConfig, replace
    from mmserve.security_config import CorsConfig
    from tests.auth_helpers import auth_config

    origin = {"Origin": "https://app.example"}
    plain = make_auth_app().test_client().get("/healthz", headers=origin)
    assert "Access-Control-Allow-Origin" not in plain.headers
    config = replace(
        auth_config(tmp_path / "cors", ModelConfig(id="fake")),
        cors=CorsConfig(origins=("https://app.example",)),
    )
    client = make_auth_app(config=config).test_client()
    allowed = client.get("/healthz", headers=origin)
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example"
    other = client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    preflight = client.options(
        "/v1/embeddings",
        headers={
            **origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization",
        },
    )
    assert preflight.status_code == 200  # a preflight carries no key and is not refused
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"].lower()
