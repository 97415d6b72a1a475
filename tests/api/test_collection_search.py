"""POST /v1/collections/{name}/search: query forms, filters, errors, and concurrency."""

from __future__ import annotations

import base64
import io
import threading
import wave

import numpy as np
import pytest
from PIL import Image

from mmserve.config import ModelConfig
from tests.search_helpers import make_search_app  # noqa: F401 - fixture
from tests.tiny_models import expected_embedding, write_local_model

DIM = 8


def unit(i: int, dim: int = DIM) -> list[float]:
    v = [0.0] * dim
    v[i] = 1.0
    return v


@pytest.fixture
def client(make_search_app):  # noqa: F811
    client = make_search_app().test_client()
    client.post("/v1/collections", json={"name": "pics", "model": "fake"})
    items = [
        {"id": "a", "vector": unit(0), "metadata": {"kind": "photo", "year": 2019, "tag": "x"}},
        {"id": "b", "vector": [1, 0.5] + [0] * 6, "metadata": {"kind": "photo", "year": 2021}},
        {"id": "c", "vector": [1, 1] + [0] * 6, "metadata": {"kind": "clip", "year": 2022}},
        {"id": "d", "vector": unit(1), "metadata": {"kind": "photo", "year": 2023, "tag": "y"}},
        {"id": "e", "vector": unit(2), "metadata": {"kind": "doc", "year": 2025}},
    ]
    assert client.post("/v1/collections/pics/items", json={"items": items}).status_code == 200
    return client


def search(client, body, status=200, name="pics"):
    response = client.post(f"/v1/collections/{name}/search", json=body)
    assert response.status_code == status, response.get_json()
    return response.get_json()


def ids(result):
    return [hit["id"] for hit in result["data"]]


def test_vector_query_ranks_by_cosine_and_returns_the_issue_shape(client):
    result = search(client, {"query": {"vector": unit(0)}, "top_k": 3})
    assert ids(result) == ["a", "b", "c"]
    first = result["data"][0]
    assert set(first) == {"id", "score", "metadata", "modality"}
    assert first["score"] == pytest.approx(1.0) and first["modality"] == "vector"
    assert result["data"][1]["score"] == pytest.approx(1 / np.sqrt(1.25))
    assert len(search(client, {"query": {"vector": unit(0)}})["data"]) == 5  # top_k default 10


def test_id_query_finds_neighbours_without_itself(client):
    assert ids(search(client, {"query": {"id": "a"}, "top_k": 2})) == ["b", "c"]
    with_self = search(client, {"query": {"id": "a"}, "top_k": 2, "include_self": True})
    assert ids(with_self) == ["a", "b"]
    assert search(client, {"query": {"id": "zz"}}, 404)["error"]["param"] == "id"


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"kind": "photo"}, ["a", "b", "d"]),
        ({"kind": {"eq": "clip"}}, ["c"]),
        ({"tag": {"in": ["x", "y"]}}, ["a", "d"]),
        ({"year": {"gte": 2020, "lt": 2024}}, ["b", "c", "d"]),
        ({"kind": "photo", "year": {"gt": 2019}}, ["b", "d"]),
        ({"year": {"lte": 2019}}, ["a"]),
        ({"kind": "none"}, []),
    ],
)
def test_filters(client, where, expected):
    result = search(client, {"query": {"vector": unit(0)}, "top_k": 10, "filter": where})
    assert sorted(ids(result)) == expected


def test_bad_queries_and_filters_name_the_field(client):
    assert search(client, {"query": {"vector": [1, 2]}}, 400)["error"]["param"] == "query.vector"
    wrong = search(client, {"query": {"vector": ["a"] * DIM}}, 422)["error"]
    assert wrong["param"] == "query.vector"
    assert search(client, {"query": 42}, 422)["error"]["param"] == "query"
    assert search(client, {"query": {"id": 3}}, 422)["error"]["param"] == "query.id"
    op = search(client, {"query": {"vector": unit(0)}, "filter": {"year": {"near": 3}}}, 400)
    assert op["error"]["param"] == "filter.year" and "gte" in op["error"]["message"]
    rng = search(client, {"query": {"vector": unit(0)}, "filter": {"year": {"gte": "x"}}}, 400)
    assert rng["error"]["param"].startswith("filter")
    big = search(client, {"query": {"vector": unit(0)}, "top_k": 5000}, 400)["error"]
    assert big["param"] == "top_k" and "1000" in big["message"]
    assert search(client, {"query": "x", "top_k": 0}, 422)["error"]["param"] == "top_k"
    assert search(client, {"query": "x"}, 404, name="nope")["error"]["message"]
    assert search(client, {"top_k": 3}, 422)["error"]["param"] == "query"


