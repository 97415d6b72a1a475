"""In-memory vectors of one collection: a float32 matrix (exact search) and, for large
collections, an HNSW graph (usearch), plus the graph's file and its sidecar.

The matrix is always there: it answers exact searches, re-scores ANN candidates exactly
(the graph stores f16), and is what the graph is rebuilt from. Keys are `items.key`.

Files, per collection, in <data_dir>/indexes/:
    <collection id>.usearch   the graph (usearch's own format)
    <collection id>.json      sidecar: which SQLite state the graph reflects
    <collection id>.lock      flock()ed while the pair is written or read, so two processes
                              never interleave their writes of the two files
Each file is written to a temporary name, fsynced and renamed into place, so a crash
leaves the old file or the new one, never half of one.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from mmserve.files import replaced_atomically, write_atomically
from mmserve.store.combiner import Combiner
from mmserve.store.settings import StoreConfig

SIDECAR_FORMAT = 1


class VectorMatrix:
    """Rows of (key, unit vector); removal moves the last row into the hole."""

    def __init__(self, dim: int):
        self.dim = dim
        self.size = 0
        self.keys = np.empty(0, dtype=np.int64)
        self.rows = np.empty((0, dim), dtype=np.float32)  # (capacity, dim)
        self.row_of: dict[int, int] = {}

    def __len__(self) -> int:
        return self.size

    def upsert(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        if self.size == 0 and len(set(keys.tolist())) == len(keys):  # bulk load: no loop
            self.keys = keys.astype(np.int64)
            self.rows = np.array(vectors, dtype=np.float32, copy=True)  # (n, dim)
            self.size = len(keys)
            self.row_of = dict(zip(keys.tolist(), range(len(keys)), strict=True))
            return
        for key, vector in zip(keys.tolist(), vectors, strict=True):
            row = self.row_of.get(key)
            if row is None:
                row = self._append_row()
                self.keys[row] = key
                self.row_of[key] = row
            self.rows[row] = vector

    def remove(self, keys: list[int]) -> None:
        for key in keys:
            row = self.row_of.pop(key, None)
            if row is None:
                continue
            last = self.size - 1
            if row != last:
                moved = int(self.keys[last])
                self.keys[row] = moved
                self.rows[row] = self.rows[last]
                self.row_of[moved] = row
            self.size = last

    def rows_for(self, keys: list[int]) -> np.ndarray:
        """Row numbers of the keys present (unknown keys skipped)."""
        return np.fromiter((r for r in map(self.row_of.get, keys) if r is not None), dtype=np.int64)

    def search(
        self, query: np.ndarray, k: int, rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(keys, scores) of the k best rows (of `rows`, or all), best first."""
        if rows is None:
            keys, scores = self.keys[: self.size], self.rows[: self.size] @ query
        else:
            keys, scores = self.keys[rows], self.rows[rows] @ query  # (len(rows),)
        if len(scores) > k:
            top = np.argpartition(-scores, k)[:k]
            keys, scores = keys[top], scores[top]
        order = np.argsort(-scores, kind="stable")
        return keys[order], scores[order]

    def _append_row(self) -> int:
        if self.size == len(self.keys):
            capacity = max(1024, 2 * self.size)  # amortised O(1) appends
            self.keys = np.resize(self.keys, capacity)
            rows = np.empty((capacity, self.dim), dtype=np.float32)
            rows[: self.size] = self.rows[: self.size]
            self.rows = rows
        self.size += 1
        return self.size - 1


