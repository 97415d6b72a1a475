"""How a batched graph search fares beside busy Python threads (issue 17, search).

The store gathers concurrent searches into one multi-query usearch call (store/combiner.py).
Inside the server that call ran at half the speed it reached in-process. This measures why,
on 20,000 random unit 384-d vectors (the store's graph settings), one batch of 16 queries:

1. calls/s alone, and beside one Python thread that never blocks (a stand-in for request
   threads), with the call on 1 and on 2 threads;
2. one call's time while a spinning thread holds the GIL and the switch interval is 50 ms:
   a call that takes the GIL back once (to return) waits ~50 ms; one that takes it back
   after every query waits ~50 ms per query it ran on the calling thread.

    python benchmarks/bench_graph_gil.py

Measured 2026-12-03 (docs/benchmarks.md, "Speed, 2026-12-03 night"): usearch 2.26.6 takes
the GIL back after every query its calling thread runs (it checks for signals there), so
beside a busy thread it keeps 0.12-0.16 of its speed. Alone the check costs nothing.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from usearch.index import Index

SIZE, DIM, BATCH = 20_000, 384, 16
SECONDS = 2.0
SLOW_SWITCH_S = 0.05


def build() -> tuple[Index, np.ndarray]:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((SIZE, DIM), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = Index(ndim=DIM, metric="ip", dtype="f16", connectivity=16, expansion_add=64)
    index.add(np.arange(SIZE), vectors, threads=0)
    index.expansion_search = 128  # type: ignore[misc]  # the store's default breadth
    return index, vectors[:BATCH].copy()


@contextmanager
def busy_python_thread() -> Iterator[None]:
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            pass

    thread = threading.Thread(target=spin)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def calls_per_s(index: Index, queries: np.ndarray, threads: int) -> float:
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < SECONDS:
        index.search(queries, 10, threads=threads)
        calls += 1
    return calls / (time.perf_counter() - start)


def one_call_s(index: Index, queries: np.ndarray, threads: int) -> float:
    start = time.perf_counter()
    index.search(queries, 10, threads=threads)
    return time.perf_counter() - start


def main() -> None:
    index, queries = build()
    print(f"usearch, {SIZE:,} vectors, a batch of {BATCH} queries per call")
    for threads in (1, 2):
        alone = calls_per_s(index, queries, threads)
        with busy_python_thread():
            beside = calls_per_s(index, queries, threads)
        print(
            f"  threads={threads}: {alone:6.1f} calls/s alone, {beside:6.1f} beside a busy"
            f" Python thread (keeps {beside / alone:.2f})"
        )
    default = sys.getswitchinterval()
    sys.setswitchinterval(SLOW_SWITCH_S)
    try:
        with busy_python_thread():
            time.sleep(0.1)
            for threads in (1, 2):
                took = one_call_s(index, queries, threads)
                print(
                    f"  switch interval {SLOW_SWITCH_S * 1000:.0f} ms, threads={threads}: one call"
                    f" {took:.3f} s = {took / SLOW_SWITCH_S:.1f} waits for the GIL"
                )
    finally:
        sys.setswitchinterval(default)


if __name__ == "__main__":
    main()
