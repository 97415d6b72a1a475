import numpy as np
import pytest

from mmserve.errors import InvalidRequest
from mmserve.store import SearchStore


def test_put_then_get_by_model_and_hash(store: SearchStore):
    cache = store.embedding_cache
    cache.put_many("minilm", {"h1": [1.0, 2.0], "h2": np.array([3.0, 4.0], dtype=np.float32)})
    cache.put_many("clip", {"h1": [9.0, 9.0, 9.0]})
    got = cache.get_many("minilm", ["h1", "h2", "h3", "h1"])
    assert sorted(got) == ["h1", "h2"]
    np.testing.assert_array_equal(got["h2"], [3.0, 4.0])
    assert got["h1"].dtype == np.float32
    assert cache.get_many("clip", ["h1"])["h1"].tolist() == [9.0, 9.0, 9.0]  # per model
    assert cache.get_many("other", ["h1"]) == {}


def test_entries_survive_reopen_and_are_shared(data_dir):
    with SearchStore(data_dir) as store:
        store.embedding_cache.put_many("m", {f"h{i}": [float(i)] for i in range(20_005)})
    with SearchStore(data_dir) as store:
        got = store.embedding_cache.get_many("m", [f"h{i}" for i in range(20_005)])
        assert len(got) == 20_005 and got["h20004"].tolist() == [20004.0]  # chunked lookups
        assert store.embedding_cache.delete_model("m") == 20_005


def test_replace_and_bad_vectors(store: SearchStore):
    cache = store.embedding_cache
    cache.put_many("m", {"h": [1.0]})
    cache.put_many("m", {"h": [2.0]})
    assert cache.get_many("m", ["h"])["h"].tolist() == [2.0]
    for bad in ([], [float("nan")], [[1.0]]):
        with pytest.raises(InvalidRequest):
            cache.put_many("m", {"x": bad})
    cache.put_many("m", {})
