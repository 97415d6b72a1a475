"""The SQLite schema. The rows are the source of truth; index files are caches of them.

Change tracking, so an in-memory or on-disk vector index can catch up without a rebuild:
every write to a collection takes the next `collections.last_seq` and stamps it on the
rows it upserts (`items.seq`) or deletes (`tombstones.seq`). An index that has applied
changes up to S reads `items.seq > S` and `tombstones.seq > S` and is current again.
`items.key` (AUTOINCREMENT: never reused, even after deletes) is the integer id the vector
index knows an item by; `items.id` is the caller's string id.
`collections.index_epoch` is bumped to declare every index file of the collection stale.
"""

from __future__ import annotations

from mmserve.store.keywords import FTS_SCHEMA

# 2: the keyword index (items_fts); an older mmserve would not keep it in step, so it refuses.
SCHEMA_VERSION = 2

SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS collections (
        id TEXT PRIMARY KEY,                 -- random hex, never reused: names index files
        name TEXT NOT NULL UNIQUE,
        model TEXT NOT NULL,                 -- the embedding model the vectors come from
        dim INTEGER NOT NULL,
        metadata_schema TEXT,                -- JSON {field: type} or NULL
        created_at REAL NOT NULL,            -- unix seconds
        last_seq INTEGER NOT NULL DEFAULT 0, -- change id of the last write
        index_epoch INTEGER NOT NULL DEFAULT 0
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS items (
        key INTEGER PRIMARY KEY AUTOINCREMENT,
        collection_id TEXT NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
        id TEXT NOT NULL,
        modality TEXT NOT NULL,
        content_hash TEXT,
        metadata TEXT NOT NULL,              -- JSON object
        vector BLOB NOT NULL,                -- float32, little-endian, L2-normalised
        seq INTEGER NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        UNIQUE (collection_id, id)
    )
    """,
    # Covering index for filters: a scan of the JSON metadata reads this index, not the table
    # rows with their vector blobs (measured 2.7x faster at 50k items; see the docs).
    "CREATE INDEX IF NOT EXISTS items_by_key ON items (collection_id, key, metadata)",
    "CREATE INDEX IF NOT EXISTS items_by_seq ON items (collection_id, seq)",
    """
    CREATE TABLE IF NOT EXISTS tombstones (
        collection_id TEXT NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
        key INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (collection_id, key)
    ) WITHOUT ROWID
    """,
    "CREATE INDEX IF NOT EXISTS tombstones_by_seq ON tombstones (collection_id, seq)",
    """
    CREATE TABLE IF NOT EXISTS embedding_cache (
        model TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        vector BLOB NOT NULL,                -- float32, as the model returned it
        created_at REAL NOT NULL,
        PRIMARY KEY (model, content_hash)
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE IF NOT EXISTS jobs (
        id TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        state TEXT NOT NULL,
        done INTEGER NOT NULL DEFAULT 0,
        total INTEGER,
        params TEXT NOT NULL,                -- JSON
        result TEXT,                         -- JSON
        error TEXT,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        owner TEXT,                          -- "host:pid:start" of the process running it
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, created_at)",
    """
    CREATE TABLE IF NOT EXISTS ingest_files (
        collection_id TEXT NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
        path TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime REAL NOT NULL,
        content_hash TEXT,
        status TEXT NOT NULL,
        error TEXT,
        updated_at REAL NOT NULL,
        PRIMARY KEY (collection_id, path)
    ) WITHOUT ROWID
    """,
    *FTS_SCHEMA,  # after items: its trigger and backfill read them
)
