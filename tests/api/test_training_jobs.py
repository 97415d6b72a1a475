"""The fusion-pretrain and fusion-distill job types: the CLI's pipelines over /v1/jobs,
with progress, a result naming what they made, registration and errors before running."""

from __future__ import annotations

import shutil

import pytest

from tests import fusion_helpers as helpers
from tests.api.test_fusion import predict, wait_for

pytestmark = pytest.mark.real_weights


@pytest.fixture
def client(make_app):
    return make_app().test_client()


def run_job(client, kind: str, params: dict) -> dict:
    created = client.post("/v1/jobs", json={"type": kind, "params": params})
    assert created.status_code == 202, created.get_json()
    job = wait_for(client, created.get_json()["id"], ("succeeded", "failed"), timeout_s=120)
    assert job["state"] == "succeeded", job
    return job


def test_pretrain_and_distill_jobs(client, tmp_path):
    from mmserve.fusion.demo import make_demo_data

    make_demo_data(tmp_path / "data" / "small", rows=60, seed=1)
    pretrained = run_job(
        client, "fusion-pretrain",
        {"data": "small/data.csv", "strategy": "early", "hidden": 16, "epochs": 3},
    )  # fmt: skip
    assert pretrained["progress"]["done"] == len(pretrained["result"]["history"]) <= 3
    assert "pretext" in pretrained["result"]["test"]
    assert pretrained["result"]["data"]["rows_kept"] == 60

    shutil.copytree(helpers.trained("early").artifact, tmp_path / "data" / "teacher")
    params = {"teacher": "teacher", "student": "strategy=mean,hidden=8,trunk=8", "epochs": 3}
    outside = client.post("/v1/jobs", json={"type": "fusion-distill", "params": params})
    failed = wait_for(client, outside.get_json()["id"], ("succeeded", "failed"))
    assert failed["state"] == "failed" and "name the labelled data" in failed["error"], failed
    shutil.copytree(helpers.demo_csv().parent, tmp_path / "data" / "demo")
    params["data"] = "demo/data.csv"  # the teacher's data, inside the data directory
    distilled = run_job(client, "fusion-distill", params | {"register_as": "small"})
    result = distilled["result"]
    assert set(result["comparison"]) == {"teacher", "student"}
    assert (
        result["comparison"]["student"]["parameters"]
        < result["comparison"]["teacher"]["parameters"]
    )
    assert result["registered"] == {"model": "fusion/small", "version": 1}
    assert predict(client, model="fusion/small", text="a red circle")["version"] == 1

    bad = client.post("/v1/jobs", json={"type": "fusion-distill",
                                        "params": params | {"student": "width=3"}})  # fmt: skip
    assert bad.status_code == 400 and bad.get_json()["error"]["param"] == "params.student"
    missing = client.post("/v1/jobs", json={"type": "fusion-distill",
                                            "params": {"teacher": "nope"}})  # fmt: skip
    assert missing.status_code == 404 and missing.get_json()["error"]["param"] == "params.teacher"


def test_fusion_train_job_fine_tunes_the_image_encoder_and_serves_it(client, tmp_path):
    import base64

    csv = helpers.tiny_image_data(tmp_path / "data" / "tiny")
    params = {"data": "tiny/data.csv", "targets": ["label"], "strategy": "early", "hidden": 8,
              "epochs": 1, "finetune_image": 1}  # fmt: skip
    job = run_job(client, "fusion-train", params | {"register_as": "tuned"})
    assert job["result"]["estimate"].startswith("fine-tuning estimate:")
    assert job["result"]["registered"] == {"model": "fusion/tuned", "version": 1}
    image = base64.b64encode((csv.parent / "images" / "000.png").read_bytes()).decode()
    served = predict(client, model="fusion/tuned", image=image)
    assert served["label"] in ("left", "right")

    bad = client.post("/v1/jobs", json={"type": "fusion-train",
                                        "params": params | {"finetune_image": 17}})  # fmt: skip
    assert bad.status_code == 422 and "finetune_image" in bad.get_json()["error"]["param"]
