"""`mmserve serve` with no --models, as `make serve` starts it: every default model loads, each
capability answers through its route, and the server stays within the memory we promise."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from mmserve.config import DEFAULT_MODELS
from tests.audio_models import SENTENCES, speech_wav, word_error_rate
from tests.e2e.test_serve import running_server
from tests.vision_models import b64, encoded

pytestmark = [pytest.mark.e2e, pytest.mark.real_weights]

SENTENCE = SENTENCES[0]
# benchmarks/bench_memory.py: 0.87 GB loaded, 1.25 GB after one client ran every route with
# large inputs (a 1600x1200 page, 100 s of speech) three times.
RSS_LIMIT_BYTES = 1.5e9


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("default-serve")) as (base, process, _):
        yield base, process


def rss_bytes(pid: int) -> int:
    """Resident memory of a process and its children (the server's master and its worker)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    total = 0
    for each in [pid, *map(int, children)]:
        status = Path(f"/proc/{each}/status").read_text()
        kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))
        total += int(kib) * 1024
    return total


def test_every_default_model_is_loaded(server):
    base, _ = server
    listed = requests.get(f"{base}/v1/models", timeout=10).json()["data"]
    assert [m["id"] for m in listed] == [*DEFAULT_MODELS, "grounded"]
    assert {m["state"] for m in listed} == {"ready"}


def test_each_capability_answers_within_the_memory_limit(server):
    base, process = server
    photo = {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{b64('chelsea')}"}}
    embedded = requests.post(
        f"{base}/v1/embeddings", json={"model": "bridge", "input": [photo, "a cat"]}, timeout=60
    )
    assert embedded.status_code == 200, embedded.text
    assert len(embedded.json()["data"]) == 2

    caption = requests.post(
        f"{base}/v1/images/captions", files={"file": ("cat.jpg", encoded("chelsea"))}, timeout=60
    )
    assert caption.status_code == 200, caption.text
    assert "cat" in caption.json()["caption"].lower()

    ocr = requests.post(
        f"{base}/v1/images/ocr", files={"file": ("page.png", encoded("page", "PNG"))}, timeout=60
    )
    assert ocr.status_code == 200, ocr.text
    assert ocr.json()["lines"]

    speech = speech_wav(SENTENCE)
    tags = requests.post(
        f"{base}/v1/audio/classifications", files={"file": ("s.wav", speech)}, timeout=60
    )
    assert tags.status_code == 200, tags.text
    assert tags.json()["labels"][0]["label"] == "Speech"

    heard = requests.post(
        f"{base}/v1/audio/transcriptions",
        files={"file": ("s.wav", speech)},
        data={"model": "whisper-1"},
        timeout=60,
    )
    assert heard.status_code == 200, heard.text
    assert word_error_rate(SENTENCE, heard.json()["text"]) <= 0.3

    assert rss_bytes(process.pid) < RSS_LIMIT_BYTES
