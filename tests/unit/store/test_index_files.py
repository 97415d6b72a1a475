"""The HNSW graph file is a cache of SQLite: missing, stale or corrupt, it is rebuilt."""

import json
from pathlib import Path

import pytest

from mmserve.store import SearchStore, StoreConfig

from .conftest import DIM, items_for, unit_vectors

CONFIG = StoreConfig(exact_search_max=200, persist_every_changes=1_000_000)


def make(data_dir: Path, n: int = 500) -> None:
    with SearchStore(data_dir, CONFIG) as store:
        store.create_collection("c", model="m", dim=DIM)
        store.upsert_items("c", items_for(unit_vectors(n)))
        assert store.index_status("c")["graph"].startswith("rebuilt")  # first build


def reopened(data_dir: Path) -> tuple[str, int]:
    """(where the graph came from, the top hit's number for item-42's vector)."""
    with SearchStore(data_dir, CONFIG) as store:
        status = store.index_status("c")
        top = store.search("c", unit_vectors(500)[42], top_k=1)[0].id
        return status["graph"], int(top.split("-")[1])


def files(data_dir: Path) -> tuple[Path, Path]:
    graph = next((data_dir / "indexes").glob("*.usearch"))
    return graph, graph.with_suffix(".json")


def test_clean_reopen_loads_the_file(data_dir):
    make(data_dir)
    assert reopened(data_dir) == ("file (+0 changes replayed)", 42)
    with SearchStore(data_dir, CONFIG) as store:
        store.open_indexes()
        assert store._indexes  # loaded before any search


def test_missing_file_is_rebuilt(data_dir):
    make(data_dir)
    graph, _ = files(data_dir)
    graph.unlink()
    where, top = reopened(data_dir)
    assert where == "rebuilt: file missing or unreadable" and top == 42
    assert graph.exists()  # saved again


@pytest.mark.parametrize("damage", ["truncate", "garbage", "sidecar"])
def test_corrupt_files_are_rebuilt(data_dir, damage):
    make(data_dir)
    graph, sidecar = files(data_dir)
    if damage == "truncate":
        graph.write_bytes(graph.read_bytes()[:100])
    elif damage == "garbage":
        graph.write_bytes(b"\x00garbage" * (graph.stat().st_size // 8))
    else:
        sidecar.write_text("{not json")
    where, top = reopened(data_dir)
    assert where.startswith("rebuilt") and top == 42


def test_stale_epoch_and_future_seq_are_rebuilt(data_dir):
    make(data_dir)
    _, sidecar = files(data_dir)
    meta = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps({**meta, "epoch": meta["epoch"] + 7}))
    assert reopened(data_dir)[0] == f"rebuilt: stale epoch {meta['epoch'] + 7} (SQLite: 0)"
    meta = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps({**meta, "applied_seq": meta["applied_seq"] + 5}))
    assert reopened(data_dir)[0].startswith("rebuilt: file ahead of SQLite")


def test_rebuild_index_bumps_the_epoch(data_dir):
    make(data_dir)
    with SearchStore(data_dir, CONFIG) as store:
        store.rebuild_index("c")
        status = store.index_status("c")
        assert status["epoch"] == 1 and status["graph"].startswith("rebuilt: stale epoch 0")


def test_changes_after_the_last_save_are_replayed_not_rebuilt(data_dir):
    """What a crash leaves: the file from the last save, SQLite ahead of it."""
    make(data_dir)
    graph, sidecar = files(data_dir)
    saved = graph.read_bytes(), sidecar.read_text()
    with SearchStore(data_dir, CONFIG) as store:
        store.upsert_items("c", items_for(unit_vectors(20, seed=7), prefix="new"))
        store.delete_items("c", ["item-1", "item-2"])
    graph.write_bytes(saved[0])  # as if the process died before saving at close
    sidecar.write_text(saved[1])
    with SearchStore(data_dir, CONFIG) as store:
        status = store.index_status("c")
        assert status["graph"] == "file (+22 changes replayed)"
        assert status["vectors"] == 518
        assert store.search("c", unit_vectors(20, seed=7)[3], top_k=1)[0].id == "new-3"
        assert store.search("c", unit_vectors(500)[1], top_k=1)[0].id != "item-1"


def test_graph_is_saved_every_n_changes(data_dir):
    config = StoreConfig(exact_search_max=200, persist_every_changes=50)
    with SearchStore(data_dir, config) as store:
        store.create_collection("c", model="m", dim=DIM)
        store.upsert_items("c", items_for(unit_vectors(300)))
        store.search("c", unit_vectors(1)[0])
        store.upsert_items("c", items_for(unit_vectors(30, seed=1), prefix="a"))
        assert store.index_status("c")["unsaved_changes"] == 30
        store.upsert_items("c", items_for(unit_vectors(30, seed=2), prefix="b"))
        assert store.index_status("c")["unsaved_changes"] == 0
        _, sidecar = files(data_dir)
        assert json.loads(sidecar.read_text())["count"] == 360


def test_a_collection_deleted_elsewhere_leaves_no_graph_file(data_dir):
    make(data_dir)
    with SearchStore(data_dir, CONFIG) as holder, SearchStore(data_dir, CONFIG) as other:
        holder.upsert_items("c", items_for(unit_vectors(5, seed=3), prefix="late"))
        holder.search("c", unit_vectors(1)[0])  # loaded, with unsaved changes
        other.delete_collection("c")
    assert list((data_dir / "indexes").glob("*.usearch")) == []
