"""The keys that pass a metadata filter, per collection, kept current as items change.

SQLite evaluates a filter by parsing every row's metadata JSON: ~1 microsecond a row, so a
selective filter (0.1% of 200,000 rows) costs ~150 ms however few rows pass. Filters repeat
(a tenant, a kind, a user), so the passing keys of the last FILTERS_KEPT filters are kept
here, and brought up to date with each batch of changes by evaluating the filter on the
changed rows only; a filter seen again costs no SQL at all, and its size says how selective
it is, which picks the search strategy (search.py).

Entries are sorted int64 key arrays, replaced whole (never changed in place), so a search
may keep using the array it got while a refresh installs the next one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

FILTERS_KEPT = 16  # per collection; least recently used dropped first
MAX_KEPT_KEYS = 200_000  # a filter passing more rows than this is not kept (1.6 MB of keys)
MAX_REPLAYED_CHANGES = 10_000  # a larger batch of changes empties the cache instead

Condition = tuple[str, list[Any]]  # a compiled filter: (SQL, parameters)
# (SQL, parameters, among keys) -> the keys among those that pass, in any order
Evaluate = Callable[[str, list[Any], list[int]], list[int]]


class FilterCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()  # searches add entries concurrently
        self._entries: OrderedDict[tuple[str, tuple[Any, ...]], np.ndarray] = OrderedDict()

    def get(self, condition: Condition) -> np.ndarray | None:
        key = _key(condition)
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, condition: Condition, keys: list[int]) -> np.ndarray:
        """Keep the passing keys of a filter (unless there are too many); returns them."""
        passing = np.unique(np.asarray(keys, dtype=np.int64))  # sorted
        if len(passing) <= MAX_KEPT_KEYS:
            with self._lock:
                self._entries[_key(condition)] = passing
                self._entries.move_to_end(_key(condition))
                while len(self._entries) > FILTERS_KEPT:
                    self._entries.popitem(last=False)
        return passing

    def apply_changes(self, upserted: list[int], gone: list[int], evaluate: Evaluate) -> None:
        """Bring every entry up to date with rows upserted (new, or changed metadata) and
        deleted; call it where no search runs (under the collection's write lock)."""
        if not upserted and not gone:
            return
        if len(upserted) + len(gone) > MAX_REPLAYED_CHANGES:
            self.clear()
            return
        changed = np.asarray(upserted + gone, dtype=np.int64)
        with self._lock:
            entries = list(self._entries.items())
        for key, passing in entries:
            sql, params = key[0], list(key[1])
            now = evaluate(sql, params, upserted) if upserted else []
            kept = np.setdiff1d(passing, changed, assume_unique=True)
            updated = np.union1d(kept, np.asarray(now, dtype=np.int64))
            with self._lock:
                if key in self._entries:
                    self._entries[key] = updated

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _key(condition: Condition) -> tuple[str, tuple[Any, ...]]:
    sql, params = condition
    return sql, tuple(params)  # parameters are str, int, float: hashable
