"""Collections and their items in SQLite: the rows that are the source of truth.

Every write is one transaction through Database.write() and stamps the collection's next
change id (`last_seq`) on what it touched, so vector indexes can catch up (see schema.py).
"""

from __future__ import annotations

import base64
import json
import secrets
import sqlite3
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mmserve.errors import InvalidRequest, NotFound
from mmserve.store import keywords
from mmserve.store.db import Database
from mmserve.store.records import (
    Collection,
    Item,
    ItemInput,
    Page,
    SearchHit,
    as_item_input,
    check_dim,
    check_item,
    check_metadata_schema,
    check_model,
    check_name,
    one_vector,
)

MAX_PAGE = 1_000
COLLECTION_COLUMNS = "id, name, model, dim, metadata_schema, created_at"
ITEM_COLUMNS = "id, modality, content_hash, metadata, vector, created_at, updated_at"


class CollectionRows:
    def __init__(self, db: Database):
        self.db = db

    def create(
        self, name: str, *, model: str, dim: int, metadata_schema: Mapping[str, Any] | None
    ) -> Collection:
        check_name(name)
        check_dim(dim)
        schema = check_metadata_schema(metadata_schema)
        if not isinstance(model, str) or not model:
            raise InvalidRequest("model must name the embedding model, e.g. 'minilm'")
        collection_id = secrets.token_hex(16)
        try:
            with self.db.write() as conn:
                conn.execute(
                    f"INSERT INTO collections ({COLLECTION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                    (collection_id, name, model, dim, _json_or_null(schema), time.time()),
                )
        except sqlite3.IntegrityError:
            raise InvalidRequest(
                f"collection {name!r} already exists; pick another name or delete it first",
                param="name",
                code="already_exists",
            ) from None
        return self.get(name)

    def get(self, name: str) -> Collection:
        with self.db.read() as conn:
            collection = self.find(name)
            count = conn.execute(
                "SELECT count(*) FROM items WHERE collection_id = ?", (collection.id,)
            ).fetchone()[0]
        return _collection(collection, count)

    def find(self, name: str) -> Collection:
        """The collection, without counting its items (item_count None): cheap."""
        with self.db.read() as conn:
            row = conn.execute(
                f"SELECT {COLLECTION_COLUMNS} FROM collections WHERE name = ?", (name,)
            ).fetchone()
        if row is None:
            raise NotFound(f"collection {name!r} does not exist", param="collection")
        return _collection(row, None)

    def all(self) -> list[Collection]:
        with self.db.read() as conn:
            rows = conn.execute(
                f"SELECT {COLLECTION_COLUMNS}, (SELECT count(*) FROM items i "
                "WHERE i.collection_id = c.id) FROM collections c ORDER BY name"
            ).fetchall()
        return [_collection(row[:-1], row[-1]) for row in rows]

    def delete(self, name: str) -> str:
        """Delete the collection with its items and ingest records; return its id."""
        with self.db.write() as conn:
            collection = self.find(name)
            conn.execute("DELETE FROM collections WHERE id = ?", (collection.id,))
        return collection.id

    def upsert(
        self,
        name: str,
        items: Sequence[ItemInput | Mapping[str, Any]],
        *,
        model: str | None,
    ) -> tuple[Collection, list[str]]:
        if not items:
            raise InvalidRequest("items is empty; send at least one item", param="items")
        inputs = [as_item_input(item, f"items[{i}]") for i, item in enumerate(items)]
        with self.db.write() as conn:
            collection = self.find(name)
            check_model(collection, model)
            rows = _item_rows(inputs, collection)
            seq = _next_seq(conn, collection.id)
            now = time.time()
            conn.executemany(
                "INSERT INTO items (collection_id, id, modality, content_hash, metadata, vector,"
                " seq, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (collection_id, id) DO UPDATE SET modality = excluded.modality,"
                " content_hash = excluded.content_hash, metadata = excluded.metadata,"
                " vector = excluded.vector, seq = excluded.seq, updated_at = excluded.updated_at",
                [(collection.id, *row, seq, now, now) for row in rows],
            )
            texts = [
                (row[0], keywords.item_text(item.text, item.metadata))
                for row, item in zip(rows, inputs, strict=True)
            ]
            keywords.write(conn, collection.id, texts)
        return collection, [row[0] for row in rows]

    def delete_items(self, name: str, ids: Sequence[str]) -> tuple[Collection, int]:
        with self.db.write() as conn:
            collection = self.find(name)
            keys = _keys_of(conn, collection.id, ids)
            if keys:
                seq = _next_seq(conn, collection.id)
                conn.executemany(
                    "INSERT OR REPLACE INTO tombstones (collection_id, key, seq) VALUES (?, ?, ?)",
                    [(collection.id, key, seq) for key in keys],
                )
                conn.execute(
                    "DELETE FROM items WHERE key IN (SELECT value FROM json_each(?))",
                    (json.dumps(keys),),
                )
        return collection, len(keys)

    def get_item(self, name: str, item_id: str) -> Item:
        with self.db.read() as conn:
            collection = self.find(name)
            row = conn.execute(
                f"SELECT {ITEM_COLUMNS} FROM items WHERE collection_id = ? AND id = ?",
                (collection.id, item_id),
            ).fetchone()
        if row is None:
            raise NotFound(f"item {item_id!r} is not in collection {name!r}", param="id")
        return _item(row)

    def list_items(self, name: str, *, limit: int = 100, cursor: str | None = None) -> Page:
        """Items in insertion order (an upsert of an existing id keeps its place)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
            raise InvalidRequest(f"limit must be from 1 to {MAX_PAGE}", param="limit")
        after = _decode_cursor(cursor)
        with self.db.read() as conn:
            collection = self.find(name)
            rows = conn.execute(
                f"SELECT key, {ITEM_COLUMNS} FROM items WHERE collection_id = ? AND key > ?"
                " ORDER BY key LIMIT ?",
                (collection.id, after, limit + 1),
            ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = _encode_cursor(rows[-1][0]) if more else None
        return Page(items=[_item(row[1:]) for row in rows], next_cursor=next_cursor)

    def matching_keys(
        self, collection_id: str, condition: str, params: list[Any], among: list[int] | None
    ) -> list[int]:
        """Keys of the collection's items that pass a compiled filter (of `among`, or all)."""
        sql = f"SELECT key FROM items WHERE collection_id = ? AND ({condition})"
        args: list[Any] = [collection_id, *params]
        if among is not None:
            sql += " AND key IN (SELECT value FROM json_each(?))"
            args.append(json.dumps(among))
        with self.db.read() as conn:
            return [key for (key,) in conn.execute(sql, args)]

    def hits(self, keys: list[int], scores: list[float]) -> list[SearchHit]:
        """Search hits for (key, score) pairs, in order; items deleted meanwhile are dropped."""
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT key, id, modality, content_hash, metadata FROM items"
                " WHERE key IN (SELECT value FROM json_each(?))",
                (json.dumps(keys),),
            ).fetchall()
        by_key = {row[0]: row for row in rows}
        hits: list[SearchHit] = [
            SearchHit(
                id=row[1],
                score=score,
                modality=row[2],
                content_hash=row[3],
                metadata=json.loads(row[4]),
            )
            for key, score in zip(keys, scores, strict=True)
            if (row := by_key.get(key)) is not None
        ]
        return hits


