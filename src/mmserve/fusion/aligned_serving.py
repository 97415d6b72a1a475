"""A registered aligned model as an embedding Model, batched by a ModelRunner like any
other, so `aligned/NAME` works wherever a model id does: /v1/embeddings,
/v1/classifications, label sets, collections.

    preprocess(str | PIL image | Waveform)   request thread: which modality; texts are
                                             tokenised once to check their length
    forward(batch)   inference thread: each modality's frozen encoder (the ids the model
                     was trained on, shared through an EncoderSet) on its rows, then that
                     modality's head (numpy), L2-normalised vectors in the shared space
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mmserve.errors import InvalidRequest
from mmserve.fusion.aligned import AlignedHeads, read_aligned
from mmserve.fusion.encoders import EncoderSet
from mmserve.models.base import EMBED_AUDIO, EMBED_IMAGE, EMBED_TEXT, TextEmbedder, Waveform

CAPABILITY = {"text": EMBED_TEXT, "image": EMBED_IMAGE, "audio": EMBED_AUDIO}
WARMUP_PIXELS = 64


@dataclass(frozen=True)
class AlignedItem:
    modality: str
    value: Any  # str, RGB PIL image or Waveform
    tokens: int = 0

    def __len__(self) -> int:  # usage counts of texts (api/embeddings.py)
        return self.tokens


class AlignedServingModel(TextEmbedder):
    modality = "multimodal"

    def __init__(self, model_id: str, path: str | Path, encoders: EncoderSet, version: int = 0):
        super().__init__(model_id)
        self.path = Path(path)
        self.version = version
        self.encoder_set = encoders
        self.manifest = read_aligned(self.path)  # a broken dir fails here, not at load
        self.capabilities = frozenset(CAPABILITY[m] for m in self.manifest.encoders)  # type: ignore[misc]
        self.dimensions = self.manifest.dim
        self.max_tokens = 0

    def load(self) -> None:
        self.heads = AlignedHeads(self.path)
        self.encoders = {m: self.encoder_set.get(m, e) for m, e in self.manifest.encoders.items()}
        text = self.encoders.get("text")
        self.max_tokens = getattr(text.model, "max_tokens", 0) if text else 0

    def preprocess(self, item: Any) -> AlignedItem:
        modality = (
            "text" if isinstance(item, str) else "audio" if isinstance(item, Waveform) else "image"
        )
        if modality not in self.encoders:
            raise InvalidRequest(
                f"model {self.id!r} embeds {', '.join(self.encoders)}, not {modality}",
                param="input",
                code="unsupported_modality",
            )
        tokens = 0
        if modality == "text" and hasattr(self.encoders["text"].model, "count_tokens"):
            model = self.encoders["text"].model
            tokens = model.count_tokens(model.preprocess(item))  # raises when too long
        return AlignedItem(modality, item, tokens)

    def count_tokens(self, item: Any) -> int:
        return len(item)

    def forward(self, batch: list[AlignedItem]) -> list[np.ndarray]:
        out: list[np.ndarray] = [np.empty(0)] * len(batch)
        for modality, encoder in self.encoders.items():
            rows = [i for i, item in enumerate(batch) if item.modality == modality]
            if not rows:
                continue
            features = encoder.encode([batch[i].value for i in rows])  # (1, in_dim) each
            vectors = self.heads.embed(modality, np.concatenate(features))
            for i, vector in zip(rows, vectors, strict=True):
                out[i] = vector
        return out

    def warmup_inputs(self) -> list[Any]:
        items: dict[str, Any] = {
            "text": "warm-up",
            "image": Image.new("RGB", (WARMUP_PIXELS, WARMUP_PIXELS), (128, 128, 128)),
            "audio": Waveform(np.zeros(16_000, np.float32)),
        }
        return [items[m] for m in self.manifest.encoders]

    def describe(self) -> dict[str, Any]:
        return {
            "dimensions": self.dimensions,
            "max_tokens": self.max_tokens,
            "method": "contrastive alignment (mmserve align)",
            "version": self.version,
            "encoders": self.manifest.encoders,
        }