class AnnIndex:
    """An HNSW graph over unit vectors; inner product = cosine similarity."""

    def __init__(self, dim: int, config: StoreConfig):
        try:  # imported here: only collections past exact_search_max need it
            from usearch.index import Index
        except ImportError as e:
            raise ImportError(
                "usearch is needed to search collections larger than exact_search_max; "
                "install it with `pip install 'mmserve[search]'`"
            ) from e

        self.expansion_search = config.hnsw_expansion_search
        self.search_threads = config.hnsw_search_threads or _cores()
        # One usearch search call at a time: the binding gives a call's queries the search
        # contexts 0..threads-1 with no lock, and the search breadth is the index's. So
        # concurrent searches are gathered into one multi-query call that runs them on
        # every core (combiner.py), whose one leader at a time also sets the breadth.
        self._searches: Combiner[Query, np.ndarray] = Combiner(self._search_all, self._search)
        self.index = Index(
            ndim=dim,
            metric="ip",
            dtype=config.hnsw_dtype,
            connectivity=config.hnsw_connectivity,
            expansion_add=config.hnsw_expansion_add,
            expansion_search=config.hnsw_expansion_search,
        )

    def __len__(self) -> int:
        return len(self.index)

    def add(self, keys: np.ndarray, vectors: np.ndarray, *, threads: int = 1) -> None:
        """Add or replace (a key already there is removed first). One thread by default:
        the request threads and the models share the cores; a rebuild passes 0 (all)."""
        if len(keys) == 0:
            return
        self.remove([k for k in keys.tolist() if k in self.index])
        self.index.add(keys, vectors, threads=threads)

    def remove(self, keys: list[int]) -> None:
        for key in keys:
            self.index.remove(key)

    def search(self, query: np.ndarray, count: int) -> np.ndarray:
        """Keys of about the `count` nearest, best first; the same keys whether this search
        runs alone or in a batch with concurrent ones."""
        return self._searches.run(Query(query, count))

    def _search(self, query: Query) -> np.ndarray:
        self._set_expansion(query.expansion(self.expansion_search))
        matches = self.index.search(query.vector, query.count, threads=1)
        return np.asarray(matches.keys, dtype=np.int64)

    def _search_all(self, queries: Sequence[Query]) -> list[np.ndarray]:
        """One usearch call per search breadth among `queries` (one, unless some over-fetch
        past it): each asks for the most any of its queries wants, and each query keeps its
        first `count` keys. With the same breadth a search finds the same candidates
        whatever count it is asked for, and returns the best first."""
        found: list[np.ndarray] = [np.empty(0, dtype=np.int64)] * len(queries)
        by_expansion: dict[int, list[int]] = {}
        for i, query in enumerate(queries):
            by_expansion.setdefault(query.expansion(self.expansion_search), []).append(i)
        for expansion, members in by_expansion.items():
            self._set_expansion(expansion)
            count = max(queries[i].count for i in members)
            vectors = np.stack([queries[i].vector for i in members])  # (len(members), dim)
            threads = min(len(members), self.search_threads)
            matches = self.index.search(vectors, count, threads=threads)
            keys = np.asarray(matches.keys, dtype=np.int64)  # (len(members), count), padded
            for row, i in enumerate(members):
                found[i] = keys[row, : min(int(matches.counts[row]), queries[i].count)]
        return found

    def _set_expansion(self, expansion: int) -> None:
        if self.index.expansion_search != expansion:
            self.index.expansion_search = expansion  # type: ignore[misc]  # has a setter

    def save(self, path: Path) -> None:
        self.index.save(str(path))

    def load(self, path: Path) -> None:
        self.index.load(str(path))


@dataclass(frozen=True)
class Query:
    vector: np.ndarray  # (dim,) unit
    count: int

    def expansion(self, configured: int) -> int:
        # Over-fetching asks for more candidates than the configured search breadth finds.
        return max(configured, self.count)


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass(frozen=True)
class Sidecar:
    collection_id: str
    epoch: int  # collections.index_epoch the graph was built under
    applied_seq: int  # the graph holds every change up to this collections.last_seq
    count: int  # vectors in the graph
    dim: int
    dtype: str
    index_bytes: int  # size of the graph file written with this sidecar
    format: int = SIDECAR_FORMAT


class IndexFiles:
    def __init__(self, folder: Path, collection_id: str):
        self.folder = folder
        self.graph = folder / f"{collection_id}.usearch"
        self.sidecar = folder / f"{collection_id}.json"
        self.lock = folder / f"{collection_id}.lock"

    def save(self, ann: AnnIndex, sidecar: Sidecar) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._locked(fcntl.LOCK_EX):
            with replaced_atomically(self.graph) as temporary:
                ann.save(temporary)
                size = temporary.stat().st_size
            sidecar = Sidecar(**{**asdict(sidecar), "index_bytes": size})
            write_atomically(self.sidecar, json.dumps(asdict(sidecar)).encode())

    def read_sidecar(self) -> Sidecar | None:
        """The sidecar as it is now (replaced atomically, so whole), or None."""
        try:
            return Sidecar(**json.loads(self.sidecar.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def load(self, ann: AnnIndex, dim: int, dtype: str) -> Sidecar | None:
        """Fill `ann` from the files and return their sidecar, or None if they are missing,
        unreadable or do not fit together (the caller rebuilds from SQLite)."""
        if not self.graph.exists() or not self.sidecar.exists():
            return None
        with self._locked(fcntl.LOCK_SH):
            sidecar = self.read_sidecar()
            if sidecar is None:
                return None
            fits = (
                sidecar.format == SIDECAR_FORMAT
                and sidecar.dim == dim
                and sidecar.dtype == dtype
                and sidecar.index_bytes == self.graph.stat().st_size
            )
            if not fits:
                return None
            try:
                ann.load(self.graph)
            except (RuntimeError, ValueError, OSError):
                return None
        if ann.index.ndim != dim or len(ann) != sidecar.count:
            return None
        return sidecar

    def remove(self) -> None:
        for path in (self.graph, self.sidecar, self.lock):
            with suppress(FileNotFoundError):
                path.unlink()

    @contextmanager
    def _locked(self, mode: int) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.lock, "a+b") as handle:
            fcntl.flock(handle, mode)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
