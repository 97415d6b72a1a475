"""Search speed: queries/s served over HTTP against SearchStore.search in-process.

Measured in one run, on one machine, over one collection of `--size` (100,000) random unit
384-d vectors with a little metadata (past the store's exact-search threshold, so both sides
use the HNSW graph, re-scored exactly):

1. In-process: `SearchStore.search(collection, vector, top_k=10)` in a loop from 1 and
   from 2 threads (searches of one collection share a read lock), at the start and again
   at the end; the mean of the better setting is the ceiling. Concurrent searches of a
   collection run as one multi-query graph call (store/combiner.py), so the 2-thread loop
   already gathers pairs. Also from 16 threads, like the served c=16: the searches the
   combiner gathers into batches of up to 16, the in-process figure for batched search
   (reported beside the ceiling, not in it).
2. Served: `mmserve serve` (fake model; vector queries need none) on the same data
   directory, loaded by wrk (one thread, keep-alive) at concurrency 1, 4 and 16 with POST
   /v1/collections/<name>/search {"query": {"vector": [...]}, "top_k": 10}: requests/s,
   p50, p99, and the cores the server and wrk used.

3. Filtered, in-process: a filter passing 0.1% and one passing 10% of the items, the first
   search with each (which may scan SQLite) and the mean of the next ones.

It prints a table with served / in-process ratios (target >= 0.8 at concurrency 16) and
writes bench-results/search.json. `--quick` (5,000 vectors, 1 s per measurement) only
checks that the script works.
Building the graph of 100,000 vectors takes about a minute of both cores, once: the data
directory is kept under --data-dir (default: a temporary one) and reused when given again.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from served import Server, measure, require_wrk

from mmserve.store import SearchStore

LEVELS = (1, 4, 16)
GATHERED_THREADS = 16  # the in-process figure with batches as large as the served c=16's
DIM = 384
COLLECTION = "bench"
QUERIES = 512  # distinct query vectors, used in turn by both sides
WARMUP_S = 2.0  # before each served measurement
RESULTS = Path("bench-results/search.json")


def build(data_dir: Path, size: int) -> SearchStore:
    store = SearchStore(data_dir / "search")
    names = {c.name: c for c in store.list_collections()}
    if COLLECTION in names and names[COLLECTION].item_count == size:
        print(f"reusing {size:,} vectors in {data_dir}")
    else:
        if COLLECTION in names:
            store.delete_collection(COLLECTION)
        store.create_collection(COLLECTION, model="bench-vectors", dim=DIM)
        rng = np.random.default_rng(0)
        started = time.perf_counter()
        for start in range(0, size, 1000):
            vectors = rng.standard_normal((min(1000, size - start), DIM), dtype=np.float32)
            items = [
                {"id": f"v{start + i}", "vector": v, "metadata": {"i": start + i, "k": i % 10}}
                for i, v in enumerate(vectors)
            ]
            store.upsert_items(COLLECTION, items)
        print(f"upserted {size:,} vectors in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    status = store.index_status(COLLECTION)  # loads or builds the graph
    store.flush()  # saved, so the server loads the file instead of building again
    print(f"index ready in {time.perf_counter() - started:.1f} s: {status}")
    return store


def queries(n: int) -> np.ndarray:
    vectors = np.random.default_rng(1).standard_normal((n, DIM), dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)  # (n, DIM)


def in_process(
    store: SearchStore, vectors: np.ndarray, seconds: float, threads: int = 1
) -> dict[str, float]:
    latencies: list[list[float]] = [[] for _ in range(threads)]
    deadline = time.perf_counter() + seconds

    def loop(index: int) -> None:
        i = index
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            store.search(COLLECTION, vectors[i % len(vectors)], top_k=10)
            latencies[index].append(time.perf_counter() - started)
            i += threads

    began = time.perf_counter()
    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    done = [x for per in latencies for x in per]
    return {
        "threads": threads,
        "queries_per_s": len(done) / (time.perf_counter() - began),
        "p50_ms": float(np.percentile(done, 50) * 1000),
        "p99_ms": float(np.percentile(done, 99) * 1000),
    }


def best_in_process(store: SearchStore, vectors: np.ndarray, seconds: float) -> dict[str, float]:
    runs = [in_process(store, vectors, seconds, threads) for threads in (1, 2)]
    for r in runs:
        print(f"  in-process, {r['threads']} thread(s): {r['queries_per_s']:.0f} q/s")
    return max(runs, key=lambda r: r["queries_per_s"])


def filtered(store: SearchStore, vectors: np.ndarray, size: int) -> list[dict[str, Any]]:
    """The first search with a filter and the mean of the next ones, in-process."""
    results = []
    for share, condition in ((0.001, {"i": {"lt": size // 1000}}), (0.1, {"k": 3})):
        started = time.perf_counter()
        store.search(COLLECTION, vectors[0], top_k=10, filter=condition)
        first = time.perf_counter() - started
        started = time.perf_counter()
        for v in vectors[1:33]:
            store.search(COLLECTION, v, top_k=10, filter=condition)
        then = (time.perf_counter() - started) / 32
        results.append({"share": share, "first_ms": first * 1000, "then_ms": then * 1000})
        print(
            f"  filter passing {share:.1%}: first {first * 1000:.1f} ms, then {then * 1000:.2f} ms"
        )
    return results


def served(server: Server, bodies: Path, concurrency: int, seconds: float) -> dict[str, float]:
    path = f"/v1/collections/{COLLECTION}/search"
    result = measure(server, concurrency, seconds, WARMUP_S, "search", bodies=(path, bodies))
    return {
        "concurrency": concurrency,
        "queries_per_s": result.requests_per_s,
        "p50_ms": result.p50_ms,
        "p99_ms": result.p99_ms,
        "errors": result.errors,
        "server_cores": result.server_cpu,
        "wrk_cores": result.wrk_cpu,
        "other_cores": result.other_cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="per measurement")
    parser.add_argument("--data-dir", type=Path, help="kept and reused (default: temporary)")
    parser.add_argument("--quick", action="store_true", help="5,000 vectors, 1 s: a smoke test")
    args = parser.parse_args()
    if args.quick:
        args.size, args.seconds = 5_000, 1.0
    require_wrk()
    with tempfile.TemporaryDirectory() as scratch:
        data_dir = args.data_dir or Path(scratch)
        store = build(data_dir, args.size)
        vectors = queries(QUERIES)
        bodies = Path(scratch) / "bodies.jsonl"
        bodies.write_text(
            "".join(
                json.dumps({"query": {"vector": v.tolist()}, "top_k": 10}) + "\n" for v in vectors
            )
        )
        start = best_in_process(store, vectors, args.seconds)
        gathered = in_process(store, vectors, args.seconds, GATHERED_THREADS)
        print(f"  in-process, {GATHERED_THREADS} threads: {gathered['queries_per_s']:.0f} q/s")
        filters = filtered(store, vectors, args.size)
        command = [str(Path(sys.executable).with_name("mmserve")), "serve", "--models", "fake"]
        command += ["--data-dir", str(data_dir), "--log-level", "warning"]
        with Server("mmserve", command) as server:
            levels = [served(server, bodies, c, args.seconds) for c in LEVELS]
        end = in_process(store, vectors, args.seconds, int(start["threads"]))
        store.close()
    ceiling = (start["queries_per_s"] + end["queries_per_s"]) / 2
    report(args.size, start, end, ceiling, gathered, levels, filters)


def report(
    size: int,
    start: dict,
    end: dict,
    ceiling: float,
    gathered: dict,
    levels: list[dict],
    filters: list[dict],
) -> None:
    print(f"\n{size:,} vectors, 384-d, top_k 10 (HNSW + exact re-score)")
    rates = f"{start['queries_per_s']:.0f} q/s at the start, {end['queries_per_s']:.0f} at the end"
    print(f"in-process, {start['threads']} thread(s): {rates} (p50 {start['p50_ms']:.2f} ms)")
    batched = gathered["queries_per_s"]
    print(f"in-process, {gathered['threads']} threads (gathered into batches): {batched:.0f} q/s")
    print("| concurrency | served q/s | p50 ms | p99 ms | errors | served / in-process |"
          f" served / in-process at {gathered['threads']} threads |"
          " server cores | wrk cores | other cores |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in levels:
        print(
            f"| {r['concurrency']} | {r['queries_per_s']:.0f} | {r['p50_ms']:.2f} |"
            f" {r['p99_ms']:.2f} | {r['errors']} | {r['queries_per_s'] / ceiling:.2f} |"
            f" {r['queries_per_s'] / batched:.2f} |"
            f" {r['server_cores']:.2f} | {r['wrk_cores']:.2f} | {r['other_cores']:.2f} |"
        )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "size": size,
                "in_process": [start, end],
                "ceiling": ceiling,
                "in_process_gathered": gathered,
                "served": levels,
                "filtered": filters,
            },
            indent=2,
        )
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
