import numpy as np
import onnx
import pytest
import torch

from mmserve.fusion.export import compare_int8, export_onnx, parity, quantize_int8
from mmserve.fusion.model import FusionModel
from mmserve.fusion.strategies import STRATEGIES
from mmserve.fusion.synthetic import make_xor_dataset
from tests.unit.fusion.helpers import small_config

# Measured on trained and untrained models of every strategy, batches of 1-200 rows with
# absent modalities and padding: max |onnxruntime - torch| 5e-7 (probabilities and values).
FP32_TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def data():
    # absent modalities (filled with junk) and varying token counts, unlike the example
    # batch the export traces with
    return make_xor_dataset(200, missing=0.3, seed=4)


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_onnx_matches_torch(strategy, data, tmp_path):
    torch.manual_seed(0)
    model = FusionModel(small_config(strategy, data.specs, data.target_specs)).eval()
    path = export_onnx(model, tmp_path / "model.onnx")
    assert not model.training  # the export left the model as it found it
    for rows in (np.arange(1), np.arange(200)):  # batch size is dynamic
        features = {m: a.take(rows) for m, a in data.features.items()}
        diffs = parity(model, path, features)
        assert max(diffs.values()) < FP32_TOLERANCE, diffs
    shorter = {m: a.take(np.arange(8)) for m, a in data.features.items()}
    text = shorter["text"]  # token count is dynamic: two instead of the four traced
    lengths = np.minimum(text.lengths, 2)
    shorter["text"] = type(text)(text.tokens[:, :2], text.present, lengths)
    assert max(parity(model, path, shorter).values()) < FP32_TOLERANCE


def test_int8_quantises_the_matmuls_and_keeps_accuracy(trained, xor_data, tmp_path):
    fp32 = export_onnx(trained.model, tmp_path / "model.onnx")
    int8 = quantize_int8(fp32, tmp_path / "model.int8.onnx")
    ops = {node.op_type for node in onnx.load(int8).graph.node}
    assert {"DynamicQuantizeLinear", "MatMulInteger"} <= ops
    test = xor_data.take(trained.split.test)
    figures = compare_int8(trained.model, fp32, int8, test, repeats=5)
    assert figures["fp32_ms"] > 0 and figures["int8_ms"] > 0
    fp32_acc = figures["metrics"]["fp32"]["xor"]["accuracy"]
    int8_acc = figures["metrics"]["int8"]["xor"]["accuracy"]
    assert abs(fp32_acc - int8_acc) <= 0.05
