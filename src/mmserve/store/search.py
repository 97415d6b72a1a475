"""Vector search over a collection: its in-memory index kept current with SQLite.

A CollectionIndex is loaded on first use: every vector is read from SQLite into a matrix;
a collection past `exact_search_max` also gets an HNSW graph, read from its file when the
sidecar says the file reflects this collection at an index_epoch equal to SQLite's and a
change id not past SQLite's, then brought up to date by replaying the changes since that
id (items.seq / tombstones.seq); otherwise (missing, corrupt, other epoch, ahead of
SQLite, wrong count) it is rebuilt from the matrix and saved. Before every search, and
after every upsert in this process, the index applies the changes made since it last
looked (by any process), so the graph is extended incrementally, never rebuilt per write.

Strategy (why: docs/search-store.md):
- no filter: one matrix product over all rows (no graph), or the graph's top_k candidates
  re-scored exactly from the matrix;
- a filter seen before: its passing keys are known (filter_cache.py). Few of them
  (<= EXACT_FILTERED_MAX): score just those rows exactly. Many: over-fetch from the graph
  by the filter's selectivity (top_k / share passing, twice over) and keep the candidates
  that pass; exact over the passing rows if still too few pass;
- a filter not seen before: with a graph, first one over-fetch of top_k * overfetch
  candidates checked in SQLite (a filter most rows pass ends here, with no scan); else
  SQLite selects every passing key once (a scan of the metadata), kept for next time.
Each collection has a readers-writer lock: searches read the matrix and graph together
(numpy's products release the GIL); applying changes and saving take it alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmserve.errors import NotFound
from mmserve.store.collections import CollectionRows
from mmserve.store.db import Database
from mmserve.store.filter_cache import Condition, FilterCache
from mmserve.store.rwlock import ReadWriteLock
from mmserve.store.settings import StoreConfig
from mmserve.store.vector_index import AnnIndex, IndexFiles, Sidecar, VectorMatrix

LARGE_CATCH_UP = 10_000  # changes; past it HNSW inserts use every core
# A filter passing at most this many rows is searched exactly over them. Measured at 100k
# 384-d rows: gathering and scoring 2,000 rows costs about one graph search for 100-200
# candidates; 10,000 rows cost as much as one for 1,000.
EXACT_FILTERED_MAX = 2_000
SELECTIVITY_MARGIN = 2  # over-fetch twice the candidates the filter's share predicts


class CollectionIndex:
    def __init__(
        self, collection_id: str, dim: int, db: Database, folder: Path, config: StoreConfig
    ):
        self.collection_id = collection_id
        self.dim = dim
        self.db = db
        self.config = config
        self.files = IndexFiles(folder, collection_id)
        self.lock = ReadWriteLock()
        self.rows = CollectionRows(db)
        self.filters = FilterCache()
        self.matrix = VectorMatrix(dim)
        self.ann: AnnIndex | None = None
        self.epoch: int | None = None  # None: not loaded yet
        self.applied_seq = 0
        self.unsaved_changes = 0  # applied to the graph since it was last saved
        self.origin = "not loaded"  # how the graph came to be, for index_status()

    def catch_up(self) -> None:
        """Apply the changes committed since the last look, if any, under the write lock."""
        with self.db.read() as conn:
            position = self._position(conn)
        if position != (self.applied_seq, self.epoch):
            with self.lock.writing():
                self.refresh()

    def _position(self, conn: Any) -> tuple[int, int]:
        """(last change applied to the rows, index epoch) as committed in SQLite."""
        row = conn.execute(
            "SELECT last_seq, index_epoch FROM collections WHERE id = ?",
            (self.collection_id,),
        ).fetchone()
        if row is None:
            raise NotFound("the collection was deleted", param="collection")
        return row[0], row[1]

    def refresh(self) -> None:
        """Apply every change committed since the last look (hold self.lock.writing())."""
        with self.db.read() as conn:
            last_seq, epoch = self._position(conn)
            if epoch != self.epoch:
                snapshot = self._read_all(conn, last_seq, epoch)
            elif last_seq == self.applied_seq:
                return
            else:
                keys, vectors, gone = _changes_since(conn, self.collection_id, self.applied_seq)
        # Out of the read transaction: a long one would keep SQLite from checkpointing its WAL
        # for as long as a graph takes to load or rebuild.
        if epoch != self.epoch:
            self.filters.clear()
            return self._load(snapshot)
        self.filters.apply_changes(keys.tolist(), gone, self._passing)
        self.matrix.remove(gone)
        self.matrix.upsert(keys, _decoded(vectors, self.dim))
        if self.ann is not None:
            self.ann.remove([k for k in gone if k in self.ann.index])
            # A large catch-up (another process ingested) gets every core, like a rebuild.
            threads = 0 if len(keys) > LARGE_CATCH_UP else 1
            self.ann.add(
                keys, self.matrix.rows[self.matrix.rows_for(keys.tolist())], threads=threads
            )
            self.unsaved_changes += len(keys) + len(gone)
        self.applied_seq = last_seq
        self._build_graph_if_large()
        if self.unsaved_changes >= self.config.persist_every_changes:
            self.save()

    def search(
        self, query: np.ndarray, top_k: int, condition: Condition | None
    ) -> tuple[list[int], list[float]]:
        """(keys, cosine scores), best first; `condition` is a compiled filter or None."""
        self.catch_up()
        with self.lock.reading():
            if condition is None and self.ann is None:
                keys, scores = self.matrix.search(query, top_k)
            elif condition is None:
                keys, scores = self._rescored(query, self.ann_candidates(query, top_k), top_k)
            else:
                keys, scores = self._filtered(query, top_k, condition)
        return keys.tolist(), scores.tolist()

    def ann_candidates(self, query: np.ndarray, count: int) -> list[int]:
        assert self.ann is not None
        count = min(count, len(self.ann))
        return self.ann.search(query, count).tolist() if count else []

    def save(self) -> None:
        """Write the graph and its sidecar (hold self.lock.writing())."""
        if self.ann is None or self.epoch is None:
            return
        with self.db.read() as conn:
            exists = conn.execute(
                "SELECT 1 FROM collections WHERE id = ?", (self.collection_id,)
            ).fetchone()
        if not exists:  # deleted by another process: leave no orphan files behind
            self.files.remove()
            return
        sidecar = Sidecar(
            collection_id=self.collection_id,
            epoch=self.epoch,
            applied_seq=self.applied_seq,
            count=len(self.ann),
            dim=self.dim,
            dtype=self.config.hnsw_dtype,
            index_bytes=0,  # filled in by IndexFiles.save
        )
        self.files.save(self.ann, sidecar)
        self.unsaved_changes = 0

    def status(self) -> dict[str, Any]:
        return {
            "search": "approximate" if self.ann is not None else "exact",
            "vectors": len(self.matrix),
            "applied_seq": self.applied_seq,
            "epoch": self.epoch,
            "graph": self.origin,
            "unsaved_changes": self.unsaved_changes,
        }

    def _filtered(
        self, query: np.ndarray, top_k: int, condition: Condition
    ) -> tuple[np.ndarray, np.ndarray]:
        passing = self.filters.get(condition)
        if passing is None and self.ann is not None:
            found = self._overfetched(query, top_k, condition)
            if found is not None:
                return found
        if passing is None:
            passing = self.filters.put(condition, self._passing(*condition, None))
        return self._among(query, top_k, passing)

    def _overfetched(
        self, query: np.ndarray, top_k: int, condition: Condition
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """For a filter of unknown selectivity: graph candidates checked in SQLite, fetched
        again as many as the share that passed predicts top_k needs. None when that share
        predicts at most EXACT_FILTERED_MAX passing rows (scanning once for them makes this
        and every later search with the filter exact and cheap) or a fetch past
        max_ann_fetch: the caller scans."""
        assert self.ann is not None
        fetch = top_k * self.config.overfetch
        while True:
            candidates = self.ann_candidates(query, fetch)
            kept = set(self._passing(*condition, candidates))
            if len(kept) >= top_k or len(candidates) >= len(self.ann):
                return self._rescored(query, [k for k in candidates if k in kept], top_k)
            share = len(kept) / max(1, len(candidates))
            needed = SELECTIVITY_MARGIN * top_k / max(share, 1 / len(self.ann))
            few_pass = share * len(self.ann) <= EXACT_FILTERED_MAX
            if few_pass or fetch >= self.config.max_ann_fetch or needed > self.config.max_ann_fetch:
                return None
            fetch = max(2 * fetch, round(needed))

    def _among(
        self, query: np.ndarray, top_k: int, passing: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The top_k of the rows whose keys are `passing` (sorted): exactly when they are
        few; else the graph's candidates, over-fetched by the share of rows that pass."""
        if self.ann is not None and len(passing) > EXACT_FILTERED_MAX:
            share = len(passing) / max(1, len(self.ann))
            fetch = max(top_k * self.config.overfetch, round(SELECTIVITY_MARGIN * top_k / share))
            fetch = min(fetch, self.config.max_ann_fetch, len(self.ann))
            candidates = np.asarray(self.ann_candidates(query, fetch), dtype=np.int64)
            kept = candidates[np.isin(candidates, passing, assume_unique=True)]
            if len(kept) >= top_k:
                return self._rescored(query, kept.tolist(), top_k)
        return self.matrix.search(query, top_k, self.matrix.rows_for(passing.tolist()))

    def _passing(self, sql: str, params: list[Any], among: list[int] | None) -> list[int]:
        """Keys that pass a compiled filter in SQLite (of `among`, or of every row)."""
        return self.rows.matching_keys(self.collection_id, sql, params, among)

    def _rescored(
        self, query: np.ndarray, keys: list[int], top_k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact float32 scores for ANN candidates (the graph stores f16)."""
        return self.matrix.search(query, top_k, self.matrix.rows_for(keys))

    def _read_all(self, conn: Any, last_seq: int, epoch: int) -> Snapshot:
        """Every vector, and the changes a graph file on disk lacks, in one snapshot."""
        rows = conn.execute(
            "SELECT key, vector FROM items WHERE collection_id = ? ORDER BY key",
            (self.collection_id,),
        ).fetchall()
        snapshot = Snapshot(rows, last_seq, epoch, None, None)
        if len(rows) > self.config.exact_search_max:
            snapshot.sidecar = sidecar = self.files.read_sidecar()
            if sidecar is not None and sidecar.epoch == epoch and sidecar.applied_seq <= last_seq:
                keys, _, gone = _changes_since(conn, self.collection_id, sidecar.applied_seq)
                snapshot.replay = (keys, gone)
        return snapshot

    def _load(self, snapshot: Snapshot) -> None:
        matrix = VectorMatrix(self.dim)
        if snapshot.rows:
            rows = snapshot.rows
            keys = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            matrix.upsert(keys, _decoded([r[1] for r in rows], self.dim))
        self.matrix, self.ann = matrix, None
        self.epoch, self.applied_seq = snapshot.epoch, snapshot.last_seq
        self.origin = "none (exact search)"
        if len(matrix) > self.config.exact_search_max:
            self._open_graph(snapshot)

    def _open_graph(self, snapshot: Snapshot) -> None:
        """The graph from its file plus the changes since, or rebuilt from the matrix."""
        expected, epoch, last_seq = snapshot.sidecar, snapshot.epoch, snapshot.last_seq
        if expected is None:
            return self._rebuild("file missing or unreadable")
        if expected.collection_id != self.collection_id or expected.epoch != epoch:
            return self._rebuild(f"stale epoch {expected.epoch} (SQLite: {epoch})")
        if expected.applied_seq > last_seq:
            return self._rebuild(f"file ahead of SQLite ({expected.applied_seq} > {last_seq})")
        ann = AnnIndex(self.dim, self.config)
        sidecar = self.files.load(ann, self.dim, self.config.hnsw_dtype)
        if sidecar is None:
            return self._rebuild("file missing or unreadable")
        if sidecar != expected or snapshot.replay is None:
            return self._rebuild("file replaced by another process while loading")
        keys, gone = snapshot.replay
        ann.remove([k for k in gone if k in ann.index])
        ann.add(keys, self.matrix.rows[self.matrix.rows_for(keys.tolist())])
        if len(ann) != len(self.matrix):
            return self._rebuild(f"count {len(ann)} after replay, SQLite has {len(self.matrix)}")
        self.ann = ann
        replayed = len(keys) + len(gone)
        self.origin = f"file (+{replayed} changes replayed)"
        self.unsaved_changes = replayed
        if replayed:
            self.save()

    def _rebuild(self, reason: str) -> None:
        self.ann = AnnIndex(self.dim, self.config)
        size = len(self.matrix)
        # All cores: a rebuild is a one-off recovery, and searches wait for it.
        self.ann.add(self.matrix.keys[:size], self.matrix.rows[:size], threads=0)
        self.origin = f"rebuilt: {reason}"
        self.save()

    def _build_graph_if_large(self) -> None:
        if self.ann is None and len(self.matrix) > self.config.exact_search_max:
            self._rebuild(f"grew past exact_search_max ({self.config.exact_search_max})")


@dataclass
class Snapshot:
    """What a (re)load reads from SQLite in one read transaction."""

    rows: list[tuple[int, bytes]]  # (key, vector blob) of every item
    last_seq: int
    epoch: int
    sidecar: Sidecar | None  # of the graph file, read within the transaction
    replay: tuple[np.ndarray, list[int]] | None  # (keys upserted, deleted) since the file


def _changes_since(
    conn: Any, collection_id: str, seq: int
) -> tuple[np.ndarray, list[bytes], list[int]]:
    """(keys upserted, their vector blobs, keys deleted) after change id `seq`."""
    changed = conn.execute(
        "SELECT key, vector FROM items WHERE collection_id = ? AND seq > ? ORDER BY key",
        (collection_id, seq),
    ).fetchall()
    gone = conn.execute(
        "SELECT key FROM tombstones WHERE collection_id = ? AND seq > ?", (collection_id, seq)
    ).fetchall()
    keys = np.array([r[0] for r in changed], dtype=np.int64)
    return keys, [r[1] for r in changed], [r[0] for r in gone]


def _decoded(blobs: list[bytes], dim: int) -> np.ndarray:
    if not blobs:
        return np.empty((0, dim), dtype=np.float32)
    return np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), dim)  # (n, dim)
