"""The keyword index: SQLite FTS5 (BM25) over each item's text, beside the vector index.

What is indexed per item: the text it was embedded from (text items), when the caller
gave it, plus every string value of its metadata (nested ones too). One FTS row per item,
rowid = items.key. It is written in the upsert's own transaction (so an acknowledged write
is searchable by keyword after a crash, like by vector) and removed by a trigger when the
item row goes (delete, or the collection's cascade).

Data dirs from before the index: the table is created on open and backfilled from what
items kept, their metadata strings (stored items never kept their text content, so text
items written before it are found by keyword only through their metadata).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

FTS_SCHEMA = (
    # unicode61 folds case and diacritics; tokens are runs of letters and digits, so a
    # product code "XJ-9000" is the two tokens "xj" and "9000" in text and query alike.
    "CREATE VIRTUAL TABLE IF NOT EXISTS items_fts USING fts5(text,"
    " tokenize = 'unicode61 remove_diacritics 2')",
    """
    CREATE TRIGGER IF NOT EXISTS items_fts_delete AFTER DELETE ON items BEGIN
        DELETE FROM items_fts WHERE rowid = old.key;
    END
    """,
    # Backfill of items written before the index (a no-op once every item has its row).
    """
    INSERT INTO items_fts (rowid, text)
    SELECT key, coalesce(
        (SELECT group_concat(value, ' ') FROM json_tree(items.metadata) WHERE type = 'text'), '')
    FROM items WHERE key NOT IN (SELECT rowid FROM items_fts)
    """,
)
MAX_QUERY_TOKENS = 64
_TOKEN = re.compile(r"\w+", re.UNICODE)


def item_text(text: str | None, metadata: Mapping[str, Any] | None) -> str:
    """What the keyword index holds for an item: its text and its metadata's strings."""
    parts = [text] if text else []
    parts.extend(_strings(metadata or {}))
    return "\n".join(parts)


def write(conn: Any, collection_id: str, texts: Sequence[tuple[str, str]]) -> None:
    """Replace the rows of (item id, text) pairs; call inside the upsert's transaction."""
    latest = dict(texts)  # an id twice in one batch: the last one was stored
    ids = list(latest)
    keys = dict(
        conn.execute(
            "SELECT id, key FROM items WHERE collection_id = ?"
            " AND id IN (SELECT value FROM json_each(?))",
            (collection_id, json.dumps(ids)),
        ).fetchall()
    )
    conn.execute(
        "DELETE FROM items_fts WHERE rowid IN (SELECT value FROM json_each(?))",
        (json.dumps(list(keys.values())),),
    )
    conn.executemany(
        "INSERT INTO items_fts (rowid, text) VALUES (?, ?)",
        [(keys[item_id], text) for item_id, text in latest.items()],
    )


def match_expression(query: str) -> str | None:
    """An FTS5 query matching any of the query's words (BM25 ranks the items with more,
    and rarer, of them first); None when it has no word. Every token is quoted, so FTS5
    syntax in the user's text (AND, NEAR, *, ") is searched for, never run."""
    tokens = _TOKEN.findall(query)[:MAX_QUERY_TOKENS]
    if not tokens:
        return None
    return " OR ".join('"' + token.replace('"', '""') + '"' for token in tokens)


def search(
    conn: Any,
    collection_id: str,
    query: str,
    top_k: int,
    condition: tuple[str, list[Any]] | None,
) -> tuple[list[int], list[float]]:
    """(keys, scores) best first; score = -bm25 (higher is better, unbounded)."""
    expression = match_expression(query)
    if expression is None:
        return [], []
    where, params = condition or ("1", [])
    rows = conn.execute(
        "SELECT items_fts.rowid, bm25(items_fts) AS rank FROM items_fts"
        " JOIN items ON items.key = items_fts.rowid"
        f" WHERE items_fts MATCH ? AND items.collection_id = ? AND ({where})"
        " ORDER BY rank LIMIT ?",
        (expression, collection_id, *params, top_k),
    ).fetchall()
    return [key for key, _ in rows], [-rank for _, rank in rows]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []
