"""Concurrent graph searches of one collection run as one usearch call (store/combiner.py):
each caller gets exactly what a lone search gives, and writes still wait for searches."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from mmserve.errors import ConfigError, NotFound
from mmserve.store import SearchStore, StoreConfig
from mmserve.store.search import CollectionIndex
from mmserve.store.vector_index import AnnIndex, Query

from .conftest import DIM, items_for, unit_vectors
from .test_combiner import wait_until

N = 2000
QUERIES = unit_vectors(24, seed=5)
# (top_k, filter): plain searches, one past the search breadth (its own usearch call in the
# batch), and filtered ones whose graph over-fetch joins the batch
SHAPES: list[tuple[int, dict[str, Any] | None]] = [
    (10, None),
    (3, None),
    (300, None),
    (10, {"bucket": 1}),
]


@pytest.fixture
def graph_store(data_dir) -> Iterator[SearchStore]:
    config = StoreConfig(exact_search_max=500, hnsw_expansion_search=64, max_ann_fetch=1000)
    with SearchStore(data_dir, config) as store:
        items = items_for(unit_vectors(N))
        for i, item in enumerate(items):
            item["metadata"]["bucket"] = i % 3
        store.create_collection("c", model="m", dim=DIM)
        store.upsert_items("c", items)
        assert store.index_status("c")["search"] == "approximate"
        yield store


def graph_of(store: SearchStore) -> tuple[CollectionIndex, AnnIndex]:
    index = store._index(store.get_collection("c"))
    assert index.ann is not None
    return index, index.ann


def ids(store: SearchStore, query: np.ndarray, top_k: int, filter: Any) -> list[tuple]:
    return [(h.id, h.score) for h in store.search("c", query, top_k=top_k, filter=filter)]


class BatchSpy:
    """Counts the queries of every batched usearch call; can hold the first lone search
    until `release` so that the calls arriving meanwhile queue behind it."""

    def __init__(self, ann: AnnIndex, hold: bool):
        self.sizes: list[int] = []
        self.entered, self.release = threading.Event(), threading.Event()
        if not hold:
            self.release.set()
        run_batch, run_one = ann._search_all, ann._search
        combiner = ann._searches

        def batch(queries: list[Query]) -> list[np.ndarray]:
            self.sizes.append(len(queries))
            return run_batch(queries)

        def one(query: Query) -> np.ndarray:
            if not self.entered.is_set():
                self.entered.set()
                assert self.release.wait(10)
            return run_one(query)

        combiner._run_batch, combiner._run_one = batch, one
        self.queued: Callable[[], int] = lambda: len(combiner._queued)


def run_threads(targets: list[Callable[[], None]]) -> list[threading.Thread]:
    threads = [threading.Thread(target=t) for t in targets]
    for thread in threads:
        thread.start()
    return threads


def join_all(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join(30)
        assert not thread.is_alive()


def test_concurrent_searches_get_exactly_the_hits_of_lone_searches(graph_store):
    alone = {
        (q, shape): ids(graph_store, QUERIES[q], *SHAPES[shape])
        for q in range(len(QUERIES))
        for shape in range(len(SHAPES))
    }
    _, ann = graph_of(graph_store)
    spy = BatchSpy(ann, hold=True)
    together: dict[tuple[int, int], list[tuple]] = {}

    def search(q: int, shape: int) -> Callable[[], None]:
        def run() -> None:
            together[q, shape] = ids(graph_store, QUERIES[q], *SHAPES[shape])

        return run

    first = run_threads([search(0, 0)])
    assert spy.entered.wait(10)
    rest = [key for key in alone if key != (0, 0)]
    threads = run_threads([search(*key) for key in rest])
    # every other search (a filtered one too: its one over-fetch) queues behind the held one
    wait_until(lambda: spy.queued() == len(rest), "every other search has queued")
    spy.release.set()
    join_all(first + threads)
    assert together == alone
    assert spy.sizes == [len(rest)]  # they ran as one batch


def test_searches_that_keep_arriving_match_lone_ones(graph_store):
    """No holding: whatever batches the scheduling makes, the answers do not change."""
    alone = {q: ids(graph_store, QUERIES[q], 10, None) for q in range(len(QUERIES))}
    mismatches: list[int] = []

    def worker(start: int) -> Callable[[], None]:
        def run() -> None:
            for _ in range(3):
                for q in range(start, len(QUERIES), 8):
                    if ids(graph_store, QUERIES[q], 10, None) != alone[q]:
                        mismatches.append(q)

        return run

    join_all(run_threads([worker(s) for s in range(8)]))
    assert mismatches == []


def test_a_bad_query_in_a_batch_fails_only_its_own_caller(graph_store):
    _, ann = graph_of(graph_store)
    good = {q: ann.search(QUERIES[q], 10) for q in range(4)}
    spy = BatchSpy(ann, hold=True)
    answers: dict[int, Any] = {}

    def search(q: int, vector: np.ndarray) -> Callable[[], None]:
        def run() -> None:
            try:
                answers[q] = ann.search(vector, 10)
            except Exception as e:  # the wrong-sized query's own error
                answers[q] = e

        return run

    first = run_threads([search(0, QUERIES[0])])
    assert spy.entered.wait(10)
    wrong_size = np.ones(DIM + 1, dtype=np.float32)
    threads = run_threads([search(q, QUERIES[q]) for q in (1, 2, 3)] + [search(-1, wrong_size)])
    wait_until(lambda: spy.queued() == 4, "four searches have queued")
    spy.release.set()
    join_all(first + threads)
    assert spy.sizes == [4]
    assert all(np.array_equal(answers[q], good[q]) for q in range(4))
    assert isinstance(answers[-1], Exception)


def test_a_write_waits_for_the_gathered_batch_and_later_searches_see_it(graph_store):
    query = QUERIES[0]
    before = ids(graph_store, query, 5, None)
    _, ann = graph_of(graph_store)
    spy = BatchSpy(ann, hold=True)
    held: dict[int, list[tuple]] = {}

    def search(q: int) -> Callable[[], None]:
        def run() -> None:
            held[q] = ids(graph_store, query, 5, None)

        return run

    first = run_threads([search(0)])
    assert spy.entered.wait(10)
    searches = run_threads([search(q) for q in (1, 2, 3)])
    wait_until(lambda: spy.queued() == 3, "three searches have queued")
    upsert = run_threads(
        [lambda: graph_store.upsert_items("c", [{"id": "new", "vector": query, "metadata": {}}])]
    )
    upsert[0].join(0.3)
    assert upsert[0].is_alive()  # the graph may not change under the gathered searches
    spy.release.set()
    join_all(first + searches + upsert)
    assert held == {0: before, 1: before, 2: before, 3: before}
    assert graph_store.search("c", query, top_k=1)[0].id == "new"


def test_a_collection_deleted_while_a_batch_gathers(graph_store):
    """Searches admitted before the delete finish (its items are gone: no hits); later
    ones are told the collection is gone."""
    _, ann = graph_of(graph_store)
    spy = BatchSpy(ann, hold=True)
    answers: dict[int, Any] = {}

    def search(q: int) -> Callable[[], None]:
        def run() -> None:
            answers[q] = ids(graph_store, QUERIES[q], 10, None)

        return run

    first = run_threads([search(0)])
    assert spy.entered.wait(10)
    threads = run_threads([search(q) for q in (1, 2, 3)])
    wait_until(lambda: spy.queued() == 3, "three searches have queued")
    graph_store.delete_collection("c")
    spy.release.set()
    join_all(first + threads)
    assert answers == {0: [], 1: [], 2: [], 3: []}
    with pytest.raises(NotFound):
        graph_store.search("c", QUERIES[0], top_k=10)


def test_search_threads_setting(data_dir):
    for bad in (-1, True, 1.5):
        with pytest.raises(ConfigError, match="hnsw_search_threads"):
            StoreConfig(hnsw_search_threads=bad)  # type: ignore[arg-type]
    assert AnnIndex(DIM, StoreConfig(hnsw_search_threads=3)).search_threads == 3
    assert AnnIndex(DIM, StoreConfig()).search_threads >= 1  # 0: every core
