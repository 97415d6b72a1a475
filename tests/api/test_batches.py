"""/v1/files and /v1/batches, driven by the official openai client over WSGI (in-process)."""

from __future__ import annotations

import io
import json
import threading
import time

import httpx2
import openai
import pytest

from mmserve.api.low_priority import InteractiveGate
from mmserve.config import ModelConfig
from tests.auth_helpers import make_auth_app, new_key  # noqa: F401
from tests.search_helpers import make_search_app  # noqa: F401

SLOW = ModelConfig(id="fake", source="fake:delay_ms=30", max_wait_ms=0)
DONE = ("completed", "failed", "cancelled")


def openai_client(app):
    transport = httpx2.WSGITransport(app=app)
    http = httpx2.Client(transport=transport, base_url="http://mmserve.test")
    return openai.OpenAI(
        base_url="http://mmserve.test/v1", api_key="unused", http_client=http, max_retries=0
    )


def jsonl(*lines):
    return "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines).encode() + b"\n"


def embedding_line(custom_id, text, url="/v1/embeddings"):
    body = {"model": "fake", "input": text, "encoding_format": "float"}
    return {"custom_id": custom_id, "method": "POST", "url": url, "body": body}


def wait_for_batch(client, batch_id, states=DONE, timeout_s=30):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        batch = client.batches.retrieve(batch_id)
        if batch.status in states:
            return batch
        time.sleep(0.02)
    raise AssertionError(f"batch {batch_id} never reached {states}: {batch}")


def read_lines(client, file_id):
    return [json.loads(x) for x in client.files.content(file_id).text.splitlines()]


def test_openai_client_runs_a_batch_and_bad_lines_fail_alone(make_search_app):  # noqa: F811
    client = openai_client(make_search_app())
    content = jsonl(
        embedding_line("a", "one"),
        "{not json",
        {"method": "POST", "url": "/v1/embeddings", "body": {"input": "x"}},  # no custom_id
        embedding_line("wrong-url", "two", url="/v1/classifications"),
        {
            "custom_id": "rejected",
            "method": "POST",
            "url": "/v1/embeddings",
            "body": {"model": "fake", "input": 5},
        },  # the route answers 422
        "",
        embedding_line("b", "three words here"),
    )
    uploaded = client.files.create(file=("in.jsonl", io.BytesIO(content)), purpose="batch")
    assert uploaded.purpose == "batch" and uploaded.bytes == len(content)
    batch = client.batches.create(
        input_file_id=uploaded.id,
        endpoint="/v1/embeddings",
        completion_window="24h",
        metadata={"owner": "test"},
    )
    assert batch.status in ("validating", "in_progress", "completed")
    done = wait_for_batch(client, batch.id)
    assert done.status == "completed", done
    assert done.metadata == {"owner": "test"}
    assert (done.request_counts.total, done.request_counts.completed) == (6, 2)
    assert done.request_counts.failed == 4

    # In any order, as with OpenAI: results are matched by custom_id.
    output = sorted(read_lines(client, done.output_file_id), key=lambda line: line["custom_id"])
    assert [line["custom_id"] for line in output] == ["a", "b"]
    first = output[0]["response"]
    assert first["status_code"] == 200 and first["request_id"]
    # The fake model's vector is filled with the text's length, normalised: all equal.
    vector = first["body"]["data"][0]["embedding"]
    assert len(vector) == 8 and len(set(vector)) == 1

    errors = {line["id"].rsplit("_", 1)[1]: line for line in read_lines(client, done.error_file_id)}
    assert errors["2"]["error"]["code"] == "invalid_json_line" and errors["2"]["custom_id"] is None
    assert errors["3"]["error"]["code"] == "missing_custom_id"
    assert errors["4"]["custom_id"] == "wrong-url"
    assert errors["4"]["error"]["code"] == "mismatched_url"
    rejected = errors["5"]
    assert rejected["custom_id"] == "rejected" and rejected["error"] is None
    assert rejected["response"]["status_code"] == 422
    assert rejected["response"]["body"]["error"]["param"] == "input"

    listed = client.batches.list(limit=5)
    assert [b.id for b in listed.data] == [batch.id]
    outputs = client.files.list(purpose="batch_output")
    assert {f.id for f in outputs.data} == {done.output_file_id, done.error_file_id}


def test_cancel_keeps_the_lines_already_done(make_search_app):  # noqa: F811
    client = openai_client(make_search_app(SLOW))
    lines = [embedding_line(f"r{i}", f"text {i}") for i in range(200)]
    uploaded = client.files.create(file=("in.jsonl", io.BytesIO(jsonl(*lines))), purpose="batch")
    batch = client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/embeddings", completion_window="24h"
    )
    wait_for_batch(client, batch.id, states=("in_progress",))
    while client.batches.retrieve(batch.id).request_counts.completed < 3:
        time.sleep(0.02)
    cancelling = client.batches.cancel(batch.id)
    assert cancelling.status in ("cancelling", "cancelled")
    cancelled = wait_for_batch(client, batch.id)
    assert cancelled.status == "cancelled"
    ids = [line["custom_id"] for line in read_lines(client, cancelled.output_file_id)]
    assert 3 <= len(ids) < 200
    # Lines are sent in order, a few at once, and every line sent is kept: a prefix, once each.
    assert sorted(ids, key=lambda x: int(x[1:])) == [f"r{i}" for i in range(len(ids))]


