"""The store's settings: one frozen dataclass, checked on creation (like mmserve.config)."""

from __future__ import annotations

from dataclasses import dataclass

from mmserve.errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class StoreConfig:
    # Collections up to this many vectors are searched exactly (numpy, recall 1.0) and get no
    # ANN index. Measured (docs/search-store.md): exact search of 384-d vectors costs ~0.13 ms
    # per 1,000 on one core, so 50,000 is ~6 ms, about the latency of an HNSW query tuned for
    # the recall it can reach on hard data; past it exact grows linearly and HNSW does not.
    exact_search_max: int = 50_000
    # A filtered search over an ANN collection first fetches top_k * overfetch candidates and
    # keeps those that pass the filter; it fetches 4x more while too few pass, up to
    # max_ann_fetch, then falls back to exact search over the rows that match the filter.
    overfetch: int = 10
    max_ann_fetch: int = 4_096
    max_top_k: int = 1_000
    # HNSW graph (usearch): M = 16 and efConstruction = 64 as in the benchmark; f16 storage
    # halves memory, builds ~2x faster than f32 on AVX2 at the same recall, and scores are
    # recomputed exactly from the float32 rows anyway.
    hnsw_connectivity: int = 16
    hnsw_expansion_add: int = 64
    hnsw_expansion_search: int = 128
    hnsw_dtype: str = "f16"
    # Threads of one batched graph search: searches of a collection that arrive while one
    # runs are gathered into one usearch call (store/combiner.py). 0: every core.
    hnsw_search_threads: int = 0
    # The ANN index file is rewritten after this many changes were applied to it since the
    # last save, and at close(); after a crash the missing changes are replayed from SQLite.
    persist_every_changes: int = 20_000
    # How long a writer waits for another process's write transaction (BEGIN IMMEDIATE).
    busy_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        for name in ("exact_search_max", "overfetch", "max_ann_fetch", "max_top_k"):
            _positive(name, getattr(self, name))
        for name in ("hnsw_connectivity", "hnsw_expansion_add", "hnsw_expansion_search"):
            _positive(name, getattr(self, name))
        _positive("persist_every_changes", self.persist_every_changes)
        _positive("hnsw_search_threads", self.hnsw_search_threads, zero="every core")
        if self.hnsw_dtype not in ("f32", "f16", "i8"):
            raise ConfigError(f"store hnsw_dtype {self.hnsw_dtype!r}: use f32, f16 or i8")
        if self.busy_timeout_s <= 0:
            raise ConfigError("store busy_timeout_s must be positive, e.g. 30")
        if self.max_ann_fetch < self.max_top_k:
            raise ConfigError("store max_ann_fetch must be at least max_top_k")


def _positive(name: str, value: int, *, zero: str | None = None) -> None:
    """A positive integer; 0 too when `zero` says what it means."""
    low = 0 if zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        meaning = f" or 0 ({zero})" if zero else ""
        raise ConfigError(f"store {name} = {value!r}: use a positive integer{meaning}")
