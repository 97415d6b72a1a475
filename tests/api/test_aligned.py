"""Aligned models over HTTP: registered (by the API or by the CLI's registry while the
server runs) and served as `aligned/NAME` through /v1/embeddings, /v1/classifications and a
collection; versions, rollback, errors; and the align job."""

from __future__ import annotations

import base64
import io
import shutil
import wave

import numpy as np
import pytest

from mmserve.fusion.aligned import HEADS, AlignedHeads
from mmserve.store.fusion_models import FusionRegistry
from tests import align_helpers
from tests.api.test_fusion import wait_for

pytestmark = pytest.mark.real_weights


def image_part(path) -> dict:
    return {"type": "image", "image": base64.b64encode(path.read_bytes()).decode()}


@pytest.fixture
def app(make_app, tmp_path):
    app = make_app()
    shutil.copytree(align_helpers.aligned().artifact, tmp_path / "data" / "incoming" / "v1")
    return app


@pytest.fixture
def client(app):
    return app.test_client()


def embed(client, inputs, model="aligned/shapes", status=200):
    response = client.post("/v1/embeddings", json={"model": model, "input": inputs})
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    return np.array([d["embedding"] for d in body["data"]]) if status == 200 else body["error"]


def silence_wav() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(16_000)
        f.writeframes(b"\0\0" * 16_000)
    return buffer.getvalue()


def flipped_copy(source, target):
    """A second version whose vectors are the first's, negated (last layer's sign flipped)."""
    shutil.copytree(source, target)
    with np.load(target / HEADS) as f:
        weights = {k: f[k] for k in f.files}
    for key in [k for k in weights if k.endswith(("body.3.weight", "body.3.bias"))]:
        weights[key] = -weights[key]
    np.savez(target / HEADS, **weights)


def test_registered_aligned_model_serves_embeddings_hot_with_rollback(client, tmp_path):
    created = client.post("/v1/aligned/models", json={"name": "shapes", "path": "incoming/v1"})
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["id"] == "aligned/shapes"
    row = align_helpers.pairs().table.rows[0]
    vectors = embed(client, [row.inputs["text"], image_part(row.inputs["image"])])
    assert vectors.shape == (2, 64)
    assert np.linalg.norm(vectors, axis=1) == pytest.approx([1, 1], abs=1e-5)
    heads = AlignedHeads(tmp_path / "data" / "incoming" / "v1")
    [text_features] = align_helpers.pairs().data.take(np.array([0])).features["text"]
    assert vectors[0] == pytest.approx(heads.embed("text", text_features[None])[0], abs=1e-5)

    # The CLI's way, while the server runs: the next request is served by version 2.
    flipped_copy(tmp_path / "data" / "incoming" / "v1", tmp_path / "v2")
    registry = FusionRegistry(tmp_path / "data", "aligned")
    registry.register("shapes", tmp_path / "v2", summary={})
    assert embed(client, [row.inputs["text"]])[0] == pytest.approx(-vectors[0], abs=1e-5)
    pinned = embed(client, [row.inputs["text"]], model="aligned/shapes@1")  # v2 is active
    assert pinned[0] == pytest.approx(vectors[0], abs=1e-5)
    assert embed(client, ["x"], model="aligned/shapes@x", status=404)["param"] == "model"
    assert embed(client, ["x"], model="aligned/shapes@9", status=404)["param"] == "version"
    rolled = client.post("/v1/aligned/models/shapes/rollback").get_json()
    assert rolled["active_version"] == 1
    assert embed(client, [row.inputs["text"]])[0] == pytest.approx(vectors[0], abs=1e-5)
    assert [m["id"] for m in client.get("/v1/aligned/models").get_json()["data"]] == [
        "aligned/shapes"
    ]

    assert embed(client, ["x"], model="aligned/nope", status=404)["param"] == "model"
    audio = {"type": "audio", "audio": base64.b64encode(silence_wav()).decode()}
    error = embed(client, [audio], status=400)  # a text + image model
    assert error["param"] == "model" and "cannot embed audio" in error["message"]


def test_classifications_and_collections_take_an_aligned_model(client):
    client.post("/v1/aligned/models", json={"name": "shapes", "path": "incoming/v1"})
    rows = align_helpers.pairs().table.rows[:4]
    captions = [r.inputs["text"] for r in rows]
    image = image_part(rows[0].inputs["image"])
    result = client.post(
        "/v1/classifications",
        json={"model": "aligned/shapes", "input": image, "labels": captions},
    )
    assert result.status_code == 200, result.get_json()
    ranked = [d["label"] for d in result.get_json()["data"]]
    picture, texts = embed(client, [image]), embed(client, captions)
    assert ranked == [captions[i] for i in np.argsort(-(texts @ picture[0]), kind="stable")]

    pinned = {"name": "scenes", "model": "aligned/shapes@1"}  # stored vectors keep meaning
    made = client.post("/v1/collections", json=pinned)
    assert made.status_code == 200, made.get_json()
    items = [{"id": str(i), "content": image_part(r.inputs["image"])} for i, r in enumerate(rows)]
    added = client.post("/v1/collections/scenes/items", json={"items": items})
    assert added.status_code == 200, added.get_json()
    found = client.post("/v1/collections/scenes/search", json={"query": captions[0], "top_k": 4})
    assert found.status_code == 200, found.get_json()
    hits = found.get_json()["data"]
    pictures = embed(client, [it["content"] for it in items])
    expected = np.argsort(-(pictures @ texts[0]), kind="stable")
    assert [h["id"] for h in hits] == [str(i) for i in expected]


def test_align_job_trains_and_registers(client, tmp_path):
    source = align_helpers.demo_csv()
    target = tmp_path / "data" / "pairs"
    shutil.copytree(source.parent, target)
    lines = (target / source.name).read_text().splitlines()
    (target / "small.csv").write_text("\n".join(lines[:61]) + "\n")  # 60 pairs
    params = {"data": "pairs/small.csv", "epochs": 3, "dim": 16, "hidden": 0}
    created = client.post(
        "/v1/jobs", json={"type": "align", "params": params | {"register_as": "jobbed"}}
    )
    assert created.status_code == 202, created.get_json()
    job = wait_for(client, created.get_json()["id"], ("succeeded", "failed"), timeout_s=120)
    assert job["state"] == "succeeded", job
    result = job["result"]
    assert result["registered"] == {"model": "aligned/jobbed", "version": 1}
    assert len(result["history"]) == job["progress"]["done"] <= 3
    assert {"text->image", "image->text"} <= set(result["test"])
    assert embed(client, ["a red circle"], model="aligned/jobbed").shape == (1, 16)
    assert client.get("/v1/usage").get_json()["usage"]["training_jobs"] == 1  # the quota's unit

    (target / "tiny.csv").write_text("\n".join(lines[:11]) + "\n")  # 10 pairs: too few
    tiny = client.post("/v1/jobs", json={"type": "align", "params": {"data": "pairs/tiny.csv"}})
    failed = wait_for(client, tiny.get_json()["id"], ("succeeded", "failed"), timeout_s=60)
    assert failed["state"] == "failed" and "too few pairs" in failed["error"], failed
    outside = client.post("/v1/jobs", json={"type": "align", "params": {"data": "/etc/passwd"}})
    assert outside.status_code == 400 and outside.get_json()["error"]["param"] == "params.data"
