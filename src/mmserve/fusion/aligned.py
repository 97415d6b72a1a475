"""An aligned model as a directory, and its numpy forward (what the server runs):

    config.json    format "mmserve-aligned" v1: the AlignConfig, each modality's encoder id
                   and input width, the training summary
    heads.npz      every head's weights as float32 arrays ("text.norm.weight", ...) plus
                   the learnt logit scale; numpy loads it, no torch and no pickle
    metrics.json   held-out retrieval metrics

A head is LayerNorm -> Linear -> GELU (tanh form) -> Linear -> L2 norm, a few matrix
products: numpy runs it in microseconds, so serving needs neither torch nor onnxruntime.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mmserve import __version__
from mmserve.errors import ConfigError
from mmserve.files import replaced_dir_atomically
from mmserve.fusion.artifact import read_header
from mmserve.models.base import l2_normalise

if TYPE_CHECKING:
    from mmserve.fusion.align import AlignModel

FORMAT = "mmserve-aligned"
FORMAT_VERSION = 1
CONFIG, HEADS, METRICS = "config.json", "heads.npz", "metrics.json"
LAYER_NORM_EPS = 1e-5  # torch.nn.LayerNorm's default


@dataclass(frozen=True)
class AlignedManifest:
    path: Path
    config: dict[str, Any]  # AlignConfig.to_dict()
    encoders: dict[str, str]  # modality -> registry id
    training: dict[str, Any]
    metrics: dict[str, Any]

    @property
    def dim(self) -> int:
        return int(self.config["dim"])


def save_aligned(
    path: str | Path,
    model: AlignModel,
    encoders: Mapping[str, str],
    *,
    metrics: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the directory next to its place and rename it in (files.replaced_dir_atomically):
    never half-written."""
    path = Path(path)
    if path.exists() and any(path.iterdir()) and not overwrite:
        raise ConfigError(f"{path} exists and is not empty; choose another path or overwrite")
    with replaced_dir_atomically(path) as staging:
        header = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "versions": {"mmserve": __version__},
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "config": model.config.to_dict(),
            "encoders": dict(encoders),
            "training": dict(training or {}),
        }
        (staging / CONFIG).write_text(json.dumps(header, indent=2) + "\n")
        (staging / METRICS).write_text(json.dumps(dict(metrics or {}), indent=2) + "\n")
        state = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
        np.savez(staging / HEADS, **state)
    return path


def read_aligned(path: str | Path) -> AlignedManifest:
    path = Path(path)
    header, metrics = read_header(path, "an aligned", FORMAT, FORMAT_VERSION)
    if not (path / HEADS).exists():
        raise ConfigError(f"{path} has no {HEADS}")
    return AlignedManifest(
        path=path,
        config=header["config"],
        encoders=header["encoders"],
        training=header.get("training", {}),
        metrics=metrics,
    )


class AlignedHeads:
    """The projection heads in numpy: features (n, in_dim) -> unit vectors (n, dim)."""

    def __init__(self, path: str | Path):
        self.manifest = read_aligned(path)
        with np.load(self.manifest.path / HEADS, allow_pickle=False) as f:
            self.weights = {k: f[k] for k in f.files}
        self.scale = float(np.exp(min(self.weights["logit_scale"], np.log(100.0))))

    @property
    def modalities(self) -> list[str]:
        return list(self.manifest.encoders)

    def embed(self, modality: str, features: np.ndarray) -> np.ndarray:
        w = self.weights
        p = f"heads.{modality}."
        x = np.asarray(features, np.float32).reshape(len(features), -1)
        mean = x.mean(-1, keepdims=True)
        var = x.var(-1, keepdims=True)
        x = (x - mean) / np.sqrt(var + LAYER_NORM_EPS) * w[p + "norm.weight"] + w[p + "norm.bias"]
        if p + "body.0.weight" in w:  # hidden layer (config.hidden > 0)
            x = x @ w[p + "body.0.weight"].T + w[p + "body.0.bias"]
            x = _gelu_tanh(x)
            x = x @ w[p + "body.3.weight"].T + w[p + "body.3.bias"]
        else:
            x = x @ w[p + "body.weight"].T + w[p + "body.bias"]
        return l2_normalise(x)


def aligned_summary(path: str | Path) -> dict[str, Any]:
    """What the registry shows about an aligned model: its space, inputs and test recall."""
    m = read_aligned(path)
    keep = {k: v for k, v in m.metrics.items() if k.startswith("mean_") or "->" in k}
    return {"dimensions": m.dim, "modalities": m.encoders, "test_metrics": keep}


def check_aligned(path: str | Path) -> dict[str, Any]:
    """The registry summary of an aligned model this installation can serve; ConfigError
    saying what is wrong otherwise."""
    from mmserve.models.registry import list_models

    manifest = read_aligned(path)
    known = list_models()
    unknown = [e for e in manifest.encoders.values() if e not in known]
    if unknown:
        raise ConfigError(f"{Path(path).name} needs encoder {unknown[0]!r}, not installed here")
    return aligned_summary(path)


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
