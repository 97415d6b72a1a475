import numpy as np
import pytest

from mmserve.errors import InvalidRequest, NotFound
from mmserve.store.label_sets import LabelSet, LabelSetStore


def a_set(name="animals", labels=("cat", "dog")):
    return LabelSet(name, labels, "bridge", "a photo of a {}", 3, 1_700_000_000)


def test_a_set_round_trips_through_a_new_store(tmp_path):
    vectors = np.arange(6, dtype=np.float32).reshape(2, 3)
    LabelSetStore(tmp_path).create(a_set(), vectors)
    found, loaded = LabelSetStore(tmp_path).get("animals")
    assert found == a_set() and loaded.tolist() == vectors.tolist()
    assert [s.name for s in LabelSetStore(tmp_path).list()] == ["animals"]


def test_delete_then_the_name_is_free(tmp_path):
    store = LabelSetStore(tmp_path)
    store.create(a_set(), np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(InvalidRequest, match="exists"):
        store.create(a_set(), np.zeros((2, 3), dtype=np.float32))
    store.delete("animals")
    assert store.list() == [] and not list(tmp_path.iterdir())
    with pytest.raises(NotFound):
        store.get("animals")


def test_an_orphan_vector_file_is_invisible_and_replaced(tmp_path):
    (tmp_path / "animals.npy").write_bytes(b"half-written by a crashed create")
    store = LabelSetStore(tmp_path)
    assert store.list() == []
    store.create(a_set(), np.ones((2, 3), dtype=np.float32))
    assert store.get("animals")[1].tolist() == [[1.0] * 3] * 2


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden", "x" * 65, "with space"])
def test_names_that_are_not_safe_file_names_are_refused(tmp_path, name):
    with pytest.raises(InvalidRequest) as caught:
        LabelSetStore(tmp_path).create(a_set(name=name), np.zeros((2, 3), dtype=np.float32))
    assert caught.value.param == "name"
