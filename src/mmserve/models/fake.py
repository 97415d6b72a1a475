"""A fake text embedder whose outputs can be computed by hand, for tests.

`fake` or `fake:dim=8,delay_ms=20,max_tokens=16,fail_load=1`: each text becomes a vector of
`dim` values all equal to len(text); tokens are whitespace-separated words plus two.
A text containing "poison" makes `forward` raise, "crash" makes `preprocess` raise.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from mmserve.errors import ConfigError
from mmserve.models.base import TextEmbedder
from mmserve.models.registry import register


class FakeEmbedder(TextEmbedder):
    def __init__(
        self,
        model_id: str,
        *,
        dim: int = 8,
        delay_ms: float = 0.0,
        max_tokens: int = 512,
        fail_load: bool = False,
    ):
        super().__init__(model_id)
        self.dimensions = dim
        self.delay_s = delay_ms / 1000
        self.max_tokens = max_tokens
        self.fail_load = fail_load
        self.batches: list[int] = []  # sizes of the batches forward saw

    def load(self) -> None:
        if self.fail_load:
            raise RuntimeError("fake model told to fail its load")

    def preprocess(self, item: str) -> str:
        if "crash" in item:
            raise RuntimeError("fake preprocess crash")
        self.check_length(self.count_tokens(item))
        return item

    def count_tokens(self, item: str) -> int:
        return len(item.split()) + 2  # [CLS] and [SEP], as a BERT tokenizer adds

    def forward(self, batch: list[str]) -> Sequence[np.ndarray]:
        self.batches.append(len(batch))
        if self.delay_s:
            time.sleep(self.delay_s)
        if any("poison" in text for text in batch):
            raise RuntimeError("fake model met a poison input")
        return [np.full(self.dimensions, float(len(text)), dtype=np.float32) for text in batch]

    def warmup_inputs(self) -> list[str]:
        return ["warm up"]


@register("fake", "test double: vectors filled with the text's length")
@register("fake:", "test double with options: fake:dim=8,delay_ms=20,max_tokens=16")
def fake(model_id: str, options: str) -> FakeEmbedder:
    kwargs: dict[str, float] = {}
    for pair in filter(None, options.split(",")):
        key, _, value = pair.partition("=")
        if key not in ("dim", "delay_ms", "max_tokens", "fail_load"):
            raise ConfigError(f"model {model_id!r}: unknown fake option {key!r}")
        try:
            kwargs[key] = float(value)
        except ValueError:
            raise ConfigError(f"model {model_id!r}: fake option {key} needs a number") from None
    return FakeEmbedder(
        model_id,
        dim=int(kwargs.get("dim", 8)),
        delay_ms=kwargs.get("delay_ms", 0.0),
        max_tokens=int(kwargs.get("max_tokens", 512)),
        fail_load=bool(kwargs.get("fail_load", 0)),
    )
