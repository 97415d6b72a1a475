"""`mmserve serve --ray` on a real local Ray cluster: same answers as the local server, a
replica killed under load loses no answered request and comes back, a full queue is 429."""

from __future__ import annotations

import base64
import io
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import openai
import pytest
import requests
from PIL import Image

from mmserve.app import create_app
from mmserve.config import Config, ModelConfig
from tests.e2e.test_serve import free_port, mmserve_command

ray = pytest.importorskip("ray")
from ray import serve  # noqa: E402
from ray.util.state import list_actors  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.e2e, pytest.mark.real_weights]

START_TIMEOUT_S = 300  # two models loaded in the ingress and in three replicas, on 2 cores
CONFIG = """
[[models]]
id = "minilm"
[[models]]
id = "bridge"
[[models]]
id = "fake"
[[models]]
id = "slow"
source = "fake:delay_ms=1000"
max_batch_size = 1
queue_size = 2

[ray]
num_cpus = 0.5

[ray.models.minilm]
num_cpus = 0.5
min_replicas = 2
max_replicas = 2

[ray.models.fake]
num_cpus = 0.1

[ray.models.slow]
num_cpus = 0.1
max_ongoing_requests = 1
max_queued_requests = 1
"""
TEXTS = [f"sentence number {i} about cats, rivers and trains" for i in range(64)]


@contextmanager
def ray_server(folder: Path, address: str) -> Iterator[tuple[str, Path]]:
    """`mmserve serve --ray ADDRESS` on a free port; yields (base URL, log) once ready."""
    port = free_port()
    config = folder / "mmserve.toml"
    config.write_text(CONFIG)
    log_path = folder / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MMSERVE_")}
    command = [
        *mmserve_command(),
        *("serve", "--ray", address, "--config", str(config), "--port", str(port)),
        *("--data-dir", str(folder / "data")),
    ]
    with log_path.open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, process, log_path)
        yield base, log_path
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()


def wait_ready(base: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited early:\n{log_path.read_text()}")
        try:
            if requests.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass
        time.sleep(1)
    pytest.fail(f"server not ready in {START_TIMEOUT_S} s:\n{log_path.read_text()[-4000:]}")


@pytest.fixture(scope="module")
def server(ray_cluster, tmp_path_factory) -> Iterator[tuple[str, Path]]:
    with ray_server(tmp_path_factory.mktemp("ray-serve"), ray_cluster) as started:
        yield started
    serve.shutdown()  # frees the cluster's CPUs for the next module


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    """The same models served in-process, without Ray: the reference answers."""
    models = (ModelConfig(id="minilm"), ModelConfig(id="bridge"))
    config = Config(data_dir=tmp_path_factory.mktemp("local"), models=models)
    app = create_app(config, wait_for_models=True)
    yield app.test_client()
    app.extensions["mmserve"].pool.stop()


def image_part() -> dict:
    pixels = np.random.default_rng(7).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    return {"type": "image_url", "image_url": {"url": url}}


def test_openai_client_gets_the_local_servers_vectors(server, local):
    base, _ = server
    client = openai.OpenAI(base_url=f"{base}/v1", api_key="not-needed", max_retries=0)
    for model in ("minilm", "bridge"):
        remote = client.embeddings.create(model=model, input=TEXTS[:5])
        expected = local.post("/v1/embeddings", json={"model": model, "input": TEXTS[:5]}).json
        assert remote.model == model
        got = np.array([d.embedding for d in remote.data])
        want = np.array([d["embedding"] for d in expected["data"]])
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=1e-5)
        assert remote.usage.prompt_tokens == expected["usage"]["prompt_tokens"]
    body = {"model": "bridge", "input": [image_part()]}
    remote_image = requests.post(f"{base}/v1/embeddings", json=body, timeout=60).json()
    local_image = local.post("/v1/embeddings", json=body).json
    np.testing.assert_allclose(
        remote_image["data"][0]["embedding"], local_image["data"][0]["embedding"], atol=1e-5
    )


def test_readyz_and_metrics_report_replicas(server):
    base, _ = server
    ready = requests.get(f"{base}/readyz", timeout=10).json()
    assert ready["ready"] is True
    assert ready["models"]["minilm"]["ray"]["replicas"] == 2
    assert ready["models"]["bridge"]["ray"]["replicas"] == 1
    requests.post(f"{base}/v1/embeddings", json={"model": "minilm", "input": "hi"}, timeout=30)
    metrics = requests.get(f"{base}/metrics", timeout=10).text
    assert 'mmserve_ray_replicas{model="minilm"} 2.0' in metrics
    assert 'mmserve_ray_replica_queue_depth{model="minilm",replica=' in metrics


