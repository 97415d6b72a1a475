import base64
import io
import json
import re

import numpy as np
import pytest
from PIL import Image

from mmserve.fusion.compare import compare
from mmserve.fusion.data import Split
from mmserve.fusion.model import FusionConfig
from mmserve.fusion.report import build_report, write_report
from mmserve.fusion.synthetic import make_xor_dataset
from mmserve.fusion.train import TrainConfig, train

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_valid_png(data: bytes) -> None:
    assert data.startswith(PNG_SIGNATURE)
    with Image.open(io.BytesIO(data)) as image:
        image.verify()  # checks the chunks and their CRCs
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG" and min(image.size) > 100


def test_report_json_holds_every_metric(trained, xor_data, tmp_path):
    files = write_report(build_report(trained, xor_data), tmp_path)
    report = json.loads(files.json.read_text())
    assert report["format"] == "mmserve-fusion-report/1"
    assert report["split"] == {"train": 420, "val": 90, "test": 90}
    xor = report["test"]["xor"]
    for key in ("accuracy", "macro_precision", "macro_recall", "macro_f1", "macro_auc"):
        assert 0.0 <= xor[key] <= 1.0, key
    assert set(xor["per_class"]) == {"same", "different"}
    assert set(xor["per_class"]["same"]) == {"precision", "recall", "f1", "support"}
    assert sum(map(sum, xor["confusion_matrix"])) == 90
    assert set(xor["roc"]["same"]) == {"auc", "fpr", "tpr"}
    assert set(report["test"]["product"]) == {"n", "mae", "rmse", "r2"}
    training = report["training"]
    assert training["strategy"] == "gated" and len(training["history"]) == training["epochs"]
    assert report["comparison"] is None and report["modality_weights"] is None  # gated


def test_html_is_self_contained_with_valid_plots(trained, xor_data, tmp_path):
    files = write_report(build_report(trained, xor_data), tmp_path)
    page = files.html.read_text()
    assert "<script" not in page and "http" not in page  # nothing fetched when opened
    inlined = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(inlined) == 3  # training curves, confusion matrix, ROC
    for data in inlined:
        assert_valid_png(base64.b64decode(data))
    names = sorted(p.name for p in files.images)
    assert names == ["confusion_xor.png", "roc_xor.png", "training_curves.png"]
    for path in files.images:
        assert_valid_png(path.read_bytes())
    assert "macro F1" in page and "same" in page and "R2" in page


def test_html_shows_the_comparison_table(tmp_path):
    data = make_xor_dataset(120, seed=2)
    tc = TrainConfig(epochs=2, progress=False)
    table = compare(data, ["mean"], train_config=tc, options={"hidden": 8})
    result = table.results["mean"]
    report = build_report(result, data, comparison=table)
    assert [r["run"] for r in report["comparison"]["rows"]][:2] == ["mean", "text only"]
    page = write_report(report, tmp_path).html.read_text()
    assert "Comparison on the same split" in page and "audio only" in page
    assert "<th>xor accuracy</th>" in page


def test_learned_modality_weights_are_reported(tmp_path):
    data = make_xor_dataset(120, seed=2)
    result = train(
        data,
        FusionConfig.for_dataset(data, "late", options={"hidden": 8}),
        TrainConfig(epochs=2, progress=False),
    )
    report = build_report(result, data)
    assert set(report["modality_weights"]) == {"xor", "product"}
    assert sum(report["modality_weights"]["xor"].values()) == pytest.approx(1.0)
    page = write_report(report, tmp_path).html.read_text()
    assert "Learned modality weights" in page


def test_comparison_runs_on_a_given_split():
    # What `mmserve fusion compare --split-column` passes: every run uses those rows.
    data = make_xor_dataset(120, seed=2)
    given = Split(np.arange(0, 80), np.arange(80, 100), np.arange(100, 120))
    tc = TrainConfig(epochs=2, progress=False)
    table = compare(data, ["mean"], train_config=tc, options={"hidden": 8}, split=given)
    for result in table.results.values():  # "mean" and each single-modality baseline
        assert result.split.to_dict() == given.to_dict()
