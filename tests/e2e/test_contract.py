"""The served OpenAPI document as a contract: schemathesis generates requests from it against
a real server (default models, loopback) and checks that none gets a 5xx and every response
matches its declared schema. Two runs: a fixed seed (reproducible) and a random one (printed,
so a failure it finds can be replayed with `--seed`).

Before the runs, the resources the stateful operations need exist: a collection with items
(`fuzz`), a registered fusion model (`memes`), a label set. Their names are the examples of
the path parameters, so generated requests reach the routes' real logic, not only 404s.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests import fusion_helpers as helpers
from tests.e2e.test_serve import running_server

pytestmark = [pytest.mark.e2e, pytest.mark.real_weights]

FIXED_SEED = 20261203
# Per operation and phase; ~40 operations. Bounded so that both runs take about a minute
# each on 2 busy cores.
MAX_EXAMPLES = int(os.environ.get("MMSERVE_FUZZ_EXAMPLES", "25"))
CHECKS = "not_a_server_error,response_schema_conformance"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("contract")
    incoming = folder / "data" / "incoming"
    shutil.copytree(helpers.trained("early").artifact, incoming / "early")
    with running_server(folder) as (base, _, log_path):
        setup(base)
        yield base, log_path


def setup(base: str) -> None:
    """The resources the examples in the document name (see api/examples.py)."""

    def ok(response: requests.Response) -> None:
        assert response.status_code < 300, response.text

    ok(requests.post(f"{base}/v1/collections", json={"name": "fuzz", "model": "minilm"}))
    items = [{"id": "a", "content": "a cat on a mat"}, {"id": "b", "content": "rain on a roof"}]
    ok(requests.post(f"{base}/v1/collections/fuzz/items", json={"items": items}))
    ok(requests.post(f"{base}/v1/fusion/models", json={"name": "memes", "path": "incoming/early"}))


def schemathesis(base: str, seed: int, report: Path) -> tuple[int, str]:
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{base}/openapi.json",
        "--checks",
        CHECKS,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(seed),
        "--workers",
        "2",
        "--request-timeout",
        "60",
        "--no-color",
        "--report",
        "junit",
        "--report-dir",
        str(report),
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=900)
    return run.returncode, run.stdout + run.stderr


def summary(output: str) -> str:
    """The lines of schemathesis' closing summary that carry counts."""
    wanted = re.compile(r"(test cases|operations|failures|passed|errors|seed|generated)", re.I)
    return "\n".join(line for line in output.splitlines()[-40:] if wanted.search(line))


@pytest.mark.parametrize("seed", [FIXED_SEED, random.randrange(2**31)], ids=["fixed", "random"])
def test_no_server_error_and_every_response_matches_its_schema(server, seed, tmp_path, capsys):
    base, log_path = server
    started = time.monotonic()
    code, output = schemathesis(base, seed, tmp_path)
    took = time.monotonic() - started
    with capsys.disabled():
        print(f"\nschemathesis --seed {seed}: {took:.0f} s\n{summary(output)}")
    assert code == 0, f"{output[-20000:]}\n--- server log ---\n{log_path.read_text()[-5000:]}"
