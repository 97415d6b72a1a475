"""Serving a fusion model from its ONNX export, without torch: numpy + onnxruntime only.

Graph inputs, per modality m of the model (in config order):
    m            (batch, tokens, dim) float32
    m_present    (batch,) bool
    m_lengths    (batch,) int64
Graph outputs, per target: class probabilities (batch, classes), or values (batch,).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmserve.fusion.data import CLASSIFICATION, TargetSpec
from mmserve.fusion.features import ModalityArrays, ModalitySpec, check_features


def input_names(modality: str) -> tuple[str, str, str]:
    return modality, f"{modality}_present", f"{modality}_lengths"


def onnx_feeds(
    features: Mapping[str, ModalityArrays], modalities: Sequence[str]
) -> dict[str, np.ndarray]:
    feeds = {}
    for m in modalities:
        tokens, present, lengths = input_names(m)
        a = features[m]
        feeds[tokens] = np.ascontiguousarray(a.tokens, np.float32)
        feeds[present] = np.asarray(a.present, bool)
        feeds[lengths] = np.asarray(a.lengths, np.int64)
    return feeds


class OnnxFusion:
    """A batched predictor over an exported fusion model (fp32 or int8)."""

    def __init__(
        self,
        path: str | Path,
        specs: Mapping[str, ModalitySpec],
        targets: Sequence[TargetSpec],
        *,
        threads: int = 1,  # one thread per worker is the robust default on shared cores
    ):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.specs = dict(specs)
        self.targets = list(targets)

    def predict(self, features: Mapping[str, ModalityArrays]) -> dict[str, np.ndarray]:
        """target -> class probabilities (batch, classes) or values (batch,)."""
        check_features(features, self.specs)
        outputs = self.session.run(
            [t.name for t in self.targets], onnx_feeds(features, list(self.specs))
        )
        return {t.name: out for t, out in zip(self.targets, outputs, strict=True)}


def decode(
    outputs: Mapping[str, np.ndarray], targets: Sequence[TargetSpec]
) -> list[dict[str, Any]]:
    """Per-row JSON-ready predictions: {target: {"label", "scores"}} or {target: {"value"}}."""
    n = len(next(iter(outputs.values())))
    rows: list[dict[str, Any]] = [{} for _ in range(n)]
    for t in targets:
        out = outputs[t.name]
        for i in range(n):
            if t.kind == CLASSIFICATION:
                scores = {c: float(p) for c, p in zip(t.classes, out[i], strict=True)}
                rows[i][t.name] = {"label": t.classes[int(out[i].argmax())], "scores": scores}
            else:
                rows[i][t.name] = {"value": float(out[i])}
    return rows
