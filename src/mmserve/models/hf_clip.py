"""CLIP and SigLIP checkpoints: texts and images into one embedding space.

preprocess takes a str (tokenised here, in the request thread) or an RGB PIL image (resized
and normalised by the checkpoint's own image processor); forward runs the texts and the
images of a batch as two sub-batches and returns L2-normalised (dim,) float32 vectors in the
batch's order, so a text query and an image compare by dot product.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import singledispatchmethod
from typing import Any

import numpy as np
from PIL import Image

from mmserve.errors import InvalidRequest
from mmserve.models.base import EMBED_IMAGE, EMBED_TEXT, TextEmbedder, Tokens, l2_normalise
from mmserve.models.hf import (
    HfSource,
    import_torch,
    load_image_processor,
    one_inference_thread,
    rgb_pixels,
)

PROBE_TEXT = "a photo of a cat"  # measures the output size at load


@dataclass(frozen=True)
class Pixels:
    """One preprocessed image."""

    values: np.ndarray  # (3, height, width) float32


class HfClip(TextEmbedder):
    capabilities = frozenset({EMBED_TEXT, EMBED_IMAGE})
    modality = "text+image"  # one space for both: a text query finds images
    # SigLIP was trained on texts padded to its full length without an attention mask, so
    # its texts must be padded the same way; CLIP pools the end token and takes a mask.
    pad_to_max = False

    def __init__(self, model_id: str, source: HfSource):
        super().__init__(model_id)
        self.source = source
        text_config = source.config.get("text_config") or {}
        self.max_tokens = int(text_config.get("max_position_embeddings") or 77)
        self.dimensions = 0  # measured at load
        # transformers tokenizers set truncation and padding on their shared Rust object on
        # every call, which is not safe across request threads; tokenising is microseconds.
        self._tokenizer_lock = threading.Lock()

    def load(self) -> None:
        torch = import_torch()
        from transformers import AutoModel, AutoTokenizer

        kwargs = self.source.pretrained_kwargs()
        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(self.source.location, **kwargs)
        self.image_processor = load_image_processor(self.source)
        self.network = AutoModel.from_pretrained(
            self.source.location, dtype=torch.float32, **kwargs
        ).eval()
        self.pad_id = self.tokenizer.pad_token_id or 0
        # The loaded config fills in defaults an older config.json may leave out.
        self.max_tokens = int(self.network.config.text_config.max_position_embeddings)
        self.dimensions = int(self.forward([self.preprocess(PROBE_TEXT)])[0].shape[-1])

    @singledispatchmethod
    def preprocess(self, item: Any) -> Any:
        raise InvalidRequest(
            f"model {self.id!r} embeds text or images, not {type(item).__name__}",
            param="input",
        )

    @preprocess.register
    def _(self, item: str) -> Tokens:
        with self._tokenizer_lock:
            ids = self.tokenizer(item, add_special_tokens=True, truncation=False)["input_ids"]
        self.check_length(len(ids))
        return Tokens(np.asarray(ids, dtype=np.int64))

    @preprocess.register
    def _(self, item: Image.Image) -> Pixels:
        return Pixels(np.asarray(rgb_pixels(self.image_processor, item), dtype=np.float32))

    def count_tokens(self, item: Any) -> int:
        return len(item) if isinstance(item, Tokens) else 0

    def forward(self, batch: list[Any]) -> list[np.ndarray]:
        one_inference_thread()
        outputs: list[np.ndarray] = [np.empty(0)] * len(batch)
        texts = [i for i, item in enumerate(batch) if isinstance(item, Tokens)]
        images = [i for i, item in enumerate(batch) if isinstance(item, Pixels)]
        with self.torch.inference_mode():
            if texts:
                vectors = self._embed_texts([batch[i] for i in texts])
                for row, index in enumerate(texts):
                    outputs[index] = vectors[row]
            if images:
                vectors = self._embed_images([batch[i] for i in images])
                for row, index in enumerate(images):
                    outputs[index] = vectors[row]
        return outputs

    def _embed_texts(self, tokens: list[Tokens]) -> np.ndarray:
        width = self.max_tokens if self.pad_to_max else max(len(t) for t in tokens)
        input_ids = np.full((len(tokens), width), self.pad_id, dtype=np.int64)  # (batch, tokens)
        mask = np.zeros_like(input_ids)
        for row, t in enumerate(tokens):
            input_ids[row, : len(t)] = t.ids
            mask[row, : len(t)] = 1
        feed = {"input_ids": self.torch.from_numpy(input_ids)}
        if not self.pad_to_max:
            feed["attention_mask"] = self.torch.from_numpy(mask)
        return _normalised(self.network.get_text_features(**feed))

    def _embed_images(self, images: list[Pixels]) -> np.ndarray:
        pixels = self.torch.from_numpy(np.stack([p.values for p in images]))  # (batch, 3, h, w)
        return _normalised(self.network.get_image_features(pixel_values=pixels))

    def postprocess(self, output: np.ndarray) -> np.ndarray:
        return output

    def warmup_inputs(self) -> list[Any]:
        side = int((self.source.config.get("vision_config") or {}).get("image_size") or 224)
        return [PROBE_TEXT, Image.new("RGB", (side, side), (127, 127, 127))]

    def describe(self) -> dict[str, Any]:
        return {
            "dimensions": self.dimensions,
            "max_tokens": self.max_tokens,
            "architecture": self.source.architecture,
            "source": self.source.location,
        }


class HfSiglip(HfClip):
    pad_to_max = True


def _normalised(features: Any) -> np.ndarray:
    # transformers 5 returns a model output whose pooler_output holds the projected features.
    tensor = getattr(features, "pooler_output", features)  # (batch, dim)
    return l2_normalise(tensor.float().numpy())
