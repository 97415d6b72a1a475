"""The served OpenAPI document as a contract: schemathesis generates requests from it against
a real server (default models, loopback) and checks that none gets a 5xx and every response
matches its declared schema. Two runs: a fixed seed (reproducible) and a random one (printed,
so a failure it finds can be replayed with `--seed`).

Before the runs, the resources the document's examples name exist (api/contract.py): a
collection with an item, a registered fusion model, a label set. So the examples of the path
parameters and of the request bodies (tiny real PNG and WAV as data: URIs) reach the routes'
real work, not only 404s; the document's links drive the stateful phase.
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

from mmserve.api import contract
from tests import fusion_helpers as helpers
from tests.e2e.test_serve import running_server

pytestmark = [pytest.mark.e2e, pytest.mark.real_weights]

FIXED_SEED = 20261203
# Per operation and phase, 36 operations: ~1,900 cases and ~55 s a run on 2 busy cores.
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
    """The resources the examples in the document name (api/contract.py)."""

    def ok(response: requests.Response) -> None:
        assert response.status_code < 300, response.text

    collection = {"name": contract.COLLECTION, "model": "bridge"}  # takes images too
    ok(requests.post(f"{base}/v1/collections", json=collection, timeout=30))
    item = {"id": contract.ITEM, "content": "a cat", "metadata": {"kind": "photo"}}
    url = f"{base}/v1/collections/{contract.COLLECTION}/items"
    ok(requests.post(url, json={"items": [item]}, timeout=30))
    fusion = {"name": contract.FUSION_MODEL, "path": "incoming/early"}
    ok(requests.post(f"{base}/v1/fusion/models", json=fusion, timeout=30))
    labels = {"name": contract.LABEL_SET, "labels": ["cat", "dog", "bird"]}
    ok(requests.post(f"{base}/v1/label-sets", json=labels, timeout=60))


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
        # One worker: with two, hypothesis' lambda descriptions race in CPython 3.11's ast
        # ("AST constructor recursion depth mismatch", an error of the run, not the API).
        "--workers",
        "1",
        "--generation-database",
        "none",  # nothing written to the working tree; the seed makes runs reproducible
        "--request-timeout",
        "60",
        "--no-color",
        "--report",
        "junit",
        "--report-dir",
        str(report),
    ]
    # In the test's folder: schemathesis keeps a crash cache (.schemathesis/) in its cwd.
    run = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=report)
    return run.returncode, run.stdout + run.stderr


def summary(output: str) -> str:
    """The lines of schemathesis' closing summary that carry counts."""
    wanted = re.compile(r"(selected|tested|generated|passed|failures|errors|seed)", re.I)
    return "\n".join(line for line in output.splitlines()[-40:] if wanted.search(line))


def test_every_request_example_of_the_document_succeeds(server):
    """The examples are what makes the fuzzer reach each route's real work: each must be a
    2xx on this server, not a 4xx that only exercises validation."""
    base, _ = server
    document = requests.get(f"{base}/openapi.json", timeout=10).json()
    tried = 0
    for path, operations in document["paths"].items():
        for method, op in operations.items():
            content = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            for example in content.get("examples", {}).values():
                url = base + path.format(
                    **{p["name"]: p["example"] for p in op.get("parameters", [])}
                )
                answer = requests.request(method, url, json=example["value"], timeout=120)
                assert answer.status_code < 300, (method, path, answer.text)
                tried += 1
    assert tried >= 17  # every media route, /v1/predict, items, search, classifications...


@pytest.mark.parametrize("seed", [FIXED_SEED, random.randrange(2**31)], ids=["fixed", "random"])
def test_no_server_error_and_every_response_matches_its_schema(server, seed, tmp_path, capsys):
    base, log_path = server
    started = time.monotonic()
    code, output = schemathesis(base, seed, tmp_path)
    took = time.monotonic() - started
    with capsys.disabled():
        print(f"\nschemathesis --seed {seed}: {took:.0f} s\n{summary(output)}")
    failure = f"{output[-20000:]}\n--- server log ---\n{log_path.read_text()[-5000:]}"
    assert code == 0, failure
    selected, total = map(int, re.search(r"Selected: (\d+)/(\d+)", output).groups())
    assert selected == total == int(re.search(r"Tested: (\d+)", output).group(1)), failure
    generated, passed = map(int, re.search(r"(\d+) generated, (\d+) passed", output).groups())
    assert generated == passed >= MAX_EXAMPLES * total, failure