def test_text_queries_are_embedded_with_the_collections_model(make_search_app, tmp_path):  # noqa: F811
    tiny = ModelConfig(
        id="tiny", source=f"local:{write_local_model(tmp_path / 'tiny', max_seq_length=64)}"
    )
    client = make_search_app(tiny).test_client()
    made = client.post("/v1/collections", json={"name": "t", "model": "tiny"}).get_json()
    assert made["dim"] == 4
    texts = {"1": "red cat", "2": "blue sky", "3": "green dog"}
    items = [{"id": k, "content": v} for k, v in texts.items()]
    assert client.post("/v1/collections/t/items", json={"items": items}).status_code == 200
    stored = client.get("/v1/collections/t/items/1?include_vector=true").get_json()
    np.testing.assert_allclose(stored["vector"], expected_embedding("red cat"), atol=1e-6)
    hits = search(client, {"query": "blue sky", "top_k": 1}, name="t")["data"]
    assert hits[0]["id"] == "2" and hits[0]["modality"] == "text"
    assert hits[0]["score"] == pytest.approx(1.0, abs=1e-5)


def test_concurrent_writers_and_readers(make_search_app):  # noqa: F811
    app = make_search_app()
    app.test_client().post("/v1/collections", json={"name": "c", "model": "fake"})
    writers, per_writer, errors = 4, 30, []

    def write(w: int) -> None:
        client = app.test_client()
        for i in range(per_writer):
            item = {"id": f"w{w}-{i}", "vector": unit((w + i) % DIM), "metadata": {"w": w}}
            r = client.post("/v1/collections/c/items", json={"items": [item]})
            if r.status_code != 200:
                errors.append(r.get_json())

    def read() -> None:
        client = app.test_client()
        for i in range(40):
            r = client.post(
                "/v1/collections/c/search",
                json={"query": {"vector": unit(i % DIM)}, "top_k": 5, "filter": {"w": {"gte": 0}}},
            )
            page = client.get("/v1/collections/c/items?limit=50")
            if r.status_code != 200 or page.status_code != 200:
                errors.append((r.get_json(), page.get_json()))

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    threads += [threading.Thread(target=read) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    client = app.test_client()
    assert client.get("/v1/collections/c").get_json()["item_count"] == writers * per_writer
    for w in range(writers):
        hits = search(
            client, {"query": {"id": f"w{w}-0"}, "top_k": 200, "include_self": True}, name="c"
        )
        assert f"w{w}-0" in ids(hits)
        assert len([h for h in hits["data"] if h["metadata"]["w"] == w]) == per_writer


def test_openapi_documents_every_search_route(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    assert set(paths["/v1/collections"]) == {"get", "post"}
    assert set(paths["/v1/collections/{name}"]) == {"get", "delete"}
    assert set(paths["/v1/collections/{name}/items"]) == {"get", "post"}
    assert set(paths["/v1/collections/{name}/items/{item_id}"]) == {"get", "delete"}
    assert "post" in paths["/v1/collections/{name}/search"]
    assert set(paths["/v1/jobs"]) == {"get", "post"} and "delete" in paths["/v1/jobs/{job_id}"]


def png(colour) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def wav(amplitude: float) -> str:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(16_000)
        tone = amplitude * np.sin(np.arange(8_000) / 5)
        f.writeframes((tone * 32767).astype("<i2").tobytes())
    return base64.b64encode(buffer.getvalue()).decode()


def test_content_parts_of_every_modality_are_embedded_and_cached(make_search_app):  # noqa: F811
    app = make_search_app(ModelConfig(id="multi", source="test-multimodal"))
    client = app.test_client()
    model = app.extensions["mmserve"].pool.get("multi").model
    client.post("/v1/collections", json={"name": "m", "model": "multi"})
    red = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png('red')}"}}
    tone = {"type": "input_audio", "input_audio": {"data": wav(0.5), "format": "wav"}}
    items = [
        {"id": "red", "content": red},
        {"id": "blue", "content": {"type": "image", "image": png("blue")}},
        {"id": "tone", "content": tone},
        {"id": "word", "content": {"type": "text", "text": "hi"}},
    ]
    added = client.post("/v1/collections/m/items", json={"items": items})
    assert [d["modality"] for d in added.get_json()["data"]] == ["image", "image", "audio", "text"]
    seen = len(model.seen)
    # The same red picture in another form: found first, from the cache (no forward pass).
    query = {"type": "image", "image": f"data:image/png;base64,{png('red')}"}
    hits = search(client, {"query": query, "top_k": 2}, name="m")["data"]
    assert hits[0]["id"] == "red" and hits[0]["modality"] == "image"
    assert len(model.seen) == seen
    loud = {"type": "audio", "audio": wav(0.9)}
    assert search(client, {"query": loud, "top_k": 1}, name="m")["data"][0]["id"] == "tone"
    assert len(model.seen) == seen + 1


def test_bad_content_parts_name_the_item(make_search_app):  # noqa: F811
    client = make_search_app().test_client()
    client.post("/v1/collections", json={"name": "t", "model": "fake"})
    bad = client.post(
        "/v1/collections/t/items", json={"items": [{"content": "ok"}, {"content": {"type": "x"}}]}
    )
    assert bad.status_code == 400 and bad.get_json()["error"]["param"] == "items[1].content"
    image = {"type": "image", "image": png("red")}
    refused = client.post("/v1/collections/t/items", json={"items": [{"content": image}]})
    error = refused.get_json()["error"]
    assert refused.status_code == 400 and "items[0].content" in error["message"]
    assert "cannot embed image" in error["message"]
    broken = {"type": "image", "image": base64.b64encode(b"not a picture").decode()}
    assert search(client, {"query": broken}, 400, name="t")["error"]["param"] == "query"
