"""A new user's first `make serve`: the default models on an empty cache directory, and a
second server started at the same moment on the same cache. Both must become ready.

On an empty cache every first-run artefact is made during the loads: the EfficientNet ONNX
export (wanted by efficientnet-lite0 and bridge, loading in parallel threads, and by both
servers), bridge's label anchors. Before artefacts.produce_once, the two exports in one
process broke each other (torch's exporter is not thread-safe) and /readyz stayed 503.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path

import pytest
import requests

from mmserve.config import DEFAULT_MODELS
from tests.e2e.test_serve import launched_server

pytestmark = [pytest.mark.e2e, pytest.mark.real_weights]

# Two servers making every artefact on 2 shared cores; ~40 s on an idle machine.
READY_TIMEOUT_S = 300


def readiness(base: str) -> dict | None:
    try:
        return requests.get(f"{base}/readyz", timeout=2).json()
    except (requests.ConnectionError, requests.Timeout):
        return None  # not listening yet, or too busy loading to answer


def wait_for_all(servers: list[tuple[str, object, Path]]) -> dict[str, dict]:
    """Each server's last /readyz body once all are ready; fails as soon as one model of one
    server is `failed` (it would never become ready) or a server exits."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    last: dict[str, dict] = {}
    while time.monotonic() < deadline:
        for base, process, log_path in servers:
            if process.poll() is not None:
                pytest.fail(f"server {base} exited early:\n{log_path.read_text()}")
            body = readiness(base)
            if body is None:
                continue
            last[base] = body
            failed = {i: m["error"] for i, m in body["models"].items() if m["state"] == "failed"}
            assert not failed, f"{base}: {failed}\n{log_path.read_text()[-4000:]}"
        if len(last) == len(servers) and all(b["ready"] for b in last.values()):
            return last
        time.sleep(0.5)
    pytest.fail(f"not ready in {READY_TIMEOUT_S} s: {last}")


def test_two_default_servers_on_one_empty_cache_both_become_ready(tmp_path):
    cache = tmp_path / "cache"  # XDG_CACHE_HOME: platformdirs puts mmserve's cache under it
    cache.mkdir()
    started = time.monotonic()
    with ExitStack() as stack:
        servers = []
        for name in ("first", "second"):
            folder = tmp_path / name
            folder.mkdir()
            launch = launched_server(folder, env={"XDG_CACHE_HOME": str(cache)})
            servers.append(stack.enter_context(launch))
        bodies = wait_for_all(servers)
        print(f"both servers ready in {time.monotonic() - started:.1f} s")
    for body in bodies.values():
        assert list(body["models"]) == list(DEFAULT_MODELS)
        assert {m["state"] for m in body["models"].values()} == {"ready"}
    # Each artefact was made once and only whole files were left: no temporary files.
    made = sorted(p.relative_to(cache) for p in cache.rglob("*") if p.is_file())
    assert not [p for p in made if p.name.endswith(".tmp")], made
    assert any(p.suffix == ".onnx" for p in made) and any(p.suffix == ".npy" for p in made)
