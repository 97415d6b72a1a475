"""A registered fusion model as a servable Model, batched by a ModelRunner like any other:

    preprocess({"text": str, "image": PIL RGB, "audio": Waveform})   request thread: checks
    forward(batch)    inference thread: each modality's encoder on the rows that have it,
                      then the ONNX head (fusion/runtime.py: onnxruntime, no torch)
    postprocess(row)  {"label", "probabilities", "targets": {name: {...}}}

The encoders are the registry ids the model was trained with (its manifest), taken from a
shared EncoderSet, so two fusion models over minilm load minilm once.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mmserve.errors import InvalidRequest
from mmserve.fusion.artifact import (
    FINETUNED_IMAGE_ENCODER,
    ONNX_INT8,
    load_predictor,
    read_manifest,
)
from mmserve.fusion.encoders import EncoderSet, RegistryEncoder
from mmserve.fusion.features import collate
from mmserve.fusion.runtime import decode
from mmserve.media import SAMPLE_RATE
from mmserve.models.base import Model, Waveform

PREDICT = "predict_fusion"  # capability: a fusion model's prediction from raw inputs
WARMUP_PIXELS = 64


class FusionServingModel(Model):
    capabilities = frozenset({PREDICT})
    modality = "multimodal"

    def __init__(self, model_id: str, path: str | Path, encoders: EncoderSet, version: int = 0):
        super().__init__(model_id)
        self.path = Path(path)
        self.version = version
        self.encoder_set = encoders
        self.manifest = read_manifest(self.path)  # cheap; a broken dir fails here, not later
        self.modalities = list(self.manifest.specs)

    def load(self) -> None:
        # int8 when there is one: same test metrics, smaller, a little faster (docs/fusion.md)
        backend = "int8" if (self.path / ONNX_INT8).exists() else "onnx"
        self.predictor = load_predictor(self.path, backend)
        self.encoders = {
            m: self._encoder(m, spec.encoder) for m, spec in self.manifest.specs.items()
        }

    def _encoder(self, modality: str, encoder_id: str) -> RegistryEncoder:
        """The shared registry encoder, or the model's own fine-tuned image encoder (one
        ONNX session per model version; nothing else can share it)."""
        own = self.manifest.image_encoder
        if modality != "image" or encoder_id != FINETUNED_IMAGE_ENCODER or own is None:
            return self.encoder_set.get(modality, encoder_id)
        from mmserve.models.imagenet import EfficientNetLite0

        model = EfficientNetLite0(encoder_id, onnx_file=own)
        model.load()
        return RegistryEncoder(modality, encoder_id, model)

    def preprocess(self, item: Mapping[str, Any]) -> dict[str, Any]:
        extra = [m for m, v in item.items() if v is not None and m not in self.modalities]
        if extra:
            raise InvalidRequest(
                f"{extra[0]}: model {self.id!r} takes {', '.join(self.modalities)}, "
                f"not {extra[0]}; leave it out",
                param=extra[0],
                code="unsupported_modality",
            )
        given = {m: v for m, v in item.items() if v is not None}
        if not given:
            raise InvalidRequest(
                f"send at least one of {', '.join(self.modalities)} for model {self.id!r}",
                param=self.modalities[0],
                code="missing_input",
            )
        return given

    def forward(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rows: list[dict[str, np.ndarray]] = [{} for _ in batch]
        for m in self.modalities:
            have = [i for i, item in enumerate(batch) if m in item]
            encoded = self.encoders[m].encode([batch[i][m] for i in have])
            for i, feats in zip(have, encoded, strict=True):
                rows[i][m] = feats
        outputs = self.predictor.predict(collate(rows, self.manifest.specs))
        return decode(outputs, self.manifest.targets)

    def postprocess(self, output: dict[str, Any]) -> dict[str, Any]:
        first = self.manifest.targets[0]
        head = output[first.name]
        body: dict[str, Any] = (
            {"label": head["label"], "probabilities": head["scores"]}
            if "label" in head
            else {"value": head["value"]}
        )
        targets = {
            name: (
                {"label": out["label"], "probabilities": out["scores"]} if "label" in out else out
            )
            for name, out in output.items()
        }
        return body | {"targets": targets}

    def warmup_inputs(self) -> list[Any]:
        from PIL import Image

        item: dict[str, Any] = {}
        if "text" in self.modalities:
            item["text"] = "warm-up"
        if "image" in self.modalities:
            item["image"] = Image.new("RGB", (WARMUP_PIXELS, WARMUP_PIXELS), (128, 128, 128))
        if "audio" in self.modalities:
            item["audio"] = Waveform(np.zeros(SAMPLE_RATE, np.float32))
        return [item]

    def describe(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "strategy": self.manifest.model.get("strategy"),
            "encoders": self.manifest.encoders,
            "targets": self.manifest.labels,
        }
