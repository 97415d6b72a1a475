import pytest

from mmserve.errors import InvalidRequest
from mmserve.store import SearchStore

from .conftest import DIM, unit_vectors

ROWS = {
    "a": {"kind": "photo", "year": 2019, "tag": "x", "ok": True},
    "b": {"kind": "photo", "year": 2020, "tag": "y", "ok": False},
    "c": {"kind": "scan", "year": 2021.5, "tag": "z"},
    "d": {"kind": "photo", "year": 2023, "tag": ["x", "y"], "ok": None},
    "e": {"kind": "audio", "year": "2022", "tag": 1},
}


@pytest.fixture(params=["exact", "ann"])
def filled(request, data_dir) -> SearchStore:
    from mmserve.store import StoreConfig

    limit = 3 if request.param == "ann" else 1000  # 5 rows: past 3 gets an HNSW graph
    store = SearchStore(data_dir, StoreConfig(exact_search_max=limit))
    store.create_collection("c", model="m", dim=DIM)
    vectors = unit_vectors(len(ROWS))
    items = [
        {"id": k, "vector": v, "metadata": m}
        for (k, m), v in zip(ROWS.items(), vectors, strict=True)
    ]
    store.upsert_items("c", items)
    yield store
    store.close()


def found(store: SearchStore, filter: dict) -> set[str]:
    return {
        hit.id for hit in store.search("c", unit_vectors(1, seed=5)[0], top_k=10, filter=filter)
    }


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({"kind": "photo"}, {"a", "b", "d"}),
        ({"kind": {"eq": "scan"}}, {"c"}),
        ({"ok": True}, {"a"}),
        ({"ok": False}, {"b"}),
        ({"ok": None}, {"c", "d", "e"}),  # null or absent
        ({"tag": 1}, {"e"}),  # 1 is not true, not "1"
        ({"tag": {"in": ["x", "z"]}}, {"a", "c"}),  # whole values: ["x", "y"] is not "x"
        ({"tag": {"in": ["y", 1]}}, {"b", "e"}),
        ({"year": {"gte": 2020}}, {"b", "c", "d"}),  # "2022" is a string, not a number
        ({"year": {"gt": 2020}}, {"c", "d"}),
        ({"year": {"lt": 2021}}, {"a", "b"}),
        ({"year": {"lte": 2021.5}}, {"a", "b", "c"}),
        ({"year": {"gte": 2020, "lt": 2023}}, {"b", "c"}),
        ({"year": 2020}, {"b"}),
        ({"kind": "photo", "year": {"gte": 2020}}, {"b", "d"}),
        ({"kind": {"in": ["photo", "scan"]}, "tag": {"in": ["x", "z"]}}, {"a", "c"}),
        ({"missing": "x"}, set()),
        ({"kind": "photo", "tag": "z"}, set()),
    ],
)
def test_filter_operators(filled: SearchStore, filter: dict, expected: set[str]):
    assert found(filled, filter) == expected


@pytest.mark.parametrize(
    ("filter", "message"),
    [
        ({"year": {"between": [1, 2]}}, "unknown filter operator 'between'"),
        ({"year": {"gte": "2020"}}, "takes a number"),
        ({"year": {"gte": True}}, "takes a number"),
        ({"tag": {"in": "x"}}, "list"),
        ({"tag": {"in": []}}, "list"),
        ({"tag": {"eq": {"nested": 1}}}, "compare with"),
        ({"year": {}}, "no operator"),
        ({'we"ird': 1}, "without quotes"),
    ],
)
def test_bad_filters_are_refused(filled: SearchStore, filter: dict, message: str):
    with pytest.raises(InvalidRequest, match=message):
        found(filled, filter)


def test_range_on_a_non_numeric_schema_field_is_refused(store: SearchStore):
    store.create_collection("s", model="m", dim=DIM, metadata_schema={"kind": "string"})
    with pytest.raises(InvalidRequest, match="declares 'kind' as string"):
        store.search("s", unit_vectors(1)[0], filter={"kind": {"gt": 1}})
