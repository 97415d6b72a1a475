import numpy as np
import pytest

from mmserve.errors import InvalidRequest, NotFound, SchemaError
from mmserve.store import ItemInput, SearchStore

from .conftest import DIM, items_for, unit_vectors


def test_create_get_list_delete(store: SearchStore):
    created = store.create_collection("photos", model="clip", dim=DIM)
    store.create_collection("notes", model="minilm", dim=384, metadata_schema={"year": "integer"})
    assert created.name == "photos" and created.model == "clip" and created.dim == DIM
    assert created.item_count == 0 and created.created_at > 0
    assert [c.name for c in store.list_collections()] == ["notes", "photos"]
    assert store.get_collection("notes").metadata_schema == {"year": "integer"}
    store.delete_collection("photos")
    assert [c.name for c in store.list_collections()] == ["notes"]
    with pytest.raises(NotFound):
        store.get_collection("photos")


def test_duplicate_and_bad_names_are_refused(store: SearchStore):
    store.create_collection("a", model="m", dim=4)
    with pytest.raises(InvalidRequest, match="already exists"):
        store.create_collection("a", model="m", dim=4)
    for bad in ("", "has space", "../up", "-dash-first"):
        with pytest.raises(InvalidRequest, match="name"):
            store.create_collection(bad, model="m", dim=4)
    with pytest.raises(InvalidRequest, match="dim"):
        store.create_collection("b", model="m", dim=0)
    with pytest.raises(SchemaError, match="type"):
        store.create_collection("c", model="m", dim=4, metadata_schema={"year": "int32"})


def test_upsert_get_replace_delete_item(store: SearchStore):
    store.create_collection("c", model="m", dim=DIM)
    vectors = unit_vectors(3)
    ids = store.upsert_items(
        "c",
        [
            ItemInput(vector=vectors[0] * 5, id="a", modality="text", content_hash="h1"),
            {"vector": vectors[1].tolist(), "metadata": {"k": 1}},
        ],
    )
    assert ids[0] == "a" and len(ids[1]) == 32  # made when absent
    item = store.get_item("c", "a")
    assert item.modality == "text" and item.content_hash == "h1"
    np.testing.assert_allclose(item.vector, vectors[0], atol=1e-6)  # normalised on the way in
    store.upsert_items("c", [{"id": "a", "vector": vectors[2], "metadata": {"v": 2}}])
    assert store.get_item("c", "a").metadata == {"v": 2}
    assert store.get_collection("c").item_count == 2
    store.delete_item("c", "a")
    with pytest.raises(NotFound):
        store.get_item("c", "a")
    with pytest.raises(NotFound):
        store.delete_item("c", "a")
    assert store.delete_items("c", [ids[1], "nope"]) == 1


def test_other_model_or_dimension_is_refused(store: SearchStore):
    store.create_collection("c", model="minilm", dim=DIM)
    good = {"vector": unit_vectors(1)[0]}
    with pytest.raises(InvalidRequest, match="model 'minilm', not 'clip'") as e:
        store.upsert_items("c", [good], model="clip")
    assert e.value.code == "model_mismatch"
    with pytest.raises(InvalidRequest, match="8 dimensions but the collection was built with 16"):
        store.upsert_items("c", [{"vector": np.ones(8)}], model="minilm")
    with pytest.raises(InvalidRequest, match="model"):
        store.search("c", good["vector"], model="clip")
    with pytest.raises(InvalidRequest, match="dimensions"):
        store.search("c", np.ones(DIM + 1))
    assert store.get_collection("c").item_count == 0


def test_bad_items_refuse_the_whole_batch(store: SearchStore):
    store.create_collection("c", model="m", dim=DIM, metadata_schema={"year": "integer"})
    v = unit_vectors(1)[0]
    bad_batches = {
        "zero vector": [{"vector": np.zeros(DIM)}],
        "NaN": [{"vector": np.full(DIM, np.nan)}],
        "modality": [{"vector": v, "modality": "video"}],
        "repeat": [{"id": "x", "vector": v}, {"id": "x", "vector": v}],
        "must be of type integer": [{"vector": v, "metadata": {"year": "2020"}}],
        "JSON object": [{"vector": v, "metadata": ["not", "an", "object"]}],
        "one flat list": [{"vector": np.stack([v, v])}],  # two vectors, not one
        "empty": [],
    }
    for message, batch in bad_batches.items():
        with pytest.raises((InvalidRequest, SchemaError), match=message):
            store.upsert_items("c", [{"vector": v, "id": "ok"}, *batch] if batch else [])
    assert store.get_collection("c").item_count == 0
    store.upsert_items("c", [{"vector": v, "metadata": {"year": 2020, "other": "free"}}])


def test_pagination_is_stable_and_complete(store: SearchStore):
    store.create_collection("c", model="m", dim=DIM)
    store.upsert_items("c", items_for(unit_vectors(25)))
    store.upsert_items("c", [{"id": "item-3", "vector": unit_vectors(1, seed=9)[0]}])  # keeps place
    seen, cursor = [], None
    while True:
        page = store.list_items("c", limit=10, cursor=cursor)
        seen += [item.id for item in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [f"item-{i}" for i in range(25)]
    with pytest.raises(InvalidRequest, match="cursor"):
        store.list_items("c", cursor="garbage!")


def test_deleting_a_collection_removes_its_index_files(small_exact: SearchStore):
    small_exact.create_collection("c", model="m", dim=DIM)
    small_exact.upsert_items("c", items_for(unit_vectors(300)))
    small_exact.search("c", unit_vectors(1)[0])
    folder = small_exact.data_dir / "indexes"
    assert any(folder.iterdir())
    small_exact.delete_collection("c")
    assert not any(folder.iterdir())
    with pytest.raises(NotFound):
        small_exact.search("c", unit_vectors(1)[0])


def test_metadata_none_is_an_empty_object(store: SearchStore):
    store.create_collection("c", model="m", dim=DIM)
    store.upsert_items("c", [{"id": "a", "vector": unit_vectors(1)[0], "metadata": None}])
    assert store.get_item("c", "a").metadata == {}
    with pytest.raises(InvalidRequest, match="one flat list"):
        store.search("c", unit_vectors(2))
