"""Grounded chat latency with an image, and rerank throughput served vs in-process.

Measured in one run, on one machine:

1. Chat: `mmserve serve` (default models) in a subprocess; POST /v1/chat/completions with
   "What is in the picture?" and a 512x384 scikit-image photo (coffee, PNG data: URI) from 1
   and 8 client threads; p50/p95 latency and requests/s. Each request runs the ImageNet
   classifier and OCR on the image (no zero-shot: the question names no target).
2. Rerank: 32 sentence documents per request, minilm. In-process: the model's preprocess +
   forward on the query and documents, in one call, from 1 thread (the ceiling for one core).
   Served: POST /v1/rerank from 2 client threads. Documents/s for each, side by side.

Usage: python benchmarks/bench_chat.py [--seconds 15]
"""

from __future__ import annotations

import argparse
import base64
import io
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np
import requests

sys.path.insert(0, str(Path(__file__).parent))
from served import Server  # noqa: E402

DOCS_PER_REQUEST = 32
SENTENCE_WORDS = "the cat dog sky invoice report beach river mountain city train music".split()


def photo_uri() -> str:
    import skimage.data
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(skimage.data.coffee()).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def documents(seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(SENTENCE_WORDS, 12)) for _ in range(DOCS_PER_REQUEST)]


def load(url: str, body_for, threads: int, seconds: float) -> list[float]:
    """Latencies (s) of requests sent back to back from `threads` threads for `seconds`."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def work(index: int) -> None:
        session = requests.Session()
        number = 0
        while time.monotonic() < stop:
            started = time.monotonic()
            response = session.post(url, json=body_for(index * 100_000 + number), timeout=120)
            response.raise_for_status()
            with lock:
                latencies.append(time.monotonic() - started)
            number += 1

    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return latencies


def in_process_rerank(seconds: float) -> float:
    from mmserve.models.registry import create_model

    model = create_model("minilm", "minilm")
    model.load()
    done, number, stop = 0, 0, time.monotonic() + seconds
    while time.monotonic() < stop:
        texts = ["a question about cats", *documents(number)]
        vectors = np.asarray(model.forward([model.preprocess(t) for t in texts]))
        _ = vectors[1:] @ vectors[0]
        done, number = done + DOCS_PER_REQUEST, number + 1
    return done / seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    image = photo_uri()
    chat_body = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in the picture?"},
                    {"type": "image_url", "image_url": {"url": image}},
                ],
            }
        ]
    }
    rows = []
    with Server("mmserve", [str(Path(sys.executable).with_name("mmserve")), "serve"]) as server:
        url = server.url + "/v1/chat/completions"
        load(url, lambda _: chat_body, 1, 3)  # warm up
        for threads in (1, 8):
            latencies = load(url, lambda _: chat_body, threads, args.seconds)
            rows.append((f"chat c={threads}", latencies))
        rerank_url = server.url + "/v1/rerank"

        def rerank_body(number: int) -> dict:
            return {"query": "a question about cats", "documents": documents(number)}

        served = load(rerank_url, rerank_body, 2, args.seconds)
    in_process = in_process_rerank(args.seconds)
    print(f"{'run':<12} {'requests':>8} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8}")
    for name, latencies in rows:
        p95 = np.percentile(latencies, 95) * 1000
        rate = len(latencies) / args.seconds
        p50 = statistics.median(latencies) * 1000
        print(f"{name:<12} {len(latencies):>8} {rate:>7.2f} {p50:>8.0f} {p95:>8.0f}")
    served_docs = len(served) * DOCS_PER_REQUEST / args.seconds
    print(
        f"rerank documents/s: served {served_docs:.0f}, in-process {in_process:.0f}, "
        f"served / in-process = {served_docs / in_process:.2f}"
    )


if __name__ == "__main__":
    main()
