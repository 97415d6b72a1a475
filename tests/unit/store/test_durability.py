"""Acknowledged writes survive SIGKILL; processes and threads writing at once corrupt nothing."""

import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

from mmserve.store import SearchStore, StoreConfig

from .conftest import DIM, unit_vectors

WRITER = Path(__file__).with_name("writer.py")


def start_writer(data_dir: Path, prefix: str, count: int, batch: int) -> subprocess.Popen:
    command = [sys.executable, str(WRITER), str(data_dir), "c", prefix, str(count), str(batch)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True)


def all_ids(store: SearchStore) -> set[str]:
    ids, cursor = set(), None
    while True:
        page = store.list_items("c", limit=1000, cursor=cursor)
        ids |= {item.id for item in page.items}
        if page.next_cursor is None:
            return ids
        cursor = page.next_cursor


def assert_intact(store: SearchStore) -> None:
    assert store.db.connection().execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_every_acknowledged_upsert_survives_sigkill(data_dir):
    with SearchStore(data_dir) as store:
        store.create_collection("c", model="m", dim=DIM)
    acknowledged: list[str] = []
    for round_, kill_after in enumerate((40, 150)):
        with start_writer(data_dir, f"r{round_}", 1_000_000, 3) as writer:
            assert writer.stdout is not None
            seen = 0
            for line in writer.stdout:
                acknowledged.append(line.strip())
                seen += 1
                if seen >= kill_after:
                    break
            writer.send_signal(signal.SIGKILL)  # mid-stream: it is writing the next batch
            acknowledged += writer.stdout.read().split()  # printed before it died
            assert writer.wait(timeout=10) == -signal.SIGKILL
    with SearchStore(data_dir) as store:
        stored = all_ids(store)
        missing = set(acknowledged) - stored
        assert not missing, f"{len(missing)} acknowledged items lost"
        for round_ in (0, 1):  # a batch is all there or not at all: whole batches of 3
            count = sum(1 for i in stored if i.startswith(f"r{round_}-"))
            assert count % 3 == 0 and {f"r{round_}-{i}" for i in range(count)} <= stored
        assert_intact(store)
        hit = store.search_by_item("c", acknowledged[-1], top_k=1, include_self=True)[0]
        assert hit.id == acknowledged[-1]


def test_two_processes_write_one_store(data_dir):
    with SearchStore(data_dir, StoreConfig(exact_search_max=300)) as store:
        store.create_collection("c", model="m", dim=DIM)
        writers = [start_writer(data_dir, p, 300, 5) for p in ("p1", "p2")]
        searches = 0  # communicate() below reads and closes the pipes
        while any(w.poll() is None for w in writers):  # search while they write
            store.search("c", unit_vectors(1)[0], top_k=5)
            searches += 1
        outputs = [w.communicate()[0].split() for w in writers]
        assert [w.returncode for w in writers] == [0, 0]
        assert searches > 0
        assert all_ids(store) == set(outputs[0]) | set(outputs[1])
        assert len(outputs[0]) == len(outputs[1]) == 300
        status = store.index_status("c")
        assert status["vectors"] == 600 and status["search"] == "approximate"
        assert_intact(store)


def test_threads_write_and_read_at_once(data_dir):
    store = SearchStore(data_dir, StoreConfig(exact_search_max=200))
    store.create_collection("c", model="m", dim=DIM)
    vectors = unit_vectors(4 * 60, seed=11)
    shared = unit_vectors(4, seed=99)  # one per writer, all under the id "shared"
    errors: list[BaseException] = []
    stop = threading.Event()

    def writer(w: int) -> None:
        try:
            for start in range(0, 60, 5):
                rows = range(w * 60 + start, w * 60 + start + 5)
                store.upsert_items("c", [{"id": f"t{i}", "vector": vectors[i]} for i in rows])
                store.upsert_items("c", [{"id": "shared", "vector": shared[w]}])  # contended
        except BaseException as e:  # noqa: BLE001 - reported by the test thread
            errors.append(e)

    def reader() -> None:
        try:
            while not stop.is_set():
                for hit in store.search("c", vectors[0], top_k=5):
                    assert -1.0001 <= hit.score <= 1.0001
                store.list_items("c", limit=50)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    writers = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    readers = [threading.Thread(target=reader) for _ in range(2)]
    for t in writers + readers:
        t.start()
    for t in writers:
        t.join(timeout=60)
    stop.set()
    for t in readers:
        t.join(timeout=60)
    assert not errors, errors
    assert store.get_collection("c").item_count == 241
    assert store.index_status("c")["vectors"] == 241
    sample = np.random.default_rng(0).choice(240, 20, replace=False)
    for i in sample:
        np.testing.assert_allclose(store.get_item("c", f"t{i}").vector, vectors[i], atol=1e-6)
    # The HNSW graph is approximate, and least reliable on random vectors: usearch alone misses
    # a vector's own key in 0.7% of top-1 searches over 241 random 16-d ones (30 seeds).
    found = sum(store.search("c", vectors[i], top_k=1)[0].id == f"t{i}" for i in sample)
    assert found >= 18
    assert_intact(store)
    store.close()
