"""Ingest progress: what a folder indexer has done, file by file, so it can resume.

One row per (collection, path): the file's size and mtime when it was looked at, its
content hash once read, and a status. An indexer walking a folder again asks
`unchanged()` and skips files whose size and mtime match a row that is "indexed" (or
"skipped"); anything else is read, hashed and indexed again. Rows go with their
collection when it is deleted.
"""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mmserve.errors import InvalidRequest
from mmserve.store.collections import CollectionRows
from mmserve.store.db import Database

STATUSES = ("pending", "indexed", "failed", "skipped")
DONE = ("indexed", "skipped")  # a file in one of these, unchanged, needs no more work
COLUMNS = "path, size, mtime, content_hash, status, error, updated_at"


@dataclass(frozen=True)
class IngestFile:
    path: str
    size: int  # bytes
    mtime: float  # unix seconds, as os.stat gives it
    content_hash: str | None = None
    status: str = "pending"
    error: str | None = None
    updated_at: float = 0.0  # set by the store


class IngestProgress:
    def __init__(self, db: Database, collections: CollectionRows):
        self.db = db
        self.collections = collections

    def record(self, collection: str, files: Iterable[IngestFile]) -> None:
        """Insert or replace the rows for these paths (one transaction, durable on return)."""
        rows = []
        now = time.time()
        for f in files:
            if f.status not in STATUSES:
                raise InvalidRequest(
                    f"ingest status {f.status!r} for {f.path!r}: use one of {', '.join(STATUSES)}",
                    param="status",
                )
            rows.append((f.path, f.size, f.mtime, f.content_hash, f.status, f.error, now))
        with self.db.write() as conn:
            collection_id = self.collections.find(collection).id
            conn.executemany(
                f"INSERT OR REPLACE INTO ingest_files (collection_id, {COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(collection_id, *row) for row in rows],
            )

    def get_many(self, collection: str, paths: Sequence[str]) -> dict[str, IngestFile]:
        with self.db.read() as conn:
            collection_id = self.collections.find(collection).id
            rows = conn.execute(
                f"SELECT {COLUMNS} FROM ingest_files WHERE collection_id = ?"
                " AND path IN (SELECT value FROM json_each(?))",
                (collection_id, json.dumps(list(paths))),
            ).fetchall()
        return {row[0]: IngestFile(*row) for row in rows}

    def unchanged(self, collection: str, files: Sequence[IngestFile]) -> set[str]:
        """Paths among `files` already done with the same size and mtime: skip them."""
        known = self.get_many(collection, [f.path for f in files])
        return {
            f.path
            for f in files
            if (row := known.get(f.path)) is not None
            and row.status in DONE
            and (row.size, row.mtime) == (f.size, f.mtime)
        }

    def list(
        self,
        collection: str,
        *,
        status: str | None = None,
        after_path: str = "",
        limit: int = 1000,
    ) -> builtins.list[IngestFile]:
        """Rows in path order; pass the last path as `after_path` for the next page."""
        with self.db.read() as conn:
            collection_id = self.collections.find(collection).id
            rows = conn.execute(
                f"SELECT {COLUMNS} FROM ingest_files WHERE collection_id = ?1 AND path > ?2"
                " AND (?3 IS NULL OR status = ?3) ORDER BY path LIMIT ?4",
                (collection_id, after_path, status, limit),
            ).fetchall()
        return [IngestFile(*row) for row in rows]

    def counts(self, collection: str) -> dict[str, int]:
        """Files per status, for progress reports."""
        with self.db.read() as conn:
            collection_id = self.collections.find(collection).id
            rows = conn.execute(
                "SELECT status, count(*) FROM ingest_files WHERE collection_id = ? GROUP BY status",
                (collection_id,),
            ).fetchall()
        return {status: 0 for status in STATUSES} | dict(rows)
