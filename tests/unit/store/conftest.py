from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mmserve.store import SearchStore, StoreConfig

DIM = 16  # small: tests check behaviour, not speed


def unit_vectors(n: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)  # (n, dim)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def items_for(vectors: np.ndarray, prefix: str = "item", **metadata: object) -> list[dict]:
    return [
        {"id": f"{prefix}-{i}", "vector": v, "metadata": dict(metadata, n=i)}
        for i, v in enumerate(vectors)
    ]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def store(data_dir: Path) -> Iterator[SearchStore]:
    with SearchStore(data_dir) as opened:
        yield opened


@pytest.fixture
def small_exact(data_dir: Path) -> Iterator[SearchStore]:
    """A store whose collections past 200 vectors get an HNSW graph."""
    with SearchStore(data_dir, StoreConfig(exact_search_max=200)) as opened:
        yield opened
