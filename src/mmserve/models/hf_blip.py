"""BLIP captioning checkpoints (BlipForConditionalGeneration): an image in, a sentence out.

preprocess resizes and normalises the RGB image with the checkpoint's image processor in the
request thread; forward generates captions for the whole batch at once (greedy, bounded by
MAX_CAPTION_TOKENS); postprocess returns {"caption": str}.
"""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any

import numpy as np
from PIL import Image

from mmserve.errors import InvalidRequest
from mmserve.models.base import CAPTION_IMAGE, Model
from mmserve.models.hf import (
    HfSource,
    import_torch,
    load_image_processor,
    one_inference_thread,
    rgb_pixels,
)

# BLIP's captions run 8-15 words; the bound keeps one odd image from holding a whole batch.
MAX_CAPTION_TOKENS = 30


class HfBlipCaptioner(Model):
    capabilities = frozenset({CAPTION_IMAGE})
    modality = "image"

    def __init__(self, model_id: str, source: HfSource):
        super().__init__(model_id)
        self.source = source

    def load(self) -> None:
        torch = import_torch()
        from transformers import AutoTokenizer, BlipForConditionalGeneration

        kwargs = self.source.pretrained_kwargs()
        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(self.source.location, **kwargs)
        self.image_processor = load_image_processor(self.source)
        self.network = BlipForConditionalGeneration.from_pretrained(
            self.source.location, dtype=torch.float32, **kwargs
        ).eval()

    @singledispatchmethod
    def preprocess(self, item: Any) -> Any:
        raise InvalidRequest(
            f"model {self.id!r} captions images, not {type(item).__name__}", param="image"
        )

    @preprocess.register
    def _(self, item: Image.Image) -> np.ndarray:
        return np.asarray(rgb_pixels(self.image_processor, item), dtype=np.float32)

    def forward(self, batch: list[np.ndarray]) -> list[str]:
        one_inference_thread()
        pixels = self.torch.from_numpy(np.stack(batch))  # (batch, 3, height, width)
        with self.torch.inference_mode():
            ids = self.network.generate(
                pixel_values=pixels, max_new_tokens=MAX_CAPTION_TOKENS, do_sample=False
            )  # (batch, tokens)
        texts = self.tokenizer.batch_decode(ids, skip_special_tokens=True)
        return [" ".join(text.split()) for text in texts]

    def postprocess(self, output: str) -> dict[str, str]:
        return {"caption": output}

    def warmup_inputs(self) -> list[Any]:
        return [Image.new("RGB", (64, 64), (127, 127, 127))]

    def describe(self) -> dict[str, Any]:
        return {
            "architecture": self.source.architecture,
            "source": self.source.location,
            "max_caption_tokens": MAX_CAPTION_TOKENS,
        }
