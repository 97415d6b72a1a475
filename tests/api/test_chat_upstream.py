"""An `upstream:` chat model against a fake OpenAI-compatible server on loopback: the
conversation and the evidence are forwarded, the reply streams through, failures are
502/504 in the one error shape."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mmserve.config import ModelConfig
from tests.chat_media import ask
from tests.search_helpers import make_search_app  # noqa: F401 (a fixture)

PIECES = ["The ", "fake ", "upstream ", "answers."]


def stream_chat(handler: BaseHTTPRequestHandler, pieces: list[str], gap_s: float = 0.0) -> None:
    """Answer as an OpenAI-compatible upstream streams a chat reply: one SSE chunk a piece."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/event-stream")
    handler.end_headers()
    for piece in pieces:
        time.sleep(gap_s)
        chunk = {"choices": [{"index": 0, "delta": {"content": piece}}]}
        handler.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        handler.wfile.flush()
    handler.wfile.write(b"data: [DONE]\n\n")


class FakeUpstream(BaseHTTPRequestHandler):
    seen: list[dict] = []
    mode = "ok"  # or "fail", "slow"

    def do_POST(self):  # noqa: N802 (http.server's name)
        length = int(self.headers["Content-Length"])
        FakeUpstream.seen.append({"path": self.path, "body": json.loads(self.rfile.read(length))})
        if FakeUpstream.mode == "fail":
            self.send_response(500)
            self.end_headers()
            return
        if FakeUpstream.mode == "slow":
            time.sleep(1.0)
        stream_chat(self, PIECES)

    def log_message(self, *args):
        pass


@pytest.fixture
def upstream():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeUpstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeUpstream.seen, FakeUpstream.mode = [], "ok"
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


@pytest.fixture
def client(make_search_app, upstream):  # noqa: F811
    models = (
        ModelConfig(id="fake", max_wait_ms=1),
        ModelConfig(id="llm", source=f"upstream:{upstream}#tiny-llm,timeout_s=0.5"),
    )
    app = make_search_app(*models)
    client = app.test_client()
    client.post("/v1/collections", json={"name": "notes", "model": "fake"})
    items = [{"id": "n1", "content": "short", "metadata": {"title": "short note"}}]
    assert client.post("/v1/collections/notes/items", json={"items": items}).status_code == 200
    return client


def test_the_conversation_and_evidence_are_forwarded_and_the_reply_comes_back(client):
    messages = [{"role": "system", "content": "Be brief."}, *ask("Which note is short?")]
    response = client.post(
        "/v1/chat/completions",
        json={"model": "llm", "messages": messages, "collection": "notes", "stop": ["zzz"]},
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["model"] == "llm"
    assert body["choices"][0]["message"]["content"] == "".join(PIECES)
    (sent,) = FakeUpstream.seen
    assert sent["path"] == "/v1/chat/completions"
    assert sent["body"]["model"] == "tiny-llm" and sent["body"]["stream"] is True
    assert sent["body"]["stop"] == ["zzz"]
    evidence, system, user = sent["body"]["messages"]
    assert evidence["role"] == "system"
    assert "[E1] collection notes item n1 item: short note" in evidence["content"]
    assert system == {"role": "system", "content": "Be brief."}
    assert user == {"role": "user", "content": "Which note is short?"}


def test_the_reply_streams_through_piece_by_piece(client):
    response = client.post(
        "/v1/chat/completions",
        json={"model": "llm", "messages": ask("Hi"), "stream": True},
    )
    events = [e[len("data: ") :] for e in response.get_data(as_text=True).split("\n\n") if e]
    deltas = [json.loads(e)["choices"][0]["delta"].get("content") for e in events[1:-2]]
    assert deltas == PIECES and events[-1] == "[DONE]"


@pytest.mark.parametrize(
    ("mode", "stream", "status", "code"),
    [
        ("fail", False, 502, "upstream_failed"),
        ("fail", True, 502, "upstream_failed"),
        ("slow", False, 504, "timeout"),
        ("slow", True, 504, "timeout"),
    ],
)
def test_upstream_failures_are_502_and_504(client, mode, stream, status, code):
    FakeUpstream.mode = mode
    response = client.post(
        "/v1/chat/completions", json={"model": "llm", "messages": ask("Hi"), "stream": stream}
    )
    assert response.status_code == status
    error = response.get_json()["error"]
    assert error["code"] == code and "tiny-llm" in error["message"]
    assert "127.0.0.1" not in error["message"]


def test_an_unreachable_upstream_is_502(make_search_app):  # noqa: F811
    dead = ModelConfig(id="llm", source="upstream:http://127.0.0.1:9/v1#gone")
    app = make_search_app(ModelConfig(id="fake", max_wait_ms=1), dead)
    response = app.test_client().post(
        "/v1/chat/completions", json={"model": "llm", "messages": ask("Hi")}
    )
    assert response.status_code == 502
    assert "could not be reached" in response.get_json()["error"]["message"]


def test_a_request_cannot_name_an_upstream_url(client):
    response = client.post(
        "/v1/chat/completions",
        json={"model": "upstream:http://127.0.0.1:1/v1#x", "messages": ask("Hi")},
    )
    assert response.status_code == 404
