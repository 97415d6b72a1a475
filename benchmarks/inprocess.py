"""The ceiling: the model called in-process, with no HTTP and no batcher in the way.

Tokenising (`model.preprocess`) is part of the measured work, as the server must do it too.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
from typing import Any

from workload import MODEL_ID, sentence

BATCH_SIZE = 32  # the server's default max_batch_size
WARMUP_BATCHES = 3  # per thread, before the clock starts
SINGLE_CALLS = 300  # one-sentence calls timed for the latency baseline (~1.5 s)


def load_model() -> Any:
    from mmserve.models.registry import create_model

    model = create_model(MODEL_ID, MODEL_ID)
    model.load()
    return model


def embed(model: Any, texts: list[str]) -> Any:
    """Tokenise and run one batch: the work a served request costs, minus HTTP."""
    return model.forward([model.preprocess(text) for text in texts])


def throughput(model: Any, threads: int, duration_s: float, batch_size: int = BATCH_SIZE) -> float:
    """Sentences/s with `threads` Python threads each running its own batches.

    ONNX Runtime releases the GIL during `run`, and the session uses one intra-op thread,
    so two threads can keep two cores busy."""
    done = [0] * threads
    start = threading.Barrier(threads + 1)

    def work(index: int) -> None:
        rng = random.Random(index)
        run_id = f"inprocess{batch_size}.{threads}.{index}"
        for number in range(WARMUP_BATCHES):
            embed(model, _batch(run_id, number, batch_size, rng))
        start.wait()
        end = time.perf_counter() + duration_s
        number = WARMUP_BATCHES
        while time.perf_counter() < end:
            embed(model, _batch(run_id, number, batch_size, rng))
            done[index] += batch_size
            number += 1

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    return sum(done) / (time.perf_counter() - began)


def _batch(run_id: str, number: int, size: int, rng: random.Random) -> list[str]:
    return [sentence(run_id, number * size + i, rng) for i in range(size)]


def single_call_p50_ms(model: Any, calls: int = SINGLE_CALLS) -> float:
    """Median time to tokenise and embed one new sentence alone (a batch of 1)."""
    rng = random.Random(0)
    embed(model, [sentence("single-warmup", 0, rng)])
    times = []
    for n in range(calls):
        text = sentence("single", n, rng)
        began = time.perf_counter()
        embed(model, [text])
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000
