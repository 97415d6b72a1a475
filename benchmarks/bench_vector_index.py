"""Vector index libraries side by side: build time, memory, recall@10, query latency.

Measured in one run, on one machine, on random unit vectors (384-d float32, the issue's
spec; uniformly random directions have no cluster structure, the hardest case for HNSW):

- usearch (f32, and f16/i8 storage), hnswlib and faiss-cpu (IndexHNSWFlat), all HNSW with
  the same graph settings (M = connectivity = 16, efConstruction = expansion_add), queried
  at several ef_search values;
- exact baselines: numpy (one matrix-vector product + argpartition), faiss IndexFlatIP and
  sqlite-vec's vec0 table (brute force inside SQLite; Python's own sqlite3 here cannot load
  extensions, so it goes through apsw, as a user of it would have to).

Each library runs in its own subprocess, so the RSS increase it reports is its own: RSS
after the build minus RSS before it, with the vectors already loaded. Builds and queries
use one thread (on a shared 2-core machine multithreaded builds fight other processes);
queries go one at a time, as a request would. Recall@10 is against exact top-10 computed
with numpy. numpy's worker also times exact search on prefixes of the data, to pick the
size below which the store searches exactly.

    python benchmarks/bench_vector_index.py --sizes 100000 1000000

prints the table and writes bench-results/vector-index.json (after every worker, so a long
run that is stopped keeps what it measured). `--libs` runs a subset; `--append` adds to
the file's runs instead of replacing them (e.g. fewer libraries at 1M, where one
single-threaded HNSW build takes 10-25 minutes on a shared 2-core machine).

`--store-size N` instead measures mmserve.store itself on N vectors (upserts, first load,
reopen, search with filters of several selectivities), written to
bench-results/search-store.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

DIM = 384
K = 10
SEED = 1234
ANN_QUERIES = 1000  # queries timed for each HNSW setting
EXACT_QUERIES = 50  # brute force at 1M takes ~0.1-1 s a query
EF_SEARCH = (32, 64, 128, 256, 512)
M = 16
EF_CONSTRUCTION = 64
PREFIXES = (1_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 1_000_000)
WORKERS = ("numpy", "faiss-flat", "sqlite-vec", "usearch-f32", "usearch-f16", "usearch-i8")
WORKERS += ("hnswlib", "faiss-hnsw")
ONE_THREAD = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench-results" / "vector-index.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--libs", nargs="+", default=list(WORKERS), choices=WORKERS)
    parser.add_argument("--ef-construction", type=int, default=EF_CONSTRUCTION)
    parser.add_argument(
        "--lowrank",
        type=int,
        default=0,
        metavar="R",
        help="vectors near a random R-dimensional subspace (like real embeddings) instead of "
        "uniformly random ones",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--append", action="store_true", help="add to the runs already in --out (same settings)"
    )
    parser.add_argument(
        "--store-size",
        type=int,
        help="instead: measure mmserve.store end to end on a collection of this many vectors",
    )
    parser.add_argument("--worker", choices=WORKERS, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(run_worker(args.worker, args.data, args.ef_construction)))
        return
    if args.store_size:
        result = measure_store(args.store_size)
        out = args.out.with_name("search-store.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"machine": machine(), **result}, indent=2))
        print(f"written to {out}")
        return

    report: dict[str, Any] = {"machine": machine(), "dim": DIM, "k": K, "m": M}
    report["ef_construction"] = args.ef_construction
    report["data"] = f"lowrank-{args.lowrank}" if args.lowrank else "random"
    report["runs"] = json.loads(args.out.read_text())["runs"] if args.append else []
    with tempfile.TemporaryDirectory(prefix="bench-vi-") as tmp:
        for size in args.sizes:
            data = Path(tmp) / str(size)
            make_data(data, size, args.lowrank)
            for lib in args.libs:
                result = run_subprocess(lib, data, args.ef_construction)
                result.update(size=size, lib=lib)
                report["runs"].append(result)
                print_row(result)
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(json.dumps(report, indent=2))
    print()
    print_table(report)
    print(f"\nwritten to {args.out}")


def machine() -> dict[str, Any]:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if "model name" in line),
        platform.processor(),
    )
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version()}


def unit_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    vectors = rng.standard_normal((n, DIM), dtype=np.float32)  # (n, DIM)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def lowrank_vectors(rng: np.random.Generator, basis: np.ndarray, n: int) -> np.ndarray:
    """Unit vectors near the span of `basis` (rank, DIM): structure like real embeddings',
    whose neighbours are much nearer than the rest (noise of 30% of the signal's scale)."""
    rank = len(basis)
    vectors = rng.standard_normal((n, rank), dtype=np.float32) @ basis  # (n, DIM)
    vectors += 0.3 * np.sqrt(rank) * rng.standard_normal((n, DIM), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def make_data(folder: Path, size: int, lowrank: int = 0) -> None:
    """Base vectors, queries, and the exact top-K of every query (the recall reference)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(SEED)
    if lowrank:
        basis = rng.standard_normal((lowrank, DIM), dtype=np.float32)
        base, queries = (lowrank_vectors(rng, basis, n) for n in (size, ANN_QUERIES))
    else:
        base = unit_vectors(rng, size)
        queries = unit_vectors(rng, ANN_QUERIES)
    truth = np.empty((ANN_QUERIES, K), dtype=np.int64)
    for start in range(0, ANN_QUERIES, 100):  # (100, size) scores at a time
        scores = queries[start : start + 100] @ base.T
        top = np.argpartition(-scores, K, axis=1)[:, :K]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
        truth[start : start + 100] = np.take_along_axis(top, order, axis=1)
    np.save(folder / "base.npy", base)
    np.save(folder / "queries.npy", queries)
    np.save(folder / "truth.npy", truth)


def run_subprocess(lib: str, data: Path, ef_construction: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--worker", lib, "--data", str(data)]
    command += ["--ef-construction", str(ef_construction)]
    done = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, **ONE_THREAD}, check=False
    )
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def rss_bytes() -> int:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def run_worker(lib: str, data: Path, ef_construction: int) -> dict[str, Any]:
    base = np.load(data / "base.npy")
    queries = np.load(data / "queries.npy")
    truth = np.load(data / "truth.npy")
    index = ADAPTERS[lib](len(base), ef_construction)
    before = rss_bytes()
    started = time.perf_counter()
    index.build(base)
    result: dict[str, Any] = {"build_s": time.perf_counter() - started}
    result["rss_increase_mb"] = (rss_bytes() - before) / 2**20
    result["file"] = file_cost(index, data)
    settings = EF_SEARCH if index.approximate else (None,)
    n_queries = ANN_QUERIES if index.approximate else EXACT_QUERIES
    result["search"] = [time_queries(index, queries[:n_queries], truth, ef) for ef in settings]
    if lib == "numpy":
        result["exact_prefix_p50_ms"] = exact_by_prefix(base, queries[:EXACT_QUERIES])
    return result


def file_cost(index: Any, data: Path) -> dict[str, float] | None:
    path = data / "index.bin"
    started = time.perf_counter()
    if not index.save(path):
        return None
    saved = time.perf_counter() - started
    started = time.perf_counter()
    index.load(path)
    loaded = time.perf_counter() - started
    size = path.stat().st_size
    path.unlink()
    return {"save_s": saved, "load_s": loaded, "mb": size / 2**20}


def time_queries(
    index: Any, queries: np.ndarray, truth: np.ndarray, ef: int | None
) -> dict[str, Any]:
    if ef is not None:
        index.set_ef(ef)
    index.search(queries[0], K)  # warm-up
    latencies, hits = [], 0
    started = time.perf_counter()
    for i, query in enumerate(queries):
        t0 = time.perf_counter()
        found = index.search(query, K)
        latencies.append(time.perf_counter() - t0)
        hits += len(set(found.tolist()) & set(truth[i].tolist()))
    total = time.perf_counter() - started
    return {
        "ef": ef,
        "recall_at_10": hits / (K * len(queries)),
        "p50_ms": float(np.percentile(latencies, 50) * 1000),
        "p99_ms": float(np.percentile(latencies, 99) * 1000),
        "qps": len(queries) / total,
    }


def exact_by_prefix(base: np.ndarray, queries: np.ndarray) -> dict[int, float]:
    """numpy exact search p50 over the first n vectors: where exact stops being cheap."""
    out = {}
    for n in (p for p in PREFIXES if p <= len(base)):
        matrix = np.ascontiguousarray(base[:n])
        latencies = []
        for query in queries:
            t0 = time.perf_counter()
            scores = matrix @ query
            np.argpartition(-scores, K)[:K]
            latencies.append(time.perf_counter() - t0)
        out[n] = float(np.median(latencies) * 1000)
    return out


class Exact:
    """numpy brute force: the store's exact path."""

    approximate = False

    def __init__(self, size: int, ef_construction: int) -> None:
        self.matrix = np.empty((0, DIM), dtype=np.float32)

    def build(self, vectors: np.ndarray) -> None:
        self.matrix = vectors.copy()

    def search(self, query: np.ndarray, k: int) -> np.ndarray:
        scores = self.matrix @ query
        top = np.argpartition(-scores, k)[:k]
        return top[np.argsort(-scores[top])]

    def save(self, path: Path) -> bool:
        return False


class FaissFlat(Exact):
    def __init__(self, size: int, ef_construction: int) -> None:
        import faiss

        faiss.omp_set_num_threads(1)
        self.index = faiss.IndexFlatIP(DIM)

    def build(self, vectors: np.ndarray) -> None:
        self.index.add(vectors)

    def search(self, query: np.ndarray, k: int) -> np.ndarray:
        return self.index.search(query[None, :], k)[1][0]


class SqliteVec(Exact):
    """vec0 virtual table, KNN by full scan (sqlite-vec 0.1 has no ANN index)."""

    def __init__(self, size: int, ef_construction: int) -> None:
        import apsw
        import sqlite_vec

        self.db = apsw.Connection(":memory:")
        self.db.enable_load_extension(True)
        self.db.load_extension(sqlite_vec.loadable_path())
        self.db.execute(f"CREATE VIRTUAL TABLE v USING vec0(embedding float[{DIM}])")

    def build(self, vectors: np.ndarray) -> None:
        with self.db:
            self.db.executemany(
                "INSERT INTO v(rowid, embedding) VALUES (?, ?)",
                ((i, v.tobytes()) for i, v in enumerate(vectors)),
            )

    def search(self, query: np.ndarray, k: int) -> np.ndarray:
        rows = self.db.execute(
            "SELECT rowid FROM v WHERE embedding MATCH ? AND k = ? ORDER BY distance",
            (query.tobytes(), k),
        )
        return np.array([r[0] for r in rows])


class Usearch:
    approximate = True
    dtype = "f32"

    def __init__(self, size: int, ef_construction: int) -> None:
        from usearch.index import Index

        self.make = lambda: Index(
            ndim=DIM, metric="ip", dtype=self.dtype, connectivity=M, expansion_add=ef_construction
        )
        self.index = self.make()

    def build(self, vectors: np.ndarray) -> None:
        self.index.add(np.arange(len(vectors)), vectors, threads=1)

    def set_ef(self, ef: int) -> None:
        self.index.expansion_search = ef

    def search(self, query: np.ndarray, k: int) -> np.ndarray:
        return self.index.search(query, k, threads=1).keys

    def save(self, path: Path) -> bool:
        self.index.save(str(path))
        return True

    def load(self, path: Path) -> None:
        self.make().load(str(path))


class UsearchF16(Usearch):
    dtype = "f16"


class UsearchI8(Usearch):
    dtype = "i8"


class Hnswlib:
    approximate = True

    def __init__(self, size: int, ef_construction: int) -> None:
        import hnswlib

        self.lib = hnswlib
        self.size = size
        self.index = hnswlib.Index(space="ip", dim=DIM)
        self.index.init_index(max_elements=size, ef_construction=ef_construction, M=M)
        self.index.set_num_threads(1)

    def build(self, vectors: np.ndarray) -> None:
        self.index.add_items(vectors, np.arange(len(vectors)), num_threads=1)

    def set_ef(self, ef: int) -> None:
        self.index.set_ef(ef)

    def search(self, query: np.ndarray, k: int) -> np.ndarray:
        return self.index.knn_query(query, k=k, num_threads=1)[0][0]

    def save(self, path: Path) -> bool:
        self.index.save_index(str(path))
        return True

    def load(self, path: Path) -> None:
        self.lib.Index(space="ip", dim=DIM).load_index(str(path), max_elements=self.size)


class FaissHnsw:
    approximate = True

    def __init__(self, size: int, ef_construction: int) -> None:
        import faiss

        faiss.omp_set_num_threads(1)
        self.faiss = faiss
        self.index = faiss.IndexHNSWFlat(DIM, M, faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = ef_construction

    def build(self, vectors: np.ndarray) -> None:
        self.index.add(vectors)

    def set_ef(self, ef: int) -> None:
        self.index.hnsw.efSearch = ef

    def search(self, query: np.ndarray, k: int) -> np.ndarray:
        return self.index.search(query[None, :], k)[1][0]

    def save(self, path: Path) -> bool:
        self.faiss.write_index(self.index, str(path))
        return True

    def load(self, path: Path) -> None:
        self.faiss.read_index(str(path))


ADAPTERS: dict[str, Any] = {
    "numpy": Exact,
    "faiss-flat": FaissFlat,
    "sqlite-vec": SqliteVec,
    "usearch-f32": Usearch,
    "usearch-f16": UsearchF16,
    "usearch-i8": UsearchI8,
    "hnswlib": Hnswlib,
    "faiss-hnsw": FaissHnsw,
}


STORE_FILTERS = {  # share of items that pass
    "none": None,
    "50%": {"half": True},
    "10%": {"tenth": 3},
    "1% (range)": {"year": {"gte": 2000, "lt": 2001}},
    "0.1%": {"rare": True},
}


def measure_store(size: int) -> dict[str, Any]:
    """Upserts, first load, reopen and search latencies of mmserve.store itself."""
    from mmserve.store import SearchStore

    rng = np.random.default_rng(SEED)
    result: dict[str, Any] = {"size": size}
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        store = SearchStore(tmp)
        store.create_collection("c", model="bench", dim=DIM)
        started = time.perf_counter()
        for _ in range(100):
            store.upsert_items("c", [{"vector": unit_vectors(rng, 1)[0]}])
        result["upsert_1_item_ms"] = (time.perf_counter() - started) * 10
        started = time.perf_counter()
        for start in range(0, size - 100, 1000):
            vectors = unit_vectors(rng, min(1000, size - 100 - start))
            store.upsert_items("c", [_store_item(start + j, v) for j, v in enumerate(vectors)])
        result["upsert_batch_1000_items_per_s"] = (size - 100) / (time.perf_counter() - started)
        started = time.perf_counter()
        status = store.index_status("c")  # loads the vectors; builds the graph if large
        result["first_load_s"] = time.perf_counter() - started
        result["search"] = status["search"]
        store.close()
        store = SearchStore(tmp)
        started = time.perf_counter()
        result["reopen_graph"] = store.index_status("c")["graph"]
        result["reopen_load_s"] = time.perf_counter() - started
        queries = unit_vectors(rng, 50)
        result["search_p50_ms"] = {}
        for name, filter_ in STORE_FILTERS.items():
            latencies = []
            for query in queries:
                t0 = time.perf_counter()
                store.search("c", query, top_k=10, filter=filter_)
                latencies.append(time.perf_counter() - t0)
            result["search_p50_ms"][name] = float(np.median(latencies) * 1000)
        store.close()
    print(json.dumps(result, indent=2))
    return result


def _store_item(i: int, vector: np.ndarray) -> dict[str, Any]:
    metadata = {"half": i % 2 == 0, "tenth": i % 10, "year": 2000 + i % 100, "rare": i % 1000 == 0}
    return {"vector": vector, "modality": "text", "content_hash": f"h{i}", "metadata": metadata}


def print_row(r: dict[str, Any]) -> None:
    if "error" in r:
        print(f"{r['size']:>9,} {r['lib']:<12} failed: {r['error']}", flush=True)
        return
    best = r["search"][-1]
    print(
        f"{r['size']:>9,} {r['lib']:<12} build {r['build_s']:8.1f} s  "
        f"rss +{r['rss_increase_mb']:7.0f} MB  recall {best['recall_at_10']:.3f}  "
        f"p50 {best['p50_ms']:7.3f} ms",
        flush=True,
    )


def print_table(report: dict[str, Any]) -> None:
    m = report["machine"]
    print(f"{m['cpu']}, {m['cores']} cores; {report.get('data', 'random')} data, ", end="")
    print(f"dim {report['dim']}, M {report['m']}, ", end="")
    print(f"efConstruction {report['ef_construction']}, one thread for builds and queries\n")
    columns = ("size", "library", "build s", "RSS +MB", "file MB", "ef", "recall@10")
    columns += ("p50 ms", "p99 ms", "q/s")
    print("| " + " | ".join(columns) + " |")
    print("|---" * len(columns) + "|")
    for r in report["runs"]:
        if "error" in r:
            print(f"| {r['size']:,} | {r['lib']} | failed: {r['error']} |")
            continue
        file_mb = f"{r['file']['mb']:.0f}" if r.get("file") else "-"
        built = f"{r['build_s']:.1f} | {r['rss_increase_mb']:.0f} | {file_mb}"
        for i, s in enumerate(r["search"]):
            print(
                f"| {r['size']:,} | {r['lib']} | {built if i == 0 else ' | | '} | "
                f"{s['ef'] or 'exact'} | {s['recall_at_10']:.3f} | {s['p50_ms']:.3f} | "
                f"{s['p99_ms']:.3f} | {s['qps']:.0f} |"
            )
    for r in report["runs"]:
        if "exact_prefix_p50_ms" in r:
            cells = ", ".join(f"{int(n):,}: {ms:.2f}" for n, ms in r["exact_prefix_p50_ms"].items())
            print(f"\nnumpy exact p50 ms by collection size ({r['size']:,} run): {cells}")


if __name__ == "__main__":
    main()
