"""Embedding cache: (model id, content hash) -> vector, shared by every collection and request.

The same image or text is embedded once per model, whichever collection or request it
arrives through. Keyed by the caller's content hash (e.g. sha256 of the bytes), so the
cache never sees the content. Vectors are stored as the model returned them (float32).
There is no eviction yet: rows are ~1.5 KiB for 384-d; `delete_model` drops a model's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence

import numpy as np

from mmserve.errors import InvalidRequest
from mmserve.store.db import Database

LOOKUP_CHUNK = 10_000  # hashes per query: one bound JSON list, no parameter limit


class EmbeddingCache:
    def __init__(self, db: Database):
        self.db = db

    def get_many(self, model: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """The cached vectors among `hashes` (missing ones are simply absent)."""
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(hashes))
        with self.db.read() as conn:
            for start in range(0, len(unique), LOOKUP_CHUNK):
                rows = conn.execute(
                    "SELECT content_hash, vector FROM embedding_cache WHERE model = ?"
                    " AND content_hash IN (SELECT value FROM json_each(?))",
                    (model, json.dumps(unique[start : start + LOOKUP_CHUNK])),
                )
                for content_hash, blob in rows:
                    found[content_hash] = np.frombuffer(blob, dtype="<f4").astype(np.float32)
        return found

    def put_many(self, model: str, vectors: Mapping[str, Sequence[float] | np.ndarray]) -> None:
        """Store vectors by content hash; an existing entry is replaced. Durable on return."""
        if not model:
            raise InvalidRequest("model must name the model the vectors come from")
        rows = []
        for content_hash, vector in vectors.items():
            array = np.asarray(vector, dtype="<f4")
            if array.ndim != 1 or not array.size or not np.isfinite(array).all():
                raise InvalidRequest(
                    f"cache entry {content_hash!r}: a vector is a non-empty list of finite numbers"
                )
            rows.append((model, content_hash, array.tobytes(), time.time()))
        if not rows:
            return
        with self.db.write() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO embedding_cache (model, content_hash, vector, created_at)"
                " VALUES (?, ?, ?, ?)",
                rows,
            )

    def delete_model(self, model: str) -> int:
        """Forget every vector of a model (e.g. after its weights changed)."""
        with self.db.write() as conn:
            return conn.execute("DELETE FROM embedding_cache WHERE model = ?", (model,)).rowcount
