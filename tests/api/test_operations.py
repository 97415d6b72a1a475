import time

from mmserve.api.schemas.health import Readiness
from mmserve.api.schemas.models import ModelCard, ModelList
from mmserve.config import ModelConfig


def test_healthz(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_readyz_reports_each_model(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = Readiness.model_validate(response.get_json())
    assert body.models["fake"]["state"] == "ready"


def test_readyz_is_503_while_a_model_failed_to_load(make_app):
    app = make_app(ModelConfig(id="fake"), ModelConfig(id="bad", source="fake:fail_load=1"))
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["ready"] is False
    assert body["models"]["bad"]["state"] == "failed"
    assert "fail its load" in body["models"]["bad"]["error"]
    assert body["models"]["fake"]["state"] == "ready"


def test_readyz_is_503_after_a_batch_failed_on_every_item(client):
    client.post("/v1/embeddings", json={"input": "poison"})
    assert client.get("/readyz").status_code == 503
    client.post("/v1/embeddings", json={"input": "good"})
    assert client.get("/readyz").status_code == 200


def test_models_list_in_the_openai_shape_with_serving_facts(client):
    body = client.get("/v1/models").get_json()
    ModelList.model_validate(body)
    card, grounded = body["data"]
    assert grounded["id"] == "grounded"
    assert card["id"] == "fake" and card["object"] == "model"
    assert card["capabilities"] == ["embed_text"] and card["modality"] == "text"
    assert card["batching"]["max_wait_ms"] == 1
    assert card["details"] == {"dimensions": 8, "max_tokens": 512}


def test_one_model_and_unknown_model(client):
    ModelCard.model_validate(client.get("/v1/models/fake").get_json())
    assert client.get("/v1/models/nope").status_code == 404


def test_grounded_chat_model_is_listed_with_the_chat_capability(client):
    """It is always served by /v1/chat/completions, so clients must be able to see it."""
    listed = {c["id"]: c for c in client.get("/v1/models").get_json()["data"]}
    card = ModelCard.model_validate(client.get("/v1/models/grounded").get_json())
    assert listed["grounded"] == card.model_dump()
    assert card.capabilities == ["chat"] and card.state == "ready"
    assert card.batching is None and card.modality == "multimodal"
    reply = client.post(
        "/v1/chat/completions",
        json={"model": card.id, "messages": [{"role": "user", "content": "hello"}]},
    )
    assert reply.status_code == 200
    assert "cannot answer" in reply.get_json()["choices"][0]["message"]["content"]


def test_metrics_in_prometheus_text(client):
    client.post("/v1/embeddings", json={"input": ["a", "b"]})
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    text = response.get_data(as_text=True)
    for line in (
        'mmserve_model_requests_total{model="fake",outcome="ok"} 1.0',
        'mmserve_queue_depth{model="fake"} 0.0',
        'mmserve_batch_size_count{model="fake"}',
        'mmserve_inference_seconds_bucket{le="0.001",model="fake"}',
        'mmserve_queue_wait_seconds_count{model="fake"}',
        'mmserve_http_request_duration_seconds_count{method="POST",route="/v1/embeddings",'
        'status="200"} 1.0',
    ):
        assert line in text, line


def test_openapi_document_is_generated_from_the_schemas(client):
    doc = client.get("/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    post = doc["paths"]["/v1/embeddings"]["post"]
    schema_ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert schema_ref == "#/components/schemas/EmbeddingRequest"
    assert "input" in doc["components"]["schemas"]["EmbeddingRequest"]["properties"]
    assert {"200", "400", "413", "422", "429", "504"} <= set(post["responses"])
    assert "/v1/models/{model_id}" in doc["paths"]
    assert {"/healthz", "/readyz", "/metrics", "/v1/models"} <= set(doc["paths"])
    for path in doc["paths"].values():  # every $ref resolves
        for op in path.values():
            for response in op["responses"].values():
                for content in response.get("content", {}).values():
                    ref = content["schema"].get("$ref")
                    if ref:
                        assert ref.rsplit("/", 1)[1] in doc["components"]["schemas"]


def test_docs_page_uses_assets_served_here(client):
    page = client.get("/docs").get_data(as_text=True)
    assert "/docs/assets/swagger-ui-bundle.js" in page
    assert "http" not in page.split("<body>")[1]  # no CDN
    asset = client.get("/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200 and b"SwaggerUIBundle" in asset.get_data()
    asset.close()


def test_a_model_that_failed_to_load_is_reloaded_once_fixed(make_app):
    app = make_app(ModelConfig(id="fake"), ModelConfig(id="bad", source="fake:fail_load=1"))
    client = app.test_client()
    assert client.get("/v1/models/bad").get_json()["state"] == "failed"
    app.extensions["mmserve"].pool.get("bad").model.fail_load = False  # its cause fixed
    response = client.post("/v1/models/bad/reload")
    assert response.status_code == 202
    assert ModelCard.model_validate(response.get_json()).state in ("loading", "ready")
    deadline = time.monotonic() + 5
    while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert client.get("/v1/models/bad").get_json()["state"] == "ready"
    assert client.post("/v1/embeddings", json={"input": "abc", "model": "bad"}).status_code == 200


def test_reload_of_a_loaded_or_unknown_model_is_refused(client):
    refused = client.post("/v1/models/fake/reload")
    assert refused.status_code == 409
    assert refused.get_json()["error"]["code"] == "model_not_failed"
    assert client.post("/v1/models/nope/reload").status_code == 404