def replica_pids(model: str) -> dict[str, int]:
    actors = list_actors(
        filters=[
            ("class_name", "=", f"ServeReplica:mmserve-{model}:{model}"),
            ("state", "=", "ALIVE"),
        ],
        detail=True,
    )
    return {a.actor_id: a.pid for a in actors}


def test_killed_replica_loses_no_answered_request_and_comes_back(server, local):
    base, log_path = server
    before = replica_pids("minilm")
    assert len(before) == 2
    expected = local.post("/v1/embeddings", json={"model": "minilm", "input": TEXTS}).json
    want = {t: np.array(d["embedding"]) for t, d in zip(TEXTS, expected["data"], strict=True)}

    def embed(start: int) -> tuple[list[str], int, list[list[float]]]:
        # 16 texts a request: each keeps a replica busy long enough that, with 8 requests
        # in flight, the killed replica is always in the middle of some
        texts = [TEXTS[(start + i) % len(TEXTS)] for i in range(16)]
        body = {"model": "minilm", "input": texts}
        response = requests.post(f"{base}/v1/embeddings", json=body, timeout=60)
        vectors = [d["embedding"] for d in response.json()["data"]] if response.ok else []
        return texts, response.status_code, vectors

    with ThreadPoolExecutor(8) as threads:
        load = [threads.submit(embed, i) for i in range(160)]
        while sum(f.done() for f in load) < 24:
            time.sleep(0.02)
        os.kill(next(iter(before.values())), signal.SIGKILL)
        results = [f.result() for f in load]

    statuses = [status for _, status, _ in results]
    assert set(statuses) <= {200, 503}, statuses
    assert statuses.count(200) >= len(statuses) - 2  # retried on the other replica
    for texts, status, vectors in results:
        if status == 200:  # an answered request is whole and right
            np.testing.assert_allclose(vectors, [want[t] for t in texts], atol=1e-5)
    assert "died during request" in log_path.read_text()  # the kill hit requests in flight

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # a new replica process, loaded and taking requests
        after = replica_pids("minilm")
        ready = requests.get(f"{base}/readyz", timeout=10).json()
        running = ready["models"]["minilm"]["ray"]["replicas"]
        if len(after) == 2 and set(after) != set(before) and running == 2:
            break
        time.sleep(1)
    assert len(after) == 2 and set(after) != set(before), "Serve did not replace the replica"
    assert running == 2 and ready["ready"] is True


def test_full_queue_answers_429_with_retry_after(server):
    base, _ = server

    def embed(i: int) -> requests.Response:
        body = {"model": "slow", "input": f"text {i}"}
        return requests.post(f"{base}/v1/embeddings", json=body, timeout=60)

    # The ingress queues 2 items (queue_size) and Serve 1 call (max_queued_requests) while
    # the one replica takes 1 (max_ongoing_requests) for a second: of 16, most are refused,
    # by whichever limit they meet first.
    with ThreadPoolExecutor(16) as threads:
        responses = list(threads.map(embed, range(16)))
    statuses = sorted(r.status_code for r in responses)
    assert 200 in statuses and 429 in statuses, statuses
    assert set(statuses) <= {200, 429}
    refused = next(r for r in responses if r.status_code == 429)
    assert refused.headers["Retry-After"] == "1"
    assert refused.json()["error"]["code"] == "overloaded"
    assert "limit; retry after a second" in refused.json()["error"]["message"]


def test_a_model_error_in_a_replica_is_the_local_servers_error(server):
    """The replica returns the MMServeError; the ingress raises it: same status and body."""
    base, _ = server
    body = {"model": "fake", "input": ["fine", "poison pill"]}  # the fake model raises on it
    response = requests.post(f"{base}/v1/embeddings", json=body, timeout=60)
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "model_error"
    assert "poison" not in error["message"]  # opaque, as in-process
    body = {"model": "fake", "input": ["fine", "also fine"]}
    ok = requests.post(f"{base}/v1/embeddings", json=body, timeout=60)
    assert ok.status_code == 200
    assert [d["embedding"][0] for d in ok.json()["data"]] == [4.0, 9.0]  # len(text), by hand
