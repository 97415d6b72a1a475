import pytest

from mmserve.errors import InvalidRequest, NotFound
from mmserve.store import IngestFile, SearchStore


@pytest.fixture
def ingest(store: SearchStore):
    store.create_collection("c", model="m", dim=4)
    return store.ingest


def test_resume_skips_unchanged_done_files(ingest):
    ingest.record(
        "c",
        [
            IngestFile("a.jpg", 10, 1.0, "ha", "indexed"),
            IngestFile("b.jpg", 20, 2.0, None, "failed", "not an image"),
            IngestFile("c.jpg", 30, 3.0, None, "pending"),
            IngestFile("d.txt", 5, 4.0, None, "skipped"),
        ],
    )
    walked = [
        IngestFile("a.jpg", 10, 1.0),  # same: skip
        IngestFile("b.jpg", 20, 2.0),  # failed: retry
        IngestFile("c.jpg", 30, 3.0),  # pending: do
        IngestFile("d.txt", 5, 4.0),  # skipped before: skip
        IngestFile("e.jpg", 1, 1.0),  # new
    ]
    assert ingest.unchanged("c", walked) == {"a.jpg", "d.txt"}
    assert ingest.unchanged("c", [IngestFile("a.jpg", 11, 1.0)]) == set()  # changed size
    assert ingest.get_many("c", ["b.jpg"])["b.jpg"].error == "not an image"
    assert ingest.counts("c") == {"pending": 1, "indexed": 1, "failed": 1, "skipped": 1}


def test_list_pages_by_path_and_status(ingest):
    ingest.record("c", [IngestFile(f"f{i:02}", i, 0.0, status="indexed") for i in range(5)])
    ingest.record("c", [IngestFile("f02", 2, 0.0, status="failed", error="boom")])
    first = ingest.list("c", limit=2)
    assert [f.path for f in first] == ["f00", "f01"]
    assert [f.path for f in ingest.list("c", after_path="f01", limit=2)] == ["f02", "f03"]
    assert [f.path for f in ingest.list("c", status="failed")] == ["f02"]


def test_rows_go_with_their_collection(store: SearchStore, ingest):
    ingest.record("c", [IngestFile("a", 1, 1.0, status="indexed")])
    store.delete_collection("c")
    store.create_collection("c", model="m", dim=4)
    assert ingest.list("c") == []
    with pytest.raises(NotFound):
        ingest.list("other")
    with pytest.raises(InvalidRequest, match="status"):
        ingest.record("c", [IngestFile("a", 1, 1.0, status="done")])
