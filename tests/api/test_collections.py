"""Collections and items over HTTP, with fake models: every route and its errors."""

from __future__ import annotations

import pytest

from mmserve.config import ModelConfig
from tests.search_helpers import make_search_app  # noqa: F401 - fixture

DIM = 8  # the fake model's


@pytest.fixture
def client(make_search_app):  # noqa: F811
    return make_search_app().test_client()


def create(client, name="docs", **extra):
    response = client.post("/v1/collections", json={"name": name, "model": "fake", **extra})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def add(client, items, name="docs"):
    return client.post(f"/v1/collections/{name}/items", json={"items": items})


def error(response, status):
    assert response.status_code == status, response.get_json()
    return response.get_json()["error"]


def test_collection_lifecycle(client):
    made = create(client, metadata_schema={"year": "integer"})
    assert made | {"created_at": 0} == {
        "object": "collection",
        "name": "docs",
        "model": "fake",
        "dim": DIM,
        "metadata_schema": {"year": "integer"},
        "created_at": 0,
        "item_count": 0,
    }
    create(client, "other")
    listed = client.get("/v1/collections").get_json()["data"]
    assert [c["name"] for c in listed] == ["docs", "other"]
    assert client.get("/v1/collections/docs").get_json()["name"] == "docs"
    assert client.delete("/v1/collections/docs").get_json()["deleted"] is True
    assert error(client.get("/v1/collections/docs"), 404)["param"]
    assert [c["name"] for c in client.get("/v1/collections").get_json()["data"]] == ["other"]


def test_collection_errors_name_the_field(client):
    create(client)
    assert (
        error(client.post("/v1/collections", json={"name": "docs", "model": "fake"}), 400)["code"]
        == "already_exists"
    )
    bad_name = client.post("/v1/collections", json={"name": "a b/c", "model": "fake"})
    assert error(bad_name, 400)["param"] == "name"
    unknown = error(client.post("/v1/collections", json={"name": "x", "model": "nope"}), 404)
    assert (
        unknown["param"] == "model" and "fake" in unknown["message"] and "dim" in unknown["message"]
    )
    wrong_dim = client.post("/v1/collections", json={"name": "x", "model": "fake", "dim": 3})
    assert error(wrong_dim, 400)["param"] == "dim"
    schema = {"name": "x", "model": "fake", "metadata_schema": {"year": "date"}}
    assert error(client.post("/v1/collections", json=schema), 422)["param"].startswith(
        "metadata_schema"
    )
    missing = error(client.post("/v1/collections", json={"name": "x"}), 422)
    assert missing["param"] == "model"
    assert error(client.delete("/v1/collections/nope"), 404)["message"]


def test_items_add_get_upsert_delete(client):
    create(client)
    added = add(
        client,
        [
            {"id": "t1", "content": "hello world", "metadata": {"kind": "note"}},
            {"id": "v1", "vector": [1.0] + [0.0] * (DIM - 1), "metadata": {"kind": "raw"}},
            {"content": "made id"},
        ],
    )
    assert added.status_code == 200, added.get_json()
    data = added.get_json()["data"]
    assert [d["modality"] for d in data] == ["text", "vector", "text"]
    assert data[0]["id"] == "t1" and len(data[2]["id"]) == 32
    item = client.get("/v1/collections/docs/items/t1").get_json()
    assert item["metadata"] == {"kind": "note"} and item["modality"] == "text"
    assert item["content_hash"] and "vector" not in item
    with_vector = client.get("/v1/collections/docs/items/v1?include_vector=true").get_json()
    assert with_vector["vector"] == [1.0] + [0.0] * (DIM - 1)
    # Upsert: same id replaces, the count does not grow.
    assert (
        add(client, [{"id": "t1", "content": "changed", "metadata": {"v": 2}}]).status_code == 200
    )
    assert client.get("/v1/collections/docs/items/t1").get_json()["metadata"] == {"v": 2}
    assert client.get("/v1/collections/docs").get_json()["item_count"] == 3
    assert client.delete("/v1/collections/docs/items/t1").get_json()["deleted"] is True
    assert error(client.get("/v1/collections/docs/items/t1"), 404)["param"] == "id"
    assert error(client.delete("/v1/collections/docs/items/t1"), 404)
    assert client.get("/v1/collections/docs").get_json()["item_count"] == 2


