import numpy as np
import pytest

from mmserve.errors import InvalidRequest, NotFound
from mmserve.store import SearchStore, StoreConfig

from .conftest import DIM, items_for, unit_vectors

N = 3000


def exact_top(vectors: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    return np.argsort(-(vectors @ query), kind="stable")[:k].tolist()


def test_exact_search_matches_brute_force(store: SearchStore):
    vectors = unit_vectors(500)
    store.create_collection("c", model="m", dim=DIM)
    store.upsert_items("c", items_for(vectors))
    assert store.index_status("c")["search"] == "exact"
    for query in unit_vectors(5, seed=1):
        hits = store.search("c", query * 3.0, top_k=7)  # queries are normalised too
        assert [h.id for h in hits] == [f"item-{i}" for i in exact_top(vectors, query, 7)]
        assert hits[0].score == pytest.approx(float((vectors @ query).max()), abs=1e-5)
        assert hits[0].modality == "vector" and "n" in hits[0].metadata


def test_ann_agrees_with_exact(data_dir):
    """Recall@10 of the HNSW path against brute force, on a few thousand vectors."""
    vectors = unit_vectors(N)
    queries = unit_vectors(50, seed=2)
    with SearchStore(data_dir, StoreConfig(exact_search_max=1000)) as store:
        store.create_collection("c", model="m", dim=DIM)
        store.upsert_items("c", items_for(vectors))
        assert store.index_status("c")["search"] == "approximate"
        hits = 0
        for query in queries:
            found = {h.id for h in store.search("c", query, top_k=10)}
            hits += len(found & {f"item-{i}" for i in exact_top(vectors, query, 10)})
            top = store.search("c", query, top_k=1)[0]  # scores are exact, not f16's
            assert top.score == pytest.approx(float(vectors[int(top.id[5:])] @ query), abs=1e-6)
    assert hits / (10 * len(queries)) >= 0.95


def test_ann_with_filters_overfetches_then_falls_back_to_exact(data_dir):
    vectors = unit_vectors(N)
    items = items_for(vectors)
    for i, item in enumerate(items):
        item["metadata"]["bucket"] = i % 2  # half pass: over-fetching finds enough
        item["metadata"]["rare"] = i % 500 == 0  # 6 pass: the exact fallback finds them
    with SearchStore(data_dir, StoreConfig(exact_search_max=1000, max_ann_fetch=1000)) as store:
        store.create_collection("c", model="m", dim=DIM)
        store.upsert_items("c", items)
        query = unit_vectors(1, seed=3)[0]
        half = store.search("c", query, top_k=10, filter={"bucket": 1})
        assert len(half) == 10 and all(h.metadata["bucket"] == 1 for h in half)
        odd = [i for i in exact_top(vectors, query, N) if i % 2 == 1][:10]
        assert len({h.id for h in half} & {f"item-{i}" for i in odd}) >= 8
        rare = store.search("c", query, top_k=10, filter={"rare": True})
        expected = [f"item-{i}" for i in exact_top(vectors, query, N) if i % 500 == 0]
        assert [h.id for h in rare] == expected  # exact: every match, in order


def test_search_by_item(store: SearchStore):
    vectors = unit_vectors(100)
    store.create_collection("c", model="m", dim=DIM)
    store.upsert_items("c", items_for(vectors))
    hits = store.search_by_item("c", "item-7", top_k=3)
    assert "item-7" not in [h.id for h in hits] and len(hits) == 3
    expected = [f"item-{i}" for i in exact_top(vectors, vectors[7], 4) if i != 7]
    assert [h.id for h in hits] == expected
    assert store.search_by_item("c", "item-7", top_k=1, include_self=True)[0].id == "item-7"
    with pytest.raises(NotFound):
        store.search_by_item("c", "nope")


def test_search_sees_writes_and_deletes(small_exact: SearchStore):
    small_exact.create_collection("c", model="m", dim=DIM)
    vectors = unit_vectors(400)
    small_exact.upsert_items("c", items_for(vectors[:300]))
    assert small_exact.search("c", vectors[350], top_k=1)[0].id != "item-350"
    small_exact.upsert_items("c", items_for(vectors)[300:])
    assert small_exact.search("c", vectors[350], top_k=1)[0].id == "item-350"
    small_exact.delete_items("c", ["item-350"])
    assert small_exact.search("c", vectors[350], top_k=1)[0].id != "item-350"
    assert small_exact.index_status("c")["vectors"] == 399


def test_top_k_is_checked(store: SearchStore):
    store.create_collection("c", model="m", dim=DIM)
    for bad in (0, -1, 10_000, True):
        with pytest.raises(InvalidRequest, match="top_k"):
            store.search("c", unit_vectors(1)[0], top_k=bad)
    assert store.search("c", unit_vectors(1)[0]) == []  # empty collection