def _item_rows(inputs: list[ItemInput], collection: Collection) -> list[tuple[Any, ...]]:
    """(id, modality, content_hash, metadata JSON, vector bytes) per item, all checked."""
    checked = [
        check_item(item, f"items[{i}]", collection.metadata_schema) for i, item in enumerate(inputs)
    ]
    vectors = np.stack(
        [
            one_vector(item.vector, collection.dim, f"items[{i}].vector")
            for i, item in enumerate(inputs)
        ]
    )  # (n, dim)
    ids = [item_id or secrets.token_hex(16) for item_id, *_ in checked]
    if len(set(ids)) != len(ids):
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        raise InvalidRequest(
            f"item ids repeat within one upsert: {', '.join(repeated[:5])}; send each once",
            param="items",
        )
    return [
        (item_id, modality, content_hash, metadata, vector.astype("<f4").tobytes())
        for item_id, (_, modality, content_hash, metadata), vector in zip(
            ids, checked, vectors, strict=True
        )
    ]


def _next_seq(conn: sqlite3.Connection, collection_id: str) -> int:
    return conn.execute(
        "UPDATE collections SET last_seq = last_seq + 1 WHERE id = ? RETURNING last_seq",
        (collection_id,),
    ).fetchone()[0]


def _keys_of(conn: sqlite3.Connection, collection_id: str, ids: Sequence[str]) -> list[int]:
    if isinstance(ids, str):
        raise InvalidRequest("ids must be a list of item ids", param="ids")
    rows = conn.execute(
        "SELECT key FROM items WHERE collection_id = ? AND id IN (SELECT value FROM json_each(?))",
        (collection_id, json.dumps(list(ids))),
    )
    return [key for (key,) in rows]


def _collection(row: tuple[Any, ...] | Collection, count: int | None) -> Collection:
    if isinstance(row, Collection):
        return Collection(**{**row.__dict__, "item_count": count})
    collection_id, name, model, dim, schema, created_at = row
    return Collection(
        id=collection_id,
        name=name,
        model=model,
        dim=dim,
        metadata_schema=json.loads(schema) if schema else None,
        created_at=created_at,
        item_count=count,
    )


def _item(row: tuple[Any, ...]) -> Item:
    item_id, modality, content_hash, metadata, vector, created_at, updated_at = row
    return Item(
        id=item_id,
        modality=modality,
        content_hash=content_hash,
        metadata=json.loads(metadata),
        vector=np.frombuffer(vector, dtype="<f4").astype(np.float32),
        created_at=created_at,
        updated_at=updated_at,
    )


def _json_or_null(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _encode_cursor(key: int) -> str:
    return base64.urlsafe_b64encode(f"k{key}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None) -> int:
    if cursor is None:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if text.startswith("k"):
            return int(text[1:])
    except (ValueError, UnicodeDecodeError):
        pass
    raise InvalidRequest(
        "cursor is invalid; pass next_cursor from the previous page", param="cursor"
    )
