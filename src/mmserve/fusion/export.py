"""ONNX export of a fusion model (features + masks in, probabilities / values out), int8
dynamic quantisation of that file, and the checks that go with them: parity with torch,
and the speed and metrics of int8 against fp32."""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from mmserve.fusion.batch import FeatureBatch
from mmserve.fusion.data import FeatureDataset
from mmserve.fusion.features import ModalityArrays, arrays
from mmserve.fusion.metrics import target_metrics
from mmserve.fusion.model import FusionModel, predict, probabilities
from mmserve.fusion.runtime import OnnxFusion, input_names
from mmserve.models.artefacts import TORCH_EXPORT_LOCK

OPSET = 17  # LayerNormalization is a single op from 17 on


class _Graph(nn.Module):
    """The model with flat tensor inputs and outputs, as ONNX wants them."""

    def __init__(self, model: FusionModel):
        super().__init__()
        self.model = model

    def forward(self, *inputs: Tensor) -> tuple[Tensor, ...]:
        mods = self.model.modalities
        batch = FeatureBatch(
            {m: inputs[3 * i] for i, m in enumerate(mods)},
            {m: inputs[3 * i + 1] for i, m in enumerate(mods)},
            {m: inputs[3 * i + 2] for i, m in enumerate(mods)},
        )
        out = probabilities(self.model, self.model(batch))
        return tuple(out[t.name] for t in self.model.config.targets)


def example_features(model: FusionModel, batch: int = 2) -> dict[str, ModalityArrays]:
    """Random features of the model's shapes; only their shapes and dtypes matter."""
    rng = np.random.default_rng(0)
    return {
        m: arrays(rng.standard_normal((batch, s.max_tokens, s.dim)))
        for m, s in model.config.modalities.items()
    }


def export_onnx(model: FusionModel, path: str | Path) -> Path:
    """Write `model` as ONNX; batch size and token counts stay dynamic."""
    path = Path(path)
    was_training = model.training
    # eval, and the wrapper too: the exporter restores the mode the *wrapper* had, and a
    # fresh module is in training mode, which would switch dropout on in `model` after it
    graph = _Graph(model).eval()
    names = [n for m in model.modalities for n in input_names(m)]
    outputs = [t.name for t in model.config.targets]
    feats = FeatureBatch.from_arrays(example_features(model))
    args = tuple(
        t for m in model.modalities for t in (feats.tokens[m], feats.present[m], feats.lengths[m])
    )
    dynamic: dict[str, dict[int, str]] = {name: {0: "batch"} for name in names + outputs}
    for m in model.modalities:
        dynamic[m][1] = f"{m}_tokens"
    # One torch export at a time per process (a training job may run beside a first model
    # load that exports EfficientNet): the exporter's state is module-global.
    with TORCH_EXPORT_LOCK, warnings.catch_warnings():
        # dynamo=False on purpose: the TorchScript exporter needs no onnxscript and handles
        # this graph fully. torch deprecates it (two DeprecationWarnings from its internals,
        # nothing we could change); only the exporter runs inside this block.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            graph,
            args,
            str(path),
            input_names=names,
            output_names=outputs,
            dynamic_axes=dynamic,
            opset_version=OPSET,
            dynamo=False,
        )
    model.train(was_training)
    return path


def quantize_int8(src: str | Path, dst: str | Path) -> Path:
    """int8 weights, activations quantised on the fly per batch (no calibration data)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # It logs (root logger, WARNING) a suggestion to run its pre-processing, which measured
    # no faster on these small graphs; keep the log clean.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)
    return Path(dst)


def parity(
    model: FusionModel, onnx_path: str | Path, features: Mapping[str, ModalityArrays]
) -> dict[str, float]:
    """target -> max |onnxruntime - torch| over the batch."""
    expected = predict(model, FeatureBatch.from_arrays(features))
    got = OnnxFusion(onnx_path, model.config.modalities, model.config.targets).predict(features)
    return {t: float(np.max(np.abs(got[t] - expected[t]))) for t in expected}


def compare_int8(
    model: FusionModel,
    fp32_path: str | Path,
    int8_path: str | Path,
    test: FeatureDataset,
    *,
    batch_size: int = 64,
    repeats: int = 50,
) -> dict[str, Any]:
    """Speed of int8 against fp32 (one thread, one batch of `batch_size` test rows) and the
    test metrics of both.

    The two run in alternation, each pair timed back to back, and the speed-up is the median
    of the per-pair ratios: on shared cores the load drifts, and two runs timed minutes apart
    can differ by more than int8 gains.
    """
    specs, targets = model.config.modalities, model.config.targets
    rows = np.arange(min(batch_size, len(test)))
    batch = {m: test.features[m].take(rows) for m in specs}
    runners = [OnnxFusion(p, specs, targets, threads=1) for p in (fp32_path, int8_path)]
    times = np.zeros((repeats, 2))
    for runner in runners:
        runner.predict(batch)  # warm-up: first runs allocate
    for i in range(repeats):
        for j, runner in enumerate(runners):
            started = time.perf_counter()
            runner.predict(batch)
            times[i, j] = time.perf_counter() - started
    metrics = {}
    for name, runner in zip(("fp32", "int8"), runners, strict=True):
        outputs = runner.predict({m: test.features[m] for m in specs})
        metrics[name] = target_metrics(targets, test.targets, outputs)
    fp32_ms, int8_ms = np.median(times, axis=0) * 1000
    return {
        "batch_size": len(rows),
        "fp32_ms": float(fp32_ms),
        "int8_ms": float(int8_ms),
        "speedup": float(np.median(times[:, 0] / times[:, 1])),
        "fp32_bytes": Path(fp32_path).stat().st_size,
        "int8_bytes": Path(int8_path).stat().st_size,
        "metrics": metrics,
    }
