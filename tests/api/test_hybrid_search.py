"""Keyword (FTS5/BM25) and hybrid (reciprocal rank fusion) search modes of a collection.

The tiny local encoder knows ten words; any other token (a product code) embeds as [UNK],
so vector search cannot tell items apart by it: the case keyword search is for.
"""

from __future__ import annotations

import pytest

from mmserve.config import ModelConfig
from tests.search_helpers import make_search_app  # noqa: F401 - fixture
from tests.tiny_models import write_local_model

TEXTS = {
    "1": ("blue sky", "photo"),
    "2": ("blue sky dog", "photo"),
    "3": ("blue cat", "photo"),
    "4": ("green dog", "doc"),
    "5": ("red cat XJ9000", "doc"),  # the product code: vector search cannot see it
    "6": ("red dog ZQ42", "photo"),
}


@pytest.fixture
def client(make_search_app, tmp_path):  # noqa: F811
    tiny = ModelConfig(
        id="tiny", source=f"local:{write_local_model(tmp_path / 'tiny', max_seq_length=64)}"
    )
    client = make_search_app(tiny).test_client()
    client.post("/v1/collections", json={"name": "t", "model": "tiny"})
    items = [
        {"id": key, "content": text, "metadata": {"kind": kind}}
        for key, (text, kind) in TEXTS.items()
    ]
    assert client.post("/v1/collections/t/items", json={"items": items}).status_code == 200
    return client


def search(client, body, status=200):
    response = client.post("/v1/collections/t/search", json=body)
    assert response.status_code == status, response.get_json()
    return response.get_json()


def ids(result):
    return [hit["id"] for hit in result["data"]]


def test_keyword_finds_the_rare_token_that_vector_search_ranks_low(client):
    query = "blue sky XJ9000"
    by_vector = ids(search(client, {"query": query, "top_k": 6}))
    assert by_vector.index("5") >= 3  # the code is [UNK] to the encoder
    by_keyword = search(client, {"query": query, "top_k": 6, "mode": "keyword"})
    # Rarest token weighs most in BM25: the one item with XJ9000 comes first.
    assert ids(by_keyword)[0] == "5"
    assert set(ids(by_keyword)) == {"1", "2", "3", "5"}  # only items sharing a word
    scores = [hit["score"] for hit in by_keyword["data"]]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0
    assert by_keyword["data"][0]["metadata"] == {"kind": "doc"}


def test_keyword_matches_metadata_strings_and_ignores_query_syntax(client):
    assert ids(search(client, {"query": "doc", "mode": "keyword"})) in (["4", "5"], ["5", "4"])
    # FTS5 operators in the user's text are searched for as words, never run.
    assert ids(search(client, {"query": 'XJ9000 OR "NEAR(', "mode": "keyword"})) == ["5"]
    assert search(client, {"query": "nothing-here", "mode": "keyword"})["data"] == []


def test_hybrid_fuses_both_rankings(client):
    query = "blue sky XJ9000"
    by_vector = ids(search(client, {"query": query, "top_k": 6}))
    by_keyword = ids(search(client, {"query": query, "top_k": 6, "mode": "keyword"}))
    fused: dict[str, float] = {}
    for ranking in (by_vector, by_keyword):
        for rank, key in enumerate(ranking, start=1):
            fused[key] = fused.get(key, 0.0) + 1 / (60 + rank)
    hybrid = search(client, {"query": query, "top_k": 6, "mode": "hybrid"})
    assert [hit["score"] for hit in hybrid["data"]] == pytest.approx(
        sorted(fused.values(), reverse=True)
    )
    assert [fused[key] for key in ids(hybrid)] == pytest.approx(sorted(fused.values())[::-1])
    # The keyword winner, low in the vector ranking, rises into hybrid's top 3.
    assert "5" in ids(hybrid)[:3] and "5" not in by_vector[:3]
    keyword_only = search(
        client,
        {"query": query, "mode": "hybrid", "top_k": 6, "weights": {"vector": 0, "keyword": 1}},
    )
    by_keyword = search(client, {"query": query, "mode": "keyword", "top_k": 6})
    assert ids(keyword_only)[:4] == ids(by_keyword)
    vector_only = search(
        client,
        {"query": query, "mode": "hybrid", "top_k": 6, "weights": {"vector": 1, "keyword": 0}},
    )
    assert ids(vector_only) == ids(search(client, {"query": query, "top_k": 6}))


@pytest.mark.parametrize("mode", ["keyword", "hybrid"])
def test_filters_apply_in_every_mode(client, mode):
    body = {"query": "blue sky XJ9000", "mode": mode, "filter": {"kind": "photo"}}
    found = ids(search(client, body))
    assert found and "5" not in found
    assert all(TEXTS[key][1] == "photo" for key in found)
    body["filter"] = {"kind": "doc"}
    assert "5" in ids(search(client, body))


def test_delete_and_replace_keep_the_keyword_index_in_step(client):
    assert ids(search(client, {"query": "ZQ42", "mode": "keyword"})) == ["6"]
    assert client.delete("/v1/collections/t/items/6").status_code == 200
    assert search(client, {"query": "ZQ42", "mode": "keyword"})["data"] == []
    replaced = {"items": [{"id": "5", "content": "green cat"}]}
    assert client.post("/v1/collections/t/items", json=replaced).status_code == 200
    assert search(client, {"query": "XJ9000", "mode": "keyword"})["data"] == []
    assert ids(search(client, {"query": "green cat", "mode": "keyword"}))[0] == "5"


def test_keyword_index_survives_a_restart(make_search_app, tmp_path):  # noqa: F811
    tiny = ModelConfig(
        id="tiny", source=f"local:{write_local_model(tmp_path / 'tiny', max_seq_length=64)}"
    )
    data_dir = tmp_path / "restart"
    first = make_search_app(tiny, data_dir=data_dir).test_client()
    first.post("/v1/collections", json={"name": "t", "model": "tiny"})
    items = {"items": [{"id": "p", "content": "red cat XJ9000"}]}
    assert first.post("/v1/collections/t/items", json=items).status_code == 200
    again = make_search_app(tiny, data_dir=data_dir).test_client()
    body = {"query": "XJ9000", "mode": "keyword"}
    assert ids(again.post("/v1/collections/t/search", json=body).get_json()) == ["p"]


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"query": "x", "mode": "fuzzy"}, 422, "mode"),
        ({"query": "x", "mode": "hybrid", "weights": {"vector": -1}}, 422, "weights"),
        ({"query": "x", "mode": "hybrid", "weights": {"text": 1}}, 422, "weights"),
        ({"query": {"vector": [1, 0, 0, 0]}, "mode": "keyword"}, 400, "query"),
        ({"query": {"id": "1"}, "mode": "hybrid"}, 400, "query"),
        ({"query": "  ", "mode": "keyword"}, 400, "query"),
        ({"query": "x", "mode": "keyword", "top_k": 0}, 422, "top_k"),
    ],
)
def test_bad_modes_and_queries_name_the_field(client, body, status, param):
    error = search(client, body, status)["error"]
    assert error["param"] == param
    if param == "query":
        assert body["mode"] in error["message"]
