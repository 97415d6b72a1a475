import logging

import pytest
from flask import Flask, g

from mmserve import errors


@pytest.fixture
def client():
    app = Flask("errors-test")
    errors.init_app(app)

    @app.before_request
    def set_request_id():
        g.request_id = "req-1"

    raising = {
        "invalid": errors.InvalidRequest("bad value", param="input"),
        "schema": errors.SchemaError("input: wrong type", param="input"),
        "missing": errors.NotFound("no such model", param="model", code="model_not_found"),
        "large": errors.PayloadTooLarge("too big; the limit is 10"),
        "busy": errors.Overloaded("queue full", retry_after_s=2),
        "loading": errors.ModelNotReady("still loading"),
        "slow": errors.DeadlineExceeded("took too long"),
        "model": errors.ModelFailed("secret internals"),
        "bug": KeyError("secret internals"),
    }

    @app.route("/raise/<name>", methods=["GET"])
    def raise_it(name):
        raise raising[name]

    return app.test_client()


@pytest.mark.parametrize(
    ("name", "status", "code", "param"),
    [
        ("invalid", 400, "invalid_request", "input"),
        ("schema", 422, "invalid_type", "input"),
        ("missing", 404, "model_not_found", "model"),
        ("large", 413, "payload_too_large", None),
        ("busy", 429, "overloaded", None),
        ("loading", 503, "model_not_ready", None),
        ("slow", 504, "timeout", None),
    ],
)
def test_client_errors_keep_their_message(client, name, status, code, param):
    response = client.get(f"/raise/{name}")
    assert response.status_code == status
    body = response.get_json()
    assert body["error"]["code"] == code
    assert body["error"]["param"] == param
    assert body["error"]["message"]
    assert body["request_id"] == "req-1"


def test_overload_says_when_to_retry(client):
    assert client.get("/raise/busy").headers["Retry-After"] == "2"


@pytest.mark.parametrize("name", ["model", "bug"])
def test_unknown_errors_are_opaque_and_logged(client, caplog, name):
    with caplog.at_level(logging.ERROR, logger="mmserve.errors"):
        response = client.get(f"/raise/{name}")
    assert response.status_code == 500
    body = response.get_json()
    assert "secret" not in response.get_data(as_text=True)
    assert "req-1" in body["error"]["message"]
    assert body["error"]["type"] == "server_error"
    assert "secret internals" in caplog.text  # the traceback goes to the log
    assert "Traceback" in caplog.text


def test_werkzeug_errors_get_the_same_shape(client):
    response = client.post("/raise/bug")
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
