"""A trained fusion model as a directory, the one thing the trainer hands to the server:

    config.json       format version, versions of mmserve and torch, the model config
                      (which names label names per target and encoder ids per modality),
                      training settings
    weights.pt        the state dict (loaded with weights_only=True: no pickled code)
    metrics.json      test metrics (and anything else the trainer measured)
    model.onnx        optional: the ONNX export (fp32)
    model.int8.onnx   optional: its int8 dynamic quantisation
    image_encoder.onnx  only for a model trained with a fine-tuned image encoder
                      (fusion/finetune.py): the whole encoder, served in place of the stock
                      one; the image spec's encoder id says so

Reading the manifest and serving the ONNX files need numpy only; torch is imported only to
save or to load the torch weights.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from mmserve import __version__
from mmserve.errors import ConfigError
from mmserve.files import replaced_dir_atomically
from mmserve.fusion.data import TargetSpec
from mmserve.fusion.features import ModalityArrays, ModalitySpec

if TYPE_CHECKING:
    from mmserve.fusion.model import FusionModel

FORMAT = "mmserve-fusion"
FORMAT_VERSION = 1  # bump when a file changes meaning; loaders refuse newer versions
CONFIG, WEIGHTS, METRICS = "config.json", "weights.pt", "metrics.json"
ONNX, ONNX_INT8 = "model.onnx", "model.int8.onnx"
IMAGE_ENCODER = "image_encoder.onnx"
# The image spec's encoder id of a model whose image encoder is its own IMAGE_ENCODER file:
# not a registry id, so no code path can feed it the stock encoder's features by mistake.
FINETUNED_IMAGE_ENCODER = "efficientnet-lite0+finetuned"
BACKENDS = ("torch", "onnx", "int8")


@dataclass(frozen=True)
class Manifest:
    path: Path
    model: dict[str, Any]  # FusionConfig.to_dict()
    specs: dict[str, ModalitySpec]
    targets: tuple[TargetSpec, ...]
    training: dict[str, Any]
    metrics: dict[str, Any]
    versions: dict[str, Any]

    @property
    def labels(self) -> dict[str, list[str]]:
        """target -> label names (empty for regression targets)."""
        return {t.name: list(t.classes) for t in self.targets}

    @property
    def image_encoder(self) -> Path | None:
        """The model's own (fine-tuned) image encoder graph, if it has one."""
        path = self.path / IMAGE_ENCODER
        return path if path.exists() else None

    @property
    def encoders(self) -> dict[str, str]:
        """modality -> id of the encoder whose features the model was trained on."""
        return {m: s.encoder for m, s in self.specs.items()}


class Predictor(Protocol):
    """What serving calls, whatever the backend."""

    specs: dict[str, ModalitySpec]
    targets: list[TargetSpec]

    def predict(self, features: Mapping[str, ModalityArrays]) -> dict[str, np.ndarray]: ...


def save_artifact(
    path: str | Path,
    model: FusionModel,
    *,
    metrics: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
    onnx: bool = False,
    overwrite: bool = False,
    extra_files: Mapping[str, Callable[[Path], None]] | None = None,
) -> Path:
    """Write the directory (and with `onnx`, both ONNX files; `extra_files`: file name ->
    a writer of that file, e.g. IMAGE_ENCODER). Built next to its final place and renamed
    into it, so a crash never leaves a half-written model to be served."""
    import torch

    from mmserve.fusion import export

    path = Path(path)
    if path.exists() and any(path.iterdir()) and not overwrite:
        raise ConfigError(f"{path} exists and is not empty; choose another path or overwrite")
    with replaced_dir_atomically(path) as staging:
        header = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "versions": {"mmserve": __version__, "torch": torch.__version__.split("+")[0]},
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "model": model.config.to_dict(),
            "training": dict(training or {}),
        }
        (staging / CONFIG).write_text(json.dumps(header, indent=2) + "\n")
        (staging / METRICS).write_text(json.dumps(dict(metrics or {}), indent=2) + "\n")
        torch.save(model.state_dict(), staging / WEIGHTS)
        if onnx:
            export.export_onnx(model, staging / ONNX)
            export.quantize_int8(staging / ONNX, staging / ONNX_INT8)
        for name, write in (extra_files or {}).items():
            write(staging / name)
    return path


def read_header(
    path: Path, kind: str, fmt: str, version: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(config.json, metrics.json or {}) of a saved `kind` model folder (fusion, aligned),
    refused with a ConfigError if it is not one or was saved in a newer format."""
    try:
        header = json.loads((path / CONFIG).read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path} is not {kind} model: it has no {CONFIG}") from None
    if header.get("format") != fmt:
        raise ConfigError(f"{path / CONFIG} is not a {fmt} config")
    if header.get("format_version", 0) > version:
        raise ConfigError(
            f"{path} was saved in format {header['format_version']}; this mmserve reads up to "
            f"{version}: upgrade mmserve"
        )
    metrics_file = path / METRICS
    metrics = json.loads(metrics_file.read_text()) if metrics_file.exists() else {}
    return header, metrics


def read_manifest(path: str | Path) -> Manifest:
    path = Path(path)
    header, metrics = read_header(path, "a fusion", FORMAT, FORMAT_VERSION)
    model = header["model"]
    return Manifest(
        path=path,
        model=model,
        specs={m: ModalitySpec(**s) for m, s in model["modalities"].items()},
        targets=tuple(TargetSpec(**t) for t in model["targets"]),
        training=header.get("training", {}),
        metrics=metrics,
        versions=header.get("versions", {}),
    )


def load_model(path: str | Path) -> tuple[FusionModel, Manifest]:
    """The torch model, in eval mode, and its manifest."""
    import torch

    from mmserve.fusion.model import FusionConfig, FusionModel

    manifest = read_manifest(path)
    model = FusionModel(FusionConfig.from_dict(manifest.model))
    state = torch.load(manifest.path / WEIGHTS, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.eval(), manifest


def load_predictor(path: str | Path, backend: str = "torch", *, threads: int = 1) -> Predictor:
    """A batched predictor: "torch" (the weights), "onnx" or "int8" (onnxruntime, no torch)."""
    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if backend == "torch":
        from mmserve.fusion.model import TorchFusion

        return TorchFusion(load_model(path)[0])
    from mmserve.fusion.runtime import OnnxFusion

    manifest = read_manifest(path)
    file = manifest.path / (ONNX if backend == "onnx" else ONNX_INT8)
    if not file.exists():
        raise ConfigError(f"{manifest.path} has no {file.name}; save it with onnx=True")
    return OnnxFusion(file, manifest.specs, manifest.targets, threads=threads)


def check_encoders(manifest: Manifest, available: Mapping[str, str]) -> None:
    """Refuse to serve a model with features from encoders other than those it learnt on
    (same dimension is not same space). `available`: modality -> encoder id."""
    wrong: Sequence[str] = [
        f"{m} needs {want!r}, have {available.get(m)!r}"
        for m, want in manifest.encoders.items()
        if want and available.get(m) != want
    ]
    if wrong:
        raise ConfigError(f"fusion model {manifest.path.name}: " + "; ".join(wrong))
