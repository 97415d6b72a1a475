"""/v1/rerank with the real minilm (texts) and bridge (texts and images together)."""

from __future__ import annotations

import pytest

from mmserve.app import create_app
from mmserve.config import Config, ModelConfig
from tests.chat_media import image_part
from tests.vision_models import encoded

pytestmark = pytest.mark.real_weights
DOCS = ["The invoice is overdue.", "A dog runs on the beach.", "Stock prices fell today."]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    models = tuple(ModelConfig(id=m, workers=1) for m in ("minilm", "bridge"))
    app = create_app(
        Config(data_dir=tmp_path_factory.mktemp("data"), models=models), wait_for_models=True
    )
    yield app.test_client()
    app.extensions["mmserve"].pool.stop()


def rerank(client, status=200, **body):
    response = client.post("/v1/rerank", json=body)
    assert response.status_code == status, response.get_json()
    return response.get_json()


def test_texts_are_ordered_best_first_by_minilm(client):
    body = rerank(client, query="a puppy playing on the sand", documents=DOCS)
    assert body["model"] == "minilm"
    assert [r["index"] for r in body["results"]][0] == 1
    scores = [r["relevance_score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True) and len(scores) == 3
    assert "document" not in body["results"][0] and body["usage"]["total_tokens"] > 10


def test_top_n_and_return_documents(client):
    body = rerank(
        client,
        query="unpaid bill",
        documents=[{"text": d} for d in DOCS],
        top_n=1,
        return_documents=True,
    )
    assert body["results"] == [
        {
            "index": 0,
            "relevance_score": body["results"][0]["relevance_score"],
            "document": {"text": DOCS[0]},
        }
    ]


def test_text_and_image_documents_are_ranked_together_by_bridge(client):
    documents = [
        "quarterly tax report",
        image_part(encoded("chelsea", "PNG")),
        image_part(encoded("rocket", "PNG")),
    ]
    body = rerank(client, query="a photo of a cat", documents=documents)
    assert body["model"] == "bridge" and body["results"][0]["index"] == 1
    body = rerank(client, query="a space rocket launch", documents=documents)
    assert body["results"][0]["index"] == 2


def test_bad_documents_name_the_field(client):
    body = rerank(client, status=400, query="x", documents=["ok", {"type": "video"}])
    assert body["error"]["param"] == "documents[1]"
    body = rerank(
        client, status=400, query="x", documents=[image_part(encoded("chelsea"))], model="minilm"
    )
    assert body["error"]["code"] == "unsupported_capability"
    assert rerank(client, status=422, query="x", documents=[])["error"]["param"] == "documents"
