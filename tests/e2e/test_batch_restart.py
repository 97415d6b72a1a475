"""A batch survives kill -9 of `mmserve serve`: the next server resumes it, and every
input line ends up in the output exactly once."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import openai
import pytest

from tests.e2e.test_serve import free_port, mmserve_command, wait_until_ready

pytestmark = [pytest.mark.e2e]
LINES = 300


def start_server(folder, log_name):
    port = free_port()
    log_path = folder / log_name
    env = {k: v for k, v in os.environ.items() if not k.startswith("MMSERVE_")}
    command = [
        *mmserve_command(), "serve", "--port", str(port), "--data-dir", str(folder / "data"),
        "--models", "fake=fake:delay_ms=50",
    ]  # fmt: skip
    with log_path.open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    wait_until_ready(base, process, log_path)
    client = openai.OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0)
    return process, client


def children(pid):
    """The process ids of a running process's children (the server's worker)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


def test_a_batch_resumes_after_kill_9_with_no_line_twice_or_lost(tmp_path):
    process, client = start_server(tmp_path, "first.log")
    try:
        lines = [
            {"custom_id": f"r{i}", "method": "POST", "url": "/v1/embeddings",
             "body": {"model": "fake", "input": f"text {i}"}}
            for i in range(LINES)
        ]  # fmt: skip
        content = "\n".join(json.dumps(x) for x in lines).encode()
        uploaded = client.files.create(file=("in.jsonl", io.BytesIO(content)), purpose="batch")
        batch = client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/embeddings", completion_window="24h"
        )
        deadline = time.monotonic() + 60
        while client.batches.retrieve(batch.id).request_counts.completed < 20:
            assert time.monotonic() < deadline, "the batch never got going"
            time.sleep(0.05)
    finally:
        # The worker process (it runs the batch) first, then the server's master: a crash,
        # with no graceful exit left to anyone.
        workers = children(process.pid)
        assert workers, "the server has no worker process"
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL

    process, client = start_server(tmp_path, "second.log")
    try:
        deadline = time.monotonic() + 120
        while (done := client.batches.retrieve(batch.id)).status != "completed":
            assert done.status in ("validating", "in_progress"), done
            assert time.monotonic() < deadline, done
            time.sleep(0.1)
        assert (done.request_counts.completed, done.request_counts.failed) == (LINES, 0)
        output = [
            json.loads(x) for x in client.files.content(done.output_file_id).text.split("\n") if x
        ]
        assert sorted(line["custom_id"] for line in output) == sorted(f"r{i}" for i in range(LINES))
        assert all(line["response"]["status_code"] == 200 for line in output)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert process.returncode == 0
    assert "resumed" in (tmp_path / "second.log").read_text()
