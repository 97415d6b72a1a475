"""`mmserve serve` in a subprocess, called with the official openai client."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import openai
import pytest
import requests

from mmserve.models.registry import create_model

pytestmark = [pytest.mark.e2e, pytest.mark.real_weights]

START_TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mmserve_command() -> list[str]:
    script = Path(sys.executable).with_name("mmserve")
    return [str(script)] if script.exists() else [shutil.which("mmserve") or "mmserve"]


@contextmanager
def running_server(
    folder: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen, Path]]:
    """`mmserve serve ARGS` on a free port, its data dir and log in `folder`: yields (base
    URL, process, log path) once ready; stops it with SIGTERM and checks it exited cleanly."""
    with launched_server(folder, *args, env=env) as (base, process, log_path):
        wait_until_ready(base, process, log_path)
        yield base, process, log_path


@contextmanager
def launched_server(
    folder: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen, Path]]:
    """As running_server, but yields as soon as the process started (not ready yet). `env`
    is added to this process' environment, less its MMSERVE_* variables. The log is the
    server's stderr; its stdout goes to `folder`/stdout.log (it should stay empty)."""
    port = free_port()
    log_path = folder / "server.log"
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("MMSERVE_")}
    data_dir = str(folder / "data")
    command = [*mmserve_command(), "serve", "--port", str(port), "--data-dir", data_dir, *args]
    with log_path.open("w") as log, (folder / "stdout.log").open("w") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=log, env={**inherited, **(env or {})}
        )
    base = f"http://127.0.0.1:{port}"
    try:
        yield base, process, log_path
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert process.returncode == 0, log_path.read_text()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("serve"), "--models", "minilm,fake") as started:
        base, _, log_path = started
        yield base, log_path


def wait_until_ready(
    base: str, process: subprocess.Popen, log_path: Path, timeout_s: float = START_TIMEOUT_S
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited early:\n{log_path.read_text()}")
        try:
            if requests.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            # Not listening yet, or too busy loading models to answer within the second.
            pass
        time.sleep(0.2)
    pytest.fail(f"server not ready in {timeout_s:g} s:\n{log_path.read_text()}")


@pytest.fixture(scope="module")
def client(server):
    base, _ = server
    return openai.OpenAI(base_url=f"{base}/v1", api_key="not-needed", max_retries=0)


@pytest.fixture(scope="module")
def reference():
    model = create_model("minilm", "minilm")
    model.load()
    return lambda texts: model.forward([model.preprocess(t) for t in texts])


TEXTS = ["a dog runs on the beach", "the invoice is overdue", "sunset over the mountains"]


def test_openai_client_embeds_with_its_default_base64(client, reference):
    result = client.embeddings.create(model="minilm", input=TEXTS)
    got = np.array([d.embedding for d in result.data])
    assert got.shape == (3, 384)
    np.testing.assert_allclose(got, reference(TEXTS), atol=1e-5)
    assert result.usage.prompt_tokens > len(TEXTS)


def test_openai_client_float_format(client, reference):
    result = client.embeddings.create(model="minilm", input="hello", encoding_format="float")
    np.testing.assert_allclose(result.data[0].embedding, reference(["hello"])[0], atol=1e-5)


def test_openai_client_lists_models(client):
    ids = [m.id for m in client.models.list()]
    # the served models, then `grounded` (the chat model every server serves)
    assert ids == ["minilm", "fake", "grounded"]
    assert client.models.retrieve("minilm").id == "minilm"


def test_openai_client_sees_our_errors(client):
    with pytest.raises(openai.NotFoundError) as caught:
        client.embeddings.create(model="nope", input="x")
    assert "minilm" in caught.value.body["message"]
    with pytest.raises(openai.APIStatusError) as too_long:
        client.embeddings.create(model="minilm", input="word " * 400)
    assert too_long.value.status_code == 413


def test_concurrent_requests_each_get_their_own_vector(client, reference):
    texts = [f"sentence number {i} about topic {i % 7}" for i in range(48)]
    with ThreadPoolExecutor(16) as pool:
        results = list(
            pool.map(
                lambda t: client.embeddings.create(model="minilm", input=t).data[0].embedding, texts
            )
        )
    np.testing.assert_allclose(np.array(results), reference(texts), atol=1e-5)


def test_metrics_show_batches_larger_than_one(server, client):
    base, _ = server
    text = requests.get(f"{base}/metrics", timeout=5).text
    sizes = [
        line
        for line in text.splitlines()
        if line.startswith('mmserve_batch_size_bucket{le="1.0",model="minilm"}')
        or line.startswith('mmserve_batch_size_count{model="minilm"}')
    ]
    at_most_one, count = (float(line.split()[-1]) for line in sizes)
    assert count > at_most_one, "every batch had one item: requests never met in the queue"


def test_unknown_errors_leave_a_traceback_in_the_log_and_an_id_in_the_body(server):
    base, log_path = server
    response = requests.post(
        f"{base}/v1/embeddings", json={"model": "fake", "input": "crash"}, timeout=5
    )
    assert response.status_code == 500
    request_id = response.json()["request_id"]
    assert request_id in response.json()["error"]["message"]
    time.sleep(0.2)
    log = log_path.read_text()
    assert f"request {request_id} failed" in log and "RuntimeError" in log
    assert requests.get(f"{base}/readyz", timeout=5).status_code == 200
