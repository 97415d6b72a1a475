"""Durability through the HTTP server: every acknowledged write survives SIGKILL and restart.

`mmserve serve` runs in a subprocess; a client streams single-item upserts (each a separate
request, so each 200 is one commit) and records the ids the server acknowledged; the server
is SIGKILLed mid-stream, restarted on the same data directory, and every acknowledged id
must be there with its vector and metadata.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest
import requests

from tests.e2e.test_serve import free_port, mmserve_command, wait_until_ready

pytestmark = pytest.mark.e2e

DIM = 8
KILL_AFTER = 60  # acknowledged writes before the kill


def start_server(data_dir, log_path, models="fake", **env_extra):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MMSERVE_")} | env_extra
    command = mmserve_command() + [
        "serve", "--port", str(port), "--models", models, "--data-dir", str(data_dir),
    ]  # fmt: skip
    with log_path.open("a") as log:
        # Its own process group, so SIGKILL reaches the server's worker (which does the writes)
        # and its master together.
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    wait_until_ready(base, process, log_path)
    return base, process


def index_job_under_way(base: str, path: str, log: Callable[[], str], done: int = 32) -> dict:
    """Start an index job of the media folder `path` and wait until `done` items are in
    (so it is mid-run when the caller stops the server); `log` explains a timeout."""
    body = {"type": "index", "params": {"path": path, "collection": "n"}}
    job: dict = requests.post(f"{base}/v1/jobs", json=body, timeout=10).json()
    deadline = time.monotonic() + 30
    while requests.get(f"{base}/v1/jobs/{job['id']}", timeout=10).json()["progress"]["done"] < done:
        assert time.monotonic() < deadline, log()
        time.sleep(0.05)
    return job


def vector(item_id: str) -> list[float]:
    worker, i = map(int, item_id.split("-"))
    return list(np.random.default_rng(worker * 100_000 + i).standard_normal(DIM))


def test_acknowledged_writes_survive_sigkill(tmp_path):
    data, log_path = tmp_path / "data", tmp_path / "server.log"
    base, process = start_server(data, log_path)
    try:
        created = requests.post(
            f"{base}/v1/collections", json={"name": "d", "model": "fake"}, timeout=10
        )
        assert created.status_code == 200, created.text
        acknowledged: list[str] = []
        enough = threading.Event()

        def stream(worker: int) -> None:
            session = requests.Session()
            for i in range(10_000):
                item_id = f"{worker}-{i}"
                item = {"id": item_id, "vector": vector(item_id), "metadata": {"i": i}}
                try:
                    r = session.post(f"{base}/v1/collections/d/items", json={"items": [item]})
                except requests.ConnectionError:
                    return  # the server is gone: this write was never acknowledged
                if r.status_code == 200:
                    acknowledged.append(r.json()["data"][0]["id"])
                    if len(acknowledged) >= KILL_AFTER:
                        enough.set()

        writers = [threading.Thread(target=stream, args=(w,)) for w in range(3)]
        for w in writers:
            w.start()
        assert enough.wait(60), log_path.read_text()
        os.killpg(process.pid, signal.SIGKILL)  # the moment after, with writes in flight
        process.wait(10)
        killed_at = len(acknowledged)
        for w in writers:
            w.join(30)
        assert KILL_AFTER <= len(acknowledged) <= killed_at + 3  # 3 answers were in flight
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    base, process = start_server(data, log_path)
    try:
        session = requests.Session()
        for item_id in acknowledged:
            r = session.get(f"{base}/v1/collections/d/items/{item_id}?include_vector=true")
            assert r.status_code == 200, (item_id, r.text)
            i = int(item_id.split("-")[1])
            expected = np.array(vector(item_id)) / np.linalg.norm(vector(item_id))
            np.testing.assert_allclose(r.json()["vector"], expected, atol=1e-6)
            assert r.json()["metadata"] == {"i": i}
        count = session.get(f"{base}/v1/collections/d").json()["item_count"]
        assert count >= len(acknowledged)  # plus writes committed but not yet answered
        hit = session.post(
            f"{base}/v1/collections/d/search",
            json={"query": {"id": acknowledged[-1]}, "top_k": 1, "include_self": True},
        ).json()
        assert hit["data"][0]["id"] == acknowledged[-1]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    assert process.returncode == 0, log_path.read_text()[-3000:]


def test_cli_indexes_while_the_server_serves_the_same_store(tmp_path):
    folder = tmp_path / "files"
    folder.mkdir()
    for i in range(40):
        (folder / f"{i:02}.txt").write_text(f"file {i} " + "word " * i)
    data, log_path = tmp_path / "data", tmp_path / "server.log"
    base, process = start_server(data, log_path)
    try:
        session = requests.Session()
        created = session.post(f"{base}/v1/collections", json={"name": "f", "model": "fake"})
        assert created.status_code == 200
        env = {k: v for k, v in os.environ.items() if not k.startswith("MMSERVE_")}
        cli = subprocess.Popen(
            mmserve_command() + ["index", str(folder), "-c", "f", "--data-dir", str(data)],
            env={**env, "MMSERVE_MODELS": "fake"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(20):  # the server writes to the same collection meanwhile
            item = {"id": f"http-{i}", "vector": vector(f"9-{i}")}
            r = session.post(f"{base}/v1/collections/f/items", json={"items": [item]})
            assert r.status_code == 200, r.text
        output, _ = cli.communicate(timeout=60)
        assert cli.returncode == 0, output
        assert "f: 40 indexed" in output
        assert session.get(f"{base}/v1/collections/f").json()["item_count"] == 60
        hits = session.post(
            f"{base}/v1/collections/f/search",
            json={"query": {"id": "07.txt"}, "top_k": 100, "include_self": True},
        ).json()["data"]
        assert {h["id"] for h in hits} >= {f"{i:02}.txt" for i in range(40)}
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def test_a_job_killed_with_its_server_resumes_after_restart(tmp_path):
    folder = tmp_path / "media" / "notes"
    folder.mkdir(parents=True)
    for i in range(300):
        (folder / f"{i:03}.txt").write_text(f"note {i}")
    data, log_path = tmp_path / "data", tmp_path / "server.log"
    slow = "fake=fake:delay_ms=30"
    env = {"MMSERVE_MEDIA_MEDIA_ROOT": str(tmp_path / "media")}
    base, process = start_server(data, log_path, slow, **env)
    try:
        job = index_job_under_way(base, "notes", log_path.read_text)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    base, process = start_server(data, log_path, slow, **env)
    url = f"{base}/v1/jobs/{job['id']}"
    try:
        deadline = time.monotonic() + 60
        while (found := requests.get(url, timeout=10).json())["state"] != "succeeded":
            assert found["state"] in ("interrupted", "running"), found
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        assert found["result"]["unchanged"] >= 32
        assert found["result"]["unchanged"] + found["result"]["indexed"] == 300
        assert requests.get(f"{base}/v1/collections/n", timeout=10).json()["item_count"] == 300
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