def test_item_errors_name_the_item_and_field(client):
    create(client, metadata_schema={"year": "integer"})
    assert error(add(client, [{"id": "a"}], name="nope"), 404)["param"]
    short = error(add(client, [{"vector": [1.0] * DIM}, {"vector": [1.0] * 3}]), 400)
    assert short["param"] == "items[1].vector" and short["code"] == "dimension_mismatch"
    assert "3 dimensions" in short["message"] and f"{DIM}" in short["message"]
    both = error(add(client, [{"content": "x", "vector": [1.0] * DIM}]), 422)
    assert both["param"] == "items[0]"
    neither = error(add(client, [{"id": "a", "metadata": {}}]), 422)
    assert neither["param"] == "items[0]"
    other_model = add(client, [{"vector": [1.0] * DIM, "model": "minilm"}])
    assert error(other_model, 400) | {"message": ""} == {
        "message": "",
        "type": "invalid_request_error",
        "param": "items[0].model",
        "code": "model_mismatch",
    }
    content_model = error(add(client, [{"content": "x", "model": "other"}]), 400)
    assert content_model["param"] == "items[0].model"
    wrong_type = error(add(client, [{"vector": [1.0] * DIM, "metadata": {"year": "2020"}}]), 422)
    assert wrong_type["param"] == "items[0].metadata.year"
    empty = error(add(client, [{"content": "   "}]), 400)
    assert empty["param"] == "items[0].content"
    assert error(add(client, []), 422)["param"] == "items"
    unknown = error(add(client, [{"vector": [1.0] * DIM, "colour": "red"}]), 422)
    assert unknown["param"] == "items[0]"
    nan = error(add(client, [{"vector": [0.0] * DIM}]), 400)
    assert nan["param"] == "items[0].vector"
    # Nothing of a refused batch was stored.
    assert client.get("/v1/collections/docs").get_json()["item_count"] == 0


def test_too_many_items_are_refused_with_the_limit(make_search_app):  # noqa: F811
    client = make_search_app(max_inputs=3).test_client()
    create(client)
    refused = error(add(client, [{"vector": [1.0] * DIM}] * 4), 400)
    assert refused["param"] == "items" and "3" in refused["message"]


def test_content_needs_a_served_model(client):
    made = client.post("/v1/collections", json={"name": "raw", "model": "elsewhere", "dim": 4})
    assert made.get_json()["dim"] == 4
    assert add(client, [{"vector": [1, 2, 3, 4]}], name="raw").status_code == 200
    refused = error(add(client, [{"content": "text"}], name="raw"), 404)
    assert refused["param"] == "model" and "elsewhere" in refused["message"]


def test_pagination_walks_every_item_once_in_insertion_order(client):
    create(client)
    ids = [f"item-{i:02}" for i in range(25)]
    for start in range(0, 25, 7):  # several writes
        batch = [{"id": i, "vector": [1.0] * DIM} for i in ids[start : start + 7]]
        assert add(client, batch).status_code == 200
    seen, cursor, pages = [], None, 0
    while True:
        url = "/v1/collections/docs/items?limit=10" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url).get_json()
        seen += [item["id"] for item in page["data"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids and pages == 3
    assert len(client.get("/v1/collections/docs/items").get_json()["data"]) == 25
    assert error(client.get("/v1/collections/docs/items?limit=0"), 400)["param"] == "limit"
    assert error(client.get("/v1/collections/docs/items?limit=x"), 400)["param"] == "limit"
    assert error(client.get("/v1/collections/docs/items?cursor=%21%21"), 400)


def test_same_content_is_embedded_once_across_requests_and_collections(make_search_app):  # noqa: F811
    app = make_search_app(ModelConfig(id="fake", max_wait_ms=0))
    client = app.test_client()
    model = app.extensions["mmserve"].pool.get("fake").model
    create(client, "a")
    create(client, "b")
    before = sum(model.batches)
    assert (
        add(client, [{"content": "same text"}, {"content": "other"}], name="a").status_code == 200
    )
    assert sum(model.batches) - before == 2
    assert add(client, [{"content": "same text"}], name="b").status_code == 200
    assert (
        add(client, [{"content": "other"}, {"content": "same text"}], name="a").status_code == 200
    )
    search = client.post("/v1/collections/b/search", json={"query": "same text"})
    assert search.status_code == 200
    assert sum(model.batches) - before == 2  # every later use came from the cache
