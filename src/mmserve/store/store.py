"""SearchStore: the one object the HTTP layer holds (in app.extensions["mmserve"]).

    store = SearchStore(config.data_dir / "search")
    store.create_collection("photos", model="clip", dim=512)
    ids = store.upsert_items("photos", [{"vector": v, "modality": "image",
                                         "content_hash": h, "metadata": {"year": 2021}}])
    hits = store.search("photos", query, top_k=10, filter={"year": {"gte": 2020}})

Layout of data_dir: store.sqlite3 (+ -wal, -shm), indexes/<collection id>.{usearch,json,lock}.
Thread-safe; several processes may open the same data_dir (SQLite arbitrates the writes,
each process keeps its own in-memory index and catches up from SQLite's change log).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmserve.errors import NotFound
from mmserve.store import keywords
from mmserve.store.cache import EmbeddingCache
from mmserve.store.collections import CollectionRows
from mmserve.store.db import Database
from mmserve.store.filters import compile_filter
from mmserve.store.fusion import reciprocal_rank_fusion
from mmserve.store.ingest import IngestProgress
from mmserve.store.jobs import JobStore
from mmserve.store.records import (
    Collection,
    Item,
    ItemInput,
    Page,
    SearchHit,
    check_model,
    check_top_k,
    one_vector,
)
from mmserve.store.search import CollectionIndex
from mmserve.store.settings import StoreConfig
from mmserve.store.vector_index import IndexFiles

DB_FILE = "store.sqlite3"
HYBRID_DEPTH = 50  # candidates each ranking gives the fusion (at least top_k)
INDEX_FOLDER = "indexes"


class SearchStore:
    def __init__(self, data_dir: str | Path, config: StoreConfig | None = None):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config = config or StoreConfig()
        self.db = Database(self.data_dir / DB_FILE, busy_timeout_s=self.config.busy_timeout_s)
        self.rows = CollectionRows(self.db)
        self.embedding_cache = EmbeddingCache(self.db)
        self.jobs = JobStore(self.db)
        self.ingest = IngestProgress(self.db, self.rows)
        self.jobs.interrupt_orphans()  # jobs whose process died while running them
        self._indexes: dict[str, CollectionIndex] = {}
        self._indexes_lock = threading.Lock()

    # Collections

    def create_collection(
        self,
        name: str,
        *,
        model: str,
        dim: int,
        metadata_schema: Mapping[str, str] | None = None,
    ) -> Collection:
        """metadata_schema: {field: "string" | "integer" | "number" | "boolean" | "array" |
        "object"}; fields are optional, and checked on every upsert when present."""
        return self.rows.create(name, model=model, dim=dim, metadata_schema=metadata_schema)

    def get_collection(self, name: str) -> Collection:
        return self.rows.get(name)

    def list_collections(self) -> list[Collection]:
        return self.rows.all()

    def delete_collection(self, name: str) -> None:
        collection_id = self.rows.delete(name)
        with self._indexes_lock:
            index = self._indexes.pop(collection_id, None)
        (index.files if index else IndexFiles(self._folder, collection_id)).remove()

    # Items

    def upsert_items(
        self,
        collection: str,
        items: Sequence[ItemInput | Mapping[str, Any]],
        *,
        model: str | None = None,
    ) -> list[str]:
        """Insert or replace items; return their ids in order (made for items without one).
        Durable on return. `model`: the model that embedded the vectors, refused unless it
        is the collection's (None: the caller vouches for raw vectors)."""
        found, ids = self.rows.upsert(collection, items, model=model)
        self._refresh_if_loaded(found.id)
        return ids

    def get_item(self, collection: str, item_id: str) -> Item:
        return self.rows.get_item(collection, item_id)

    def delete_item(self, collection: str, item_id: str) -> None:
        if self.delete_items(collection, [item_id]) == 0:
            raise NotFound(f"item {item_id!r} is not in collection {collection!r}", param="id")

    def delete_items(self, collection: str, item_ids: Sequence[str]) -> int:
        """Delete the items that exist; return how many did."""
        found, deleted = self.rows.delete_items(collection, item_ids)
        if deleted:
            self._refresh_if_loaded(found.id)
        return deleted

    def list_items(self, collection: str, *, limit: int = 100, cursor: str | None = None) -> Page:
        return self.rows.list_items(collection, limit=limit, cursor=cursor)

    # Search

    def search(
        self,
        collection: str,
        vector: Sequence[float] | np.ndarray,
        *,
        top_k: int = 10,
        filter: Mapping[str, Any] | None = None,
        model: str | None = None,
        exclude_ids: Sequence[str] = (),
    ) -> list[SearchHit]:
        """The top_k items by cosine similarity that pass `filter` (see filters.py)."""
        found = self.rows.find(collection)
        check_model(found, model)
        check_top_k(top_k, self.config.max_top_k)
        query = one_vector(vector, found.dim, "vector")  # (dim,)
        condition = compile_filter(filter, found.metadata_schema) if filter else None
        fetch = top_k + len(exclude_ids)
        keys, scores = self._index(found).search(query, fetch, condition)
        excluded = set(exclude_ids)
        return [hit for hit in self.rows.hits(keys, scores) if hit.id not in excluded][:top_k]

    def search_keywords(
        self,
        collection: str,
        text: str,
        *,
        top_k: int = 10,
        filter: Mapping[str, Any] | None = None,
    ) -> list[SearchHit]:
        """The top_k items by BM25 over their text that pass `filter`; score = -bm25."""
        found = self.rows.find(collection)
        check_top_k(top_k, self.config.max_top_k)
        condition = compile_filter(filter, found.metadata_schema) if filter else None
        with self.db.read() as conn:
            keys, scores = keywords.search(conn, found.id, text, top_k, condition)
        return self.rows.hits(keys, scores)

    def search_hybrid(
        self,
        collection: str,
        vector: Sequence[float] | np.ndarray,
        text: str,
        *,
        top_k: int = 10,
        filter: Mapping[str, Any] | None = None,
        model: str | None = None,
        weights: Mapping[str, float] | None = None,
    ) -> list[SearchHit]:
        """Vector and keyword rankings fused by reciprocal rank (fusion.py); score = the
        fused score. `weights`: {"vector": w, "keyword": w}, 1 each by default."""
        found = self.rows.find(collection)
        check_model(found, model)
        check_top_k(top_k, self.config.max_top_k)
        query = one_vector(vector, found.dim, "vector")  # (dim,)
        condition = compile_filter(filter, found.metadata_schema) if filter else None
        depth = max(top_k, HYBRID_DEPTH)
        by_vector, _ = self._index(found).search(query, depth, condition)
        with self.db.read() as conn:
            by_keyword, _ = keywords.search(conn, found.id, text, depth, condition)
        keys, scores = reciprocal_rank_fusion(
            {"vector": by_vector, "keyword": by_keyword}, weights or {}, top_k
        )
        return self.rows.hits(keys, scores)

    def search_by_item(
        self,
        collection: str,
        item_id: str,
        *,
        top_k: int = 10,
        filter: Mapping[str, Any] | None = None,
        include_self: bool = False,
    ) -> list[SearchHit]:
        """Items like an existing one (its stored vector as the query)."""
        item = self.rows.get_item(collection, item_id)
        exclude = () if include_self else (item_id,)
        return self.search(collection, item.vector, top_k=top_k, filter=filter, exclude_ids=exclude)

    # Maintenance

    def index_status(self, collection: str) -> dict[str, Any]:
        """How the collection is searched and where its graph came from (loads it)."""
        index = self._index(self.rows.find(collection))
        with index.lock.writing():
            index.refresh()
            return index.status()

    def open_indexes(self) -> None:
        """Load every collection's index now (replaying or rebuilding as needed) rather than
        on its first search: call it at server start, from a background thread."""
        for collection in self.rows.all():
            self.index_status(collection.name)

    def rebuild_index(self, collection: str) -> None:
        """Declare every index file of the collection stale; the next search rebuilds."""
        found = self.rows.find(collection)
        with self.db.write() as conn:
            conn.execute(
                "UPDATE collections SET index_epoch = index_epoch + 1 WHERE id = ?", (found.id,)
            )

    def flush(self) -> None:
        """Save every graph with unsaved changes (done at close() too)."""
        with self._indexes_lock:
            indexes = list(self._indexes.values())
        for index in indexes:
            with index.lock.writing():
                if index.unsaved_changes:
                    index.save()

    def close(self) -> None:
        self.flush()
        self.db.close()

    def __enter__(self) -> SearchStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def _folder(self) -> Path:
        return self.data_dir / INDEX_FOLDER

    def _index(self, collection: Collection) -> CollectionIndex:
        with self._indexes_lock:
            index = self._indexes.get(collection.id)
            if index is None:
                index = CollectionIndex(
                    collection.id, collection.dim, self.db, self._folder, self.config
                )
                self._indexes[collection.id] = index
            return index

    def _refresh_if_loaded(self, collection_id: str) -> None:
        """Apply a write to this process's index now, so searches do not pay for it."""
        with self._indexes_lock:
            index = self._indexes.get(collection_id)
        if index is not None and index.epoch is not None:
            with index.lock.writing():
                index.refresh()
