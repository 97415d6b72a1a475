"""What an hf: CLIP costs on this machine, and what one inference thread and batching change.

No weights are downloaded: a randomly initialised CLIP ViT-B/32 (transformers' default
CLIPConfig, the shape of openai/clip-vit-base-patch32, 151 M parameters) is saved to a temp
directory and served through `hf:` exactly as a real checkpoint would be. Random weights cost
the same FLOPs as trained ones.

Side by side in one run, images and texts per second through the model's forward:
  - torch intra-op threads: 1 (mmserve's setting) vs all cores, batch 8
  - batch 1 vs batch 8, one thread
Each cell is the best of a few repeats; the machine is shared, so read the ratios, not the
absolute figures.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel

from mmserve.models.registry import create_model

REPEATS = 3
ROUNDS = 4  # batches per timed repeat


def build(root: Path) -> Path:
    torch.manual_seed(0)
    CLIPModel(CLIPConfig()).save_pretrained(root)
    CLIPImageProcessorPil(
        size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}
    ).save_pretrained(root)
    _tokenizer().save_pretrained(root)
    return root


def _tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = ["<pad>", "<unk>", "<s>", "</s>"] + [f"w{i}" for i in range(1000)]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 2), ("</s>", 3)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )


def per_second(model, items: list, batch: int, threads: int) -> float:
    torch.set_num_threads(threads)
    payloads = [model.preprocess(x) for x in items[:batch]]
    model.forward(payloads)  # warm
    best = float("inf")
    for _ in range(REPEATS):
        started = time.perf_counter()
        for _ in range(ROUNDS):
            model.forward(payloads)
        best = min(best, time.perf_counter() - started)
    return ROUNDS * batch / best


def main() -> None:
    cores = os.cpu_count() or 1
    rng = np.random.default_rng(0)
    images = [
        Image.fromarray(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)) for _ in range(8)
    ]
    texts = [" ".join(f"w{i}" for i in rng.integers(0, 1000, 12)) for _ in range(8)]
    with tempfile.TemporaryDirectory() as tmp:
        model = create_model("clip", f"hf:{build(Path(tmp) / 'clip')}")
        model.load()  # pins this thread to one torch thread once; per_second re-sets it
        rows = []
        for kind, items in (("images", images), ("texts", texts)):
            one_thread_b8 = per_second(model, items, 8, 1)
            all_threads_b8 = per_second(model, items, 8, cores)
            one_thread_b1 = per_second(model, items, 1, 1)
            rows.append((kind, one_thread_b1, one_thread_b8, all_threads_b8))
    print(f"random CLIP ViT-B/32 via hf:, {cores} cores, best of {REPEATS}x{ROUNDS} batches")
    print(f"{'':8}{'1 thr b1':>12}{'1 thr b8':>12}{f'{cores} thr b8':>12}  per second")
    for kind, b1, b8, all8 in rows:
        print(f"{kind:8}{b1:12.1f}{b8:12.1f}{all8:12.1f}")
    for kind, b1, b8, all8 in rows:
        print(
            f"{kind}: batch 8 / batch 1 = {b8 / b1:.2f}x; "
            f"{cores} threads / 1 thread = {all8 / b8:.2f}x (provisional: shared machine)"
        )


if __name__ == "__main__":
    main()
