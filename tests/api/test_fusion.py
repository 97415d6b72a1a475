"""Fusion models over HTTP: hot registration, activation and rollback (through the API and
through the registry the CLI writes, with the server running), predictions with every
modality or some missing, the tutorial /predict, errors, and training as a job."""

from __future__ import annotations

import base64
import shutil
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from mmserve.store.fusion_models import FusionRegistry
from tests import fusion_helpers as helpers

pytestmark = pytest.mark.real_weights


def b64(path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def demo_row(index: int) -> dict:
    """The demo row's text, and its image and audio files as base64 (audio may be absent)."""
    row = helpers.demo_data().table.rows[index]
    body = {"text": row.inputs["text"], "image": b64(row.inputs["image"])}
    if "audio" in row.inputs:
        body["audio"] = b64(row.inputs["audio"])
    return body


@pytest.fixture
def app(make_app, tmp_path):
    app = make_app()
    incoming = tmp_path / "data" / "incoming"
    for strategy in ("early", "gated"):
        shutil.copytree(helpers.trained(strategy).artifact, incoming / strategy)
    return app


@pytest.fixture
def client(app):
    return app.test_client()


def register(client, path: str, name: str = "memes"):
    return client.post("/v1/fusion/models", json={"name": name, "path": path})


def predict(client, **body):
    response = client.post("/v1/predict", json={"model": "fusion/memes", **body})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_hot_registration_activation_and_rollback(client, tmp_path):
    assert client.get("/v1/fusion/models").get_json()["data"] == []
    created = register(client, "incoming/early")
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["id"] == "fusion/memes" and body["active_version"] == 1
    assert body["versions"][0]["strategy"] == "early"
    assert set(body["versions"][0]["test_metrics"]["label"]) >= {"accuracy", "macro_auc"}
    assert predict(client, text="a red circle")["version"] == 1

    # The CLI's way, while the server runs: the next request serves version 2.
    registry = FusionRegistry(tmp_path / "data")
    registry.register("memes", tmp_path / "data" / "incoming" / "gated", summary={})
    assert predict(client, text="a red circle")["version"] == 2

    rolled = client.post("/v1/fusion/models/memes/rollback").get_json()
    assert rolled["active_version"] == 1
    assert predict(client, text="a red circle")["version"] == 1
    assert client.post("/v1/fusion/models/memes/rollback").status_code == 400  # none before

    activated = client.post("/v1/fusion/models/memes/activate", json={"version": 2})
    assert activated.get_json()["active_version"] == 2
    assert predict(client, text="a red circle")["version"] == 2
    missing = client.post("/v1/fusion/models/memes/activate", json={"version": 9})
    assert missing.status_code == 404 and missing.get_json()["error"]["param"] == "version"
    listed = client.get("/v1/fusion/models").get_json()["data"]
    assert [v["version"] for v in listed[0]["versions"]] == [1, 2]


def test_predictions_match_the_offline_model_with_and_without_modalities(client):
    from mmserve.fusion.artifact import load_predictor
    from mmserve.fusion.runtime import decode

    register(client, "incoming/gated")
    data = helpers.demo_data()
    rows = [i for i, r in enumerate(data.table.rows) if "audio" in r.inputs][:4]
    offline = load_predictor(helpers.trained("gated").artifact, "int8")
    for row in rows:
        # one row at a time, as the request runs: int8 quantises activations per batch
        features = {m: a.take(np.array([row])) for m, a in data.dataset.features.items()}
        [want] = decode(offline.predict(features), offline.targets)
        got = predict(client, **demo_row(row))
        assert got["model"] == "fusion/memes" and got["label"] == want["label"]["label"]
        for label, p in want["label"]["scores"].items():
            assert got["probabilities"][label] == pytest.approx(p, abs=1e-4)
        assert got["targets"]["label"]["label"] == got["label"]

    text_only = predict(client, text="a photo of a blue square")
    image_only = predict(client, image=demo_row(rows[0])["image"])
    for body in (text_only, image_only):
        assert sum(body["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
        assert body["label"] in ("match", "mismatch")


def test_multipart_predict_takes_files_named_after_their_field(client):
    register(client, "incoming/gated")
    row = helpers.demo_data().table.rows[0]
    as_json = predict(client, **demo_row(0))
    files = {name: (row.inputs[name].open("rb"), row.inputs[name].name) for name in ("image",)}
    if "audio" in row.inputs:
        files["audio"] = (row.inputs["audio"].open("rb"), row.inputs["audio"].name)
    form = {"model": "fusion/memes", "text": row.inputs["text"], **files}
    as_form = client.post("/v1/predict", data=form, content_type="multipart/form-data")
    assert as_form.status_code == 200, as_form.get_json()
    assert as_form.get_json()["probabilities"] == pytest.approx(as_json["probabilities"])

    image = row.inputs["image"]
    one_file = {"text": "x", "file": (image.open("rb"), image.name)}
    refused = client.post("/v1/predict", data=one_file, content_type="multipart/form-data")
    assert refused.status_code == 400
    assert refused.get_json()["error"]["param"] == "file"
    assert "-F image=@" in refused.get_json()["error"]["message"]


def test_concurrent_requests_are_batched(client, app):
    register(client, "incoming/early")
    bodies = [demo_row(i) for i in range(16)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda b: client.post("/v1/predict", json=b), bodies))
    assert all(r.status_code == 200 for r in results)
    # the runner takes what is queued as one batch: 8 items submitted together
    runner, _ = app.extensions["mmserve"].fusion.runner("memes")
    sizes, forward = [], runner.model.forward
    runner.model.forward = lambda batch: sizes.append(len(batch)) or forward(batch)
    outputs = runner.infer([{"text": f"a red circle {i}"} for i in range(8)], timeout_s=30)
    assert len(outputs) == 8 and max(sizes) > 1 and sum(sizes) == 8


def test_tutorial_predict_uses_the_default_model(client):
    assert client.post("/predict", json={"text": "a red circle"}).status_code == 400
    register(client, "incoming/early")
    only = client.post("/predict", json={"text": "a red circle", "image": demo_row(0)["image"]})
    assert only.status_code == 200 and only.get_json()["model"] == "fusion/memes"
    register(client, "incoming/gated", name="other")
    several = client.post("/predict", json={"text": "a red circle"})
    assert several.status_code == 400 and "several" in several.get_json()["error"]["message"]
    register(client, "incoming/gated", name="default")
    assert client.post("/predict", json={"text": "x"}).get_json()["model"] == "fusion/default"


def test_errors_name_the_field(client, tmp_path):
    register(client, "incoming/early")
    cases = [
        ({"model": "fusion/nope", "text": "x"}, 404, "model"),
        ({"model": "minilm", "text": "x"}, 404, "model"),
        ({"model": "fusion/memes", "text": "x", "image": "not an image"}, 400, "image"),
        ({"model": "fusion/memes", "audio": base64.b64encode(b"noise" * 9).decode()}, 400, "audio"),
        ({"model": "fusion/memes"}, 400, "text"),
        ({"model": "fusion/memes", "text": 3}, 422, "text"),
        ({"model": "fusion/memes", "video": "x"}, 422, "video"),
    ]  # fmt: skip
    for body, status, param in cases:
        response = client.post("/v1/predict", json=body)
        assert response.status_code == status, (body, response.get_json())
        assert response.get_json()["error"]["param"] == param, body
    outside = register(client, str(helpers.trained("early").artifact), name="x")
    assert outside.status_code == 400 and outside.get_json()["error"]["param"] == "path"
    (tmp_path / "data" / "empty").mkdir()
    not_model = register(client, "empty", name="x")
    assert (
        not_model.status_code == 400 and "config.json" in not_model.get_json()["error"]["message"]
    )
    bad_name = register(client, "incoming/early", name="Bad Name")
    assert bad_name.status_code == 400 and bad_name.get_json()["error"]["param"] == "name"
    assert client.post("/v1/fusion/models/nope/rollback").status_code == 404


def wait_for(client, job_id: str, states: tuple[str, ...], timeout_s: float = 60) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").get_json()
        if job["state"] in states:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {job['state']}: {job}")


def test_training_job_registers_the_model(client, tmp_path):
    from mmserve.fusion.demo import make_demo_data

    make_demo_data(tmp_path / "data" / "small", rows=60, seed=1)
    params = {"data": "small/data.csv", "targets": ["label"], "strategy": "early", "epochs": 3}
    created = client.post(
        "/v1/jobs", json={"type": "fusion-train", "params": params | {"register_as": "jobbed"}}
    )
    assert created.status_code == 202, created.get_json()
    job = wait_for(client, created.get_json()["id"], ("succeeded", "failed"))
    assert job["state"] == "succeeded", job
    result = job["result"]
    assert result["registered"] == {"model": "fusion/jobbed", "version": 1}
    assert len(result["history"]) == job["progress"]["done"] <= 3
    assert result["data"]["rows_kept"] == 60
    assert predict(client, model="fusion/jobbed", text="a red circle")["version"] == 1

    # cancel while it trains (no early stop): metrics so far are visible before
    slow = params | {"epochs": 10_000, "patience": 10_000}
    job_id = client.post("/v1/jobs", json={"type": "fusion-train", "params": slow}).get_json()["id"]
    deadline = time.monotonic() + 60
    while (job := client.get(f"/v1/jobs/{job_id}").get_json())["progress"]["done"] < 2:
        assert time.monotonic() < deadline and job["state"] in ("queued", "running"), job
        time.sleep(0.05)
    assert job["result"]["phase"] == "training" and job["result"]["history"]
    client.delete(f"/v1/jobs/{job_id}")
    assert wait_for(client, job_id, ("cancelled", "failed", "succeeded"))["state"] == "cancelled"

    bad = client.post("/v1/jobs", json={"type": "fusion-train", "params": {"data": "x.csv"}})
    assert bad.status_code == 422 and bad.get_json()["error"]["param"] == "params.targets"
    outside = client.post(
        "/v1/jobs",
        json={"type": "fusion-train", "params": {"data": "/etc/passwd", "targets": ["a"]}},
    )
    assert outside.status_code == 400 and outside.get_json()["error"]["param"] == "params.data"


def test_serving_fusion_models_imports_no_torch():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import mmserve.api.routes.fusion, mmserve.services.fusion\n"
        "import mmserve.fusion.serving, mmserve.jobs.fusion_train\n"
        "sys.exit(sorted({'torch', 'matplotlib'} & set(sys.modules)) or 0)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
