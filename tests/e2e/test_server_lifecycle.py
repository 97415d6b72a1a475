"""What the HTTP server (granian) owes the app, checked on a real `mmserve serve`: SIGTERM
closes the app (a running job is left "interrupted" by the app's close, not found dead),
granian's log lines go to stderr in our format with no access log, a streamed chat answer
reaches the client piece by piece, not buffered to the end, and a worker process that dies
is replaced."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from tests.api.test_chat_upstream import stream_chat
from tests.chat_media import ask
from tests.e2e.test_batch_restart import children
from tests.e2e.test_search_durability import index_job_under_way
from tests.e2e.test_serve import mmserve_command, running_server, wait_until_ready

pytestmark = pytest.mark.e2e

PIECES = ["one ", "two ", "three ", "four"]
PIECE_GAP_S = 0.5  # the fake upstream's pause before each piece


def stop(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)  # the master only: it stops its worker
    return process.wait(timeout=60)


def test_sigterm_closes_the_app_and_granian_logs_to_stderr(tmp_path):
    notes = tmp_path / "media" / "notes"
    notes.mkdir(parents=True)
    for i in range(2000):  # ~60 forward passes of 30 ms: still running at the SIGTERM
        (notes / f"{i:04}.txt").write_text(f"note {i}")
    env = {"MMSERVE_MEDIA_MEDIA_ROOT": str(tmp_path / "media")}
    with running_server(tmp_path, "--models", "fake=fake:delay_ms=30", env=env) as started:
        base, _, err = started
        job = index_job_under_way(base, "notes", err.read_text)
    # running_server stopped it with SIGTERM and checked that it exited cleanly.
    # Read before any store opens it (opening marks the jobs of dead processes
    # "interrupted" too): only the app's close, stopping the runner, leaves it so here.
    with sqlite3.connect(tmp_path / "data" / "search" / "store.sqlite3") as db:
        (state,) = db.execute("SELECT state FROM jobs WHERE id = ?", (job["id"],)).fetchone()
    assert state == "interrupted"
    logged = err.read_text()
    assert "INFO _granian" in logged and "Starting granian" in logged  # our format
    assert "/v1/jobs" not in logged  # no access log
    assert (tmp_path / "stdout.log").read_text() == ""


class SlowUpstream(BaseHTTPRequestHandler):
    """An OpenAI-compatible chat server that streams PIECES with a pause before each."""

    protocol_version = "HTTP/1.0"  # the answer ends when the connection closes

    def do_POST(self):  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers["Content-Length"]))
        stream_chat(self, PIECES, PIECE_GAP_S)

    def log_message(self, *args):
        pass


@contextmanager
def slow_upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowUpstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_a_streamed_chat_answer_arrives_piece_by_piece(tmp_path):
    with slow_upstream() as upstream:
        models = f"fake,llm=upstream:{upstream}#tiny-llm"
        with running_server(tmp_path, "--models", models) as (base, _, _):
            arrivals: list[tuple[float, str]] = []
            with requests.post(
                f"{base}/v1/chat/completions",
                json={"model": "llm", "messages": ask("Count"), "stream": True},
                stream=True,
                timeout=30,
            ) as response:
                assert response.status_code == 200, response.text
                for line in response.iter_lines():
                    if line.startswith(b"data: {"):
                        delta = json.loads(line[6:])["choices"][0]["delta"]
                        if delta.get("content"):
                            arrivals.append((time.monotonic(), delta["content"]))
    assert [piece for _, piece in arrivals] == PIECES
    # Buffered, they would all arrive at once at the end; streamed, PIECE_GAP_S apart.
    spread = arrivals[-1][0] - arrivals[0][0]
    assert spread >= (len(PIECES) - 1) * PIECE_GAP_S * 0.8, arrivals


def test_a_worker_that_dies_is_replaced(tmp_path):
    with running_server(tmp_path, "--models", "fake") as (base, process, err):
        (worker,) = children(process.pid)  # one worker process
        os.kill(worker, signal.SIGKILL)  # as the kernel's out-of-memory killer would
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, err.read_text()
            found = children(process.pid)
            if found and found != [worker]:
                break
            assert time.monotonic() < deadline, err.read_text()
            time.sleep(0.2)
        wait_until_ready(base, process, err)
        answer = requests.post(
            f"{base}/v1/embeddings", json={"input": "hi", "model": "fake"}, timeout=10
        )
        assert answer.status_code == 200


def test_port_0_serves_on_the_free_port_it_names(tmp_path):
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("MMSERVE_")}
    command = [*mmserve_command(), "serve", "--port", "0", "--models", "fake"]
    err = tmp_path / "stderr.log"
    with err.open("w") as stderr:
        process = subprocess.Popen(
            [*command, "--data-dir", str(tmp_path / "data")], stderr=stderr, env=inherited
        )
    try:
        deadline = time.monotonic() + 30
        while not (found := re.search(r"serving models fake on (http://\S+)", err.read_text())):
            assert process.poll() is None and time.monotonic() < deadline, err.read_text()
            time.sleep(0.1)
        base = found.group(1)
        assert not base.endswith(":0")
        wait_until_ready(base, process, err)
    finally:
        assert stop(process) == 0, err.read_text()