def test_files_limits_and_errors(make_search_app):  # noqa: F811
    app = make_search_app(max_file_bytes=2048)
    client = openai_client(app)
    with pytest.raises(openai.APIStatusError) as too_big:
        client.files.create(file=("big.jsonl", io.BytesIO(b"x" * 300_000)), purpose="batch")
    assert too_big.value.status_code == 413
    assert "max_file_bytes" in too_big.value.body["message"]
    http = app.test_client()
    # Past max_body_bytes would be refused elsewhere; here only max_file_bytes counts.
    response = http.post(
        "/v1/files", data={"purpose": "fine-tune", "file": (io.BytesIO(b"{}"), "a")}
    )
    assert response.status_code == 400 and response.get_json()["error"]["param"] == "purpose"
    response = http.post("/v1/files", data={"purpose": "batch"})
    assert response.status_code == 400 and response.get_json()["error"]["param"] == "file"
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve("file-nope")
    assert http.get("/v1/files/..%2F..%2Fetc/content").status_code == 404

    uploaded = client.files.create(file=("in.jsonl", io.BytesIO(b"{}\n")), purpose="batch")
    assert client.files.retrieve(uploaded.id).filename == "in.jsonl"
    assert client.files.delete(uploaded.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.files.content(uploaded.id)


def test_batch_creation_is_checked(make_search_app):  # noqa: F811
    app = make_search_app()
    client = openai_client(app)
    uploaded = client.files.create(file=("in.jsonl", io.BytesIO(b"{}\n")), purpose="batch")
    endpoints = app.test_client().get("/v1/batches/endpoints").get_json()["data"]
    assert "/v1/embeddings" in endpoints
    assert "/v1/chat/completions" not in endpoints  # no chat route in this server
    with pytest.raises(openai.BadRequestError) as caught:
        client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
    assert caught.value.body["param"] == "endpoint" and "/v1/embeddings" in caught.value.message
    with pytest.raises(openai.BadRequestError) as window:
        client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/embeddings", completion_window="1h"
        )
    assert window.value.body["param"] == "completion_window"
    with pytest.raises(openai.NotFoundError):
        client.batches.create(
            input_file_id="file-missing", endpoint="/v1/embeddings", completion_window="24h"
        )
    with pytest.raises(openai.NotFoundError):
        client.batches.retrieve("batch_nope")


def test_under_unbroken_load_one_waiter_per_max_yield_goes():
    gate = InteractiveGate(grace_s=0.01, max_yield_s=0.2)
    gate.begin()  # a client request that never ends
    went = []
    waiters = [
        threading.Thread(target=lambda: went.append((gate.wait_for_idle(), time.monotonic())))
        for _ in range(3)
    ]
    for waiter in waiters:
        waiter.start()
    for waiter in waiters:
        waiter.join(5)
    times = sorted(at for _, at in went)
    assert len(times) == 3
    assert all(b - a >= 0.18 for a, b in zip(times, times[1:], strict=False)), times


def test_gate_waits_for_clients_then_for_a_grace():
    gate = InteractiveGate(grace_s=0.05, max_yield_s=0.3)
    assert not gate.busy()
    gate.begin()
    started = time.monotonic()
    assert gate.wait_for_idle() >= 0.3  # never idle: goes after max_yield_s
    gate.end()
    assert gate.busy()  # within the grace
    waited = gate.wait_for_idle()
    assert 0.02 < waited < 0.3 and time.monotonic() - started < 1


def test_with_auth_on_batch_lines_do_not_bypass_it(make_auth_app):  # noqa: F811
    """Known gap, pinned: lines run without the creator's credential, so auth refuses them
    (they must never run unauthenticated); the batch itself needs the train scope."""
    app = make_auth_app()
    transport = httpx2.WSGITransport(app=app)
    http = httpx2.Client(transport=transport, base_url="http://mmserve.test")
    embed_only = openai.OpenAI(
        base_url="http://mmserve.test/v1",
        api_key=new_key(app, "e", "embed"),
        http_client=http,
        max_retries=0,
    )
    with pytest.raises(openai.PermissionDeniedError):
        embed_only.files.create(file=("in.jsonl", jsonl(embedding_line("a", "x"))), purpose="batch")
    client = openai.OpenAI(
        base_url="http://mmserve.test/v1",
        api_key=new_key(app, "t", "train", "embed"),
        http_client=http,
        max_retries=0,
    )
    uploaded = client.files.create(
        file=("in.jsonl", jsonl(embedding_line("a", "x"))), purpose="batch"
    )
    batch = client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/embeddings", completion_window="24h"
    )
    batch = wait_for_batch(client, batch.id)
    assert batch.request_counts.failed == 1 and batch.output_file_id is None
    [line] = read_lines(client, batch.error_file_id)
    assert line["custom_id"] == "a" and line["response"]["status_code"] == 401
