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
from tests.auth_helpers import bearer, make_auth_app, new_key  # noqa: F401
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
    assert "/v1/chat/completions" in endpoints
    with pytest.raises(openai.BadRequestError) as caught:
        client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/completions", completion_window="24h"
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


def key_client(app, key):
    transport = httpx2.WSGITransport(app=app)
    http = httpx2.Client(transport=transport, base_url="http://mmserve.test")
    return openai.OpenAI(
        base_url="http://mmserve.test/v1", api_key=key, http_client=http, max_retries=0
    )


def start_batch(client, count):
    lines = [embedding_line(f"r{i}", f"text number {i}") for i in range(count)]
    uploaded = client.files.create(file=("in.jsonl", jsonl(*lines)), purpose="batch")
    return client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/embeddings", completion_window="24h"
    )


def test_with_auth_on_a_batch_runs_as_the_key_that_created_it(make_auth_app):  # noqa: F811
    app = make_auth_app()
    client = key_client(app, new_key(app, "t", "train", "embed"))
    batch = wait_for_batch(client, start_batch(client, 3).id)
    assert batch.status == "completed" and batch.request_counts.completed == 3
    assert batch.error_file_id is None
    results = read_lines(client, batch.output_file_id)
    assert sorted(r["custom_id"] for r in results) == ["r0", "r1", "r2"]
    assert all(len(r["response"]["body"]["data"][0]["embedding"]) > 0 for r in results)
    job = app.extensions["mmserve"].store.jobs.get(batch.id.removeprefix("batch_"))
    key = app.extensions["mmserve"].security.keys.get("t")
    assert job.params["owner"] == {"kind": "key", "key_id": key.id}  # the id, not the secret


def test_with_auth_on_lines_need_the_creators_scope(make_auth_app):  # noqa: F811
    app = make_auth_app()
    client = key_client(app, new_key(app, "t", "train"))  # may batch, may not embed
    batch = wait_for_batch(client, start_batch(client, 3).id)
    assert batch.request_counts.failed == 3 and batch.output_file_id is None
    errors = read_lines(client, batch.error_file_id)
    assert {e["response"]["status_code"] for e in errors} == {403}
    assert all("embed" in e["response"]["body"]["error"]["message"] for e in errors)


def test_revoking_the_creators_key_stops_later_lines(make_auth_app):  # noqa: F811
    app = make_auth_app()
    client = key_client(app, new_key(app, "t", "train", "embed"))
    gate = app.extensions["mmserve"].jobs.dispatch.gate
    gate.max_yield_s = 0.2
    gate.begin()  # a client "in flight": lines go one per 0.2 s
    try:
        batch = start_batch(client, 10)
        deadline = time.monotonic() + 20
        while client.batches.retrieve(batch.id).request_counts.completed < 1:
            assert time.monotonic() < deadline, "no line ran"
            time.sleep(0.01)
        app.extensions["mmserve"].security.keys.revoke("t")
    finally:
        gate.end()
    admin = key_client(app, new_key(app, "root", "admin"))
    batch = wait_for_batch(admin, batch.id)
    counts = batch.request_counts
    assert counts.completed >= 1 and counts.failed >= 1
    assert counts.completed + counts.failed == 10
    errors = read_lines(admin, batch.error_file_id)
    assert {e["response"]["status_code"] for e in errors} == {401}


def test_batch_lines_count_against_the_creators_usage_and_quota(make_auth_app):  # noqa: F811
    app = make_auth_app()
    client = key_client(app, new_key(app, "t", "train", "embed"))
    batch = wait_for_batch(client, start_batch(client, 4).id)
    sent = sum(
        r["response"]["body"]["usage"]["prompt_tokens"]
        for r in read_lines(client, batch.output_file_id)
    )
    usage = client.get("/usage", cast_to=httpx2.Response).json()["usage"]
    assert sent > 0 and usage["text_tokens"] == sent
    # A key whose quota is used up gets its later lines refused: a batch cannot exceed it.
    capped = key_client(app, new_key(app, "c", "train", "embed", quotas={"text_tokens": 1}))
    batch = wait_for_batch(capped, start_batch(capped, 10).id)
    assert batch.request_counts.failed >= 1
    errors = read_lines(capped, batch.error_file_id)
    assert {e["response"]["body"]["error"]["code"] for e in errors} == {"quota_exceeded"}


def test_a_line_with_no_recorded_creator_never_runs_unauthenticated(make_auth_app):  # noqa: F811
    """A batch job without an owner (made with auth off, then served with auth on) gets 401
    on every line; and no client can make one by posting a "batch" job by hand."""
    app = make_auth_app()
    client = key_client(app, new_key(app, "t", "train", "embed"))
    forged_job = {"type": "batch", "params": {"input_file_id": "f", "endpoint": "/v1/embeddings"}}
    with pytest.raises(openai.BadRequestError, match="/v1/batches"):
        client.post("/jobs", body=forged_job, cast_to=httpx2.Response)
    dispatch = app.extensions["mmserve"].jobs.dispatch
    status, body, _ = dispatch("POST", "/v1/embeddings", embedding_line("a", "x")["body"])
    assert status == 401 and body["error"]["code"] == "missing_credential"
    forged = {"kind": "key", "key_id": "000000000000"}
    status, _, _ = dispatch("POST", "/v1/embeddings", embedding_line("a", "x")["body"], forged)
    assert status == 401


def test_with_auth_on_a_caller_sees_only_its_own_batches(make_auth_app):  # noqa: F811
    app = make_auth_app()
    alice_key, bob_key = (new_key(app, name, "train", "embed") for name in ("alice", "bob"))
    admin_key = new_key(app, "root", "admin")
    alice, bob, admin = (key_client(app, k) for k in (alice_key, bob_key, admin_key))
    mine = start_batch(alice, 1)
    assert [b.id for b in bob.batches.list()] == []
    with pytest.raises(openai.NotFoundError):
        bob.batches.retrieve(mine.id)
    with pytest.raises(openai.NotFoundError):
        bob.batches.cancel(mine.id)
    assert [b.id for b in alice.batches.list()] == [mine.id]
    assert [b.id for b in admin.batches.list()] == [mine.id]
    assert wait_for_batch(alice, mine.id).status == "completed"
    # Nor through /v1/jobs, where the batch is a job of type "batch"
    job_id = mine.id.removeprefix("batch_")
    http = app.test_client()
    for who, sees in ((bob_key, False), (alice_key, True), (admin_key, True)):
        listed = http.get("/v1/jobs", headers=bearer(who)).get_json()["data"]
        assert ([j["id"] for j in listed] == [job_id]) is sees
        assert http.get(f"/v1/jobs/{job_id}", headers=bearer(who)).status_code == (
            200 if sees else 404
        )
    assert http.delete(f"/v1/jobs/{job_id}", headers=bearer(bob_key)).status_code == 404


def test_batch_lines_do_not_drain_the_creators_rate_bucket(make_auth_app):  # noqa: F811
    app = make_auth_app()
    # Two tokens, refilled once in ~3 hours: enough to upload and create, not for a line more.
    client = key_client(app, new_key(app, "t", "train", "embed", rate_per_s=1e-4, burst=2))
    batch = start_batch(client, 5)
    with pytest.raises(openai.RateLimitError):
        client.batches.retrieve(batch.id)  # the bucket is empty for the key's own calls
    admin = key_client(app, new_key(app, "root", "admin"))
    batch = wait_for_batch(admin, batch.id)
    assert batch.status == "completed" and batch.request_counts.completed == 5
