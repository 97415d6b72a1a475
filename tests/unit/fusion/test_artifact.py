import json

import numpy as np
import pytest
import torch

from mmserve.errors import ConfigError
from mmserve.fusion.artifact import (
    check_encoders,
    load_model,
    load_predictor,
    read_manifest,
    save_artifact,
)
from mmserve.fusion.batch import FeatureBatch
from mmserve.fusion.features import collate
from mmserve.fusion.runtime import decode
from mmserve.fusion.train import evaluate


@pytest.fixture(scope="module")
def saved(trained, xor_data, tmp_path_factory):
    metrics = evaluate(trained.model, xor_data.take(trained.split.test))
    path = tmp_path_factory.mktemp("artifact") / "xor-model"
    save_artifact(path, trained.model, metrics=metrics, training=trained.summary(), onnx=True)
    return path, metrics


def test_round_trip_gives_the_same_model(saved, trained, xor_data):
    path, metrics = saved
    model, manifest = load_model(path)
    batch = FeatureBatch.from_arrays(xor_data.features)
    with torch.no_grad():
        before, after = trained.model(batch), model(batch)
    for name in before:
        assert torch.equal(before[name], after[name])
    assert manifest.labels == {"xor": ["same", "different"], "product": []}
    assert manifest.encoders == {"text": "synthetic", "image": "synthetic", "audio": "synthetic"}
    assert manifest.metrics == json.loads(json.dumps(metrics))
    assert manifest.versions["mmserve"] and manifest.versions["torch"].startswith("2.")
    assert manifest.training["strategy"] == "gated"
    assert sorted(p.name for p in path.iterdir()) == [
        "config.json",
        "metrics.json",
        "model.int8.onnx",
        "model.onnx",
        "weights.pt",
    ]


@pytest.mark.parametrize("backend", ["torch", "onnx", "int8"])
def test_predictors_serve_a_batch_of_rows_with_missing_modalities(saved, xor_data, backend):
    predictor = load_predictor(saved[0], backend)
    rows = [
        {
            m: xor_data.features[m].tokens[i, : xor_data.features[m].lengths[i]]
            for m in "text image audio".split()
        }
        for i in range(3)
    ]
    rows[1].pop("audio")  # a request without audio
    outputs = predictor.predict(collate(rows, predictor.specs))
    assert outputs["xor"].shape == (3, 2) and outputs["product"].shape == (3,)
    assert np.allclose(outputs["xor"].sum(1), 1.0, atol=1e-5)
    decoded = decode(outputs, predictor.targets)
    assert decoded[0]["xor"]["label"] in ("same", "different")
    assert set(decoded[0]["xor"]["scores"]) == {"same", "different"}
    assert isinstance(decoded[2]["product"]["value"], float)


def test_onnx_and_torch_predictors_agree(saved, xor_data):
    features = {m: a.take(np.arange(50)) for m, a in xor_data.features.items()}
    torch_out = load_predictor(saved[0], "torch").predict(features)
    onnx_out = load_predictor(saved[0], "onnx").predict(features)
    assert np.max(np.abs(torch_out["xor"] - onnx_out["xor"])) < 1e-5


def test_refuses_to_overwrite_and_to_read_newer_formats(saved, trained, tmp_path):
    with pytest.raises(ConfigError, match="not empty"):
        save_artifact(saved[0], trained.model)
    copy = save_artifact(tmp_path / "copy", trained.model)
    config = json.loads((copy / "config.json").read_text())
    config["format_version"] = 99
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="upgrade mmserve"):
        read_manifest(copy)
    with pytest.raises(ConfigError, match="no config.json"):
        read_manifest(tmp_path)
    with pytest.raises(ConfigError, match="has no model.onnx"):
        load_predictor(save_artifact(tmp_path / "plain", trained.model), "onnx")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left


def test_check_encoders_refuses_features_from_another_encoder(saved):
    manifest = read_manifest(saved[0])
    check_encoders(manifest, {"text": "synthetic", "image": "synthetic", "audio": "synthetic"})
    with pytest.raises(ConfigError, match="image needs 'synthetic', have 'efficientnet'"):
        check_encoders(manifest, {"text": "synthetic", "image": "efficientnet"})
