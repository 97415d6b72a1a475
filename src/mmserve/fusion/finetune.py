"""Fine-tuning the last N blocks of the image encoder (EfficientNet-Lite0, torch, CPU) together
with a fusion model: `mmserve fusion train ... --finetune-image N`.

    EfficientNet-Lite0:  stem -> blocks 0..15 -> 1x1 head conv + BN -> mean pool -> (1280,)
                         |---- frozen: run once per image ----|---- trained ----------------|

The frozen part's output (the input of block 16-N) is computed once per image at load, with
no gradient, and held in memory for the run (`ImageTuner.maps`; 37 kB an image for N <= 5,
more for larger N); the feature cache is not used for the image modality. Each training step
runs only the trained tail on those maps, so an epoch costs the tail's forward + backward,
not the whole network's.

Batch norm stays in eval mode (ImageNet's running statistics; its scale and shift train):
training batches are small, and their statistics would be noise. The trained network is
saved whole as `image_encoder.onnx` in the model directory, the same graph (pixels in,
logits and pooled features out) the stock encoder serves, so serving runs it like the stock
one (fusion/serving.py); the image spec's encoder id is FINETUNED_IMAGE_ENCODER, so nothing
mistakes the model's image features for the stock encoder's.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from mmserve.errors import ClientError, ConfigError
from mmserve.fusion.artifact import FINETUNED_IMAGE_ENCODER
from mmserve.fusion.batch import FeatureBatch
from mmserve.fusion.data import FeatureDataset, Split
from mmserve.fusion.dataset import BadRow, Table
from mmserve.fusion.encoders import (
    EncoderSet,
    FeatureCache,
    decode_file,
    encode_rows,
    encoders_for,
    given_split,
    table_targets,
)
from mmserve.fusion.features import ModalityArrays, ModalitySpec, collate
from mmserve.media import MediaPolicy
from mmserve.models.imagenet import FEATURE_DIM, export_net, load_torch_net, preprocess_image

BLOCKS = 16  # EfficientNet-Lite0's MBConv blocks
BASE_ENCODER = "efficientnet-lite0"
PREFIX_BATCH = 16  # images per no-grad pass through the frozen part
MAX_MAP_BYTES = 4 << 30  # the frozen maps of every image, held in memory
ENCODER_LR_SCALE = 0.1  # the pretrained blocks move at a tenth of the head's learning rate
_SYNTAX = re.compile(r"^(?:last-)?(\d+)(?:-blocks?)?$")


def parse_blocks(value: str | int) -> int:
    """'2', 2 or 'last-2-blocks' -> 2 (blocks of the image encoder to fine-tune)."""
    match = _SYNTAX.match(str(value).strip())
    blocks = int(match.group(1)) if match else 0
    if not 1 <= blocks <= BLOCKS:
        raise ConfigError(
            f"finetune_image: {value!r} is not a block count; write N or last-N-blocks "
            f"with N in 1..{BLOCKS}"
        )
    return blocks


class ImageTuner(nn.Module):
    """The trained tail of the image encoder over the frozen maps of a data set's rows."""

    def __init__(self, blocks: int, net: Any = None):
        super().__init__()
        self.blocks = parse_blocks(blocks)
        self.net = net if net is not None else load_torch_net()
        self.first = BLOCKS - self.blocks  # index of the first trained block
        self.trainable = nn.ModuleList(
            [*self.net._blocks[self.first :], self.net._conv_head, self.net._bn1]
        )
        for p in self.net.parameters():
            p.requires_grad_(False)
        for p in self.trainable.parameters():
            p.requires_grad_(True)
        self.maps = torch.zeros(0)  # (rows, C, H, W): a plain tensor, not in state_dict
        self.net.eval()

    def train(self, mode: bool = True) -> ImageTuner:
        """Batch norm and drop-connect stay in eval mode whatever the fusion model's mode."""
        super().train(mode)
        self.net.eval()
        return self

    @torch.no_grad()
    def frozen(self, pixels: Tensor) -> Tensor:
        """(n, 3, 224, 224) normalised pixels -> the input of the first trained block."""
        net = self.net
        x = net._swish(net._bn0(net._conv_stem(pixels)))
        for block in net._blocks[: self.first]:
            x = block(x)
        return x

    def tail(self, maps: Tensor) -> Tensor:
        """Frozen maps -> (n, 1280) pooled features, with gradients to the trained blocks."""
        net = self.net
        x = maps
        for block in net._blocks[self.first :]:
            x = block(x)
        x = net._swish(net._bn1(net._conv_head(x)))
        return x.mean(dim=(2, 3))

    def features(self, pixels: Tensor) -> Tensor:
        """The whole encoder: what the exported graph's `features` output computes."""
        return self.tail(self.frozen(pixels))

    def forward(self, batch: FeatureBatch, rows: Tensor) -> FeatureBatch:
        """`batch` (data-set rows `rows`) with its image tokens computed by the tail."""
        present = batch.present["image"]
        pooled = torch.zeros(len(rows), FEATURE_DIM)
        if bool(present.any()):
            pooled = pooled.index_put((present,), self.tail(self.maps[rows[present]]))
        tokens = {**batch.tokens, "image": pooled[:, None, :]}
        return FeatureBatch(tokens, batch.present, batch.lengths)

    def export(self, path: Path) -> None:
        export_net(self.net, path)


def frozen_maps(
    table: Table,
    tuner: ImageTuner,
    policy: MediaPolicy,
    progress: Callable[[int, int], None] | None = None,
) -> dict[int, Tensor]:
    """Row line -> the frozen maps of its image; rows whose image does not read or decode
    go to table.report.bad and leave the table (as encode_rows does for other encoders)."""
    have = [r for r in table.rows if r.inputs.get("image") is not None]
    maps: dict[int, Tensor] = {}
    failed: set[int] = set()
    for start in range(0, len(have), PREFIX_BATCH):
        chunk, pixels = [], []
        for row in have[start : start + PREFIX_BATCH]:
            path = Path(row.inputs["image"])
            try:
                image = decode_file("image", path, path.read_bytes(), policy)
            except OSError as e:
                reason = f"image file {str(path)!r} cannot be read: {e.strerror}"
            except ClientError as e:
                reason = f"image file {path.name!r}: {e.message}"
            else:
                chunk.append(row.line)
                pixels.append(preprocess_image(image))
                continue
            table.report.bad.append(BadRow(row.line, reason))
            failed.add(row.line)
        if pixels:
            out = tuner.frozen(torch.from_numpy(np.stack(pixels)))
            maps.update(zip(chunk, out, strict=True))
        if progress:
            progress(min(start + PREFIX_BATCH, len(have)), len(have))
    table.report.bad.sort(key=lambda b: b.line)
    table.rows = [r for r in table.rows if r.line not in failed]
    return maps


def attach_maps(tuner: ImageTuner, maps: dict[int, Tensor], lines: Sequence[int]) -> None:
    """Lay the maps out in data-set row order (zeros where a row has no image)."""
    if not maps:
        raise ConfigError("--finetune-image: no row has a readable image")
    shape = next(iter(maps.values())).shape
    need = len(lines) * math.prod(shape) * 4
    if need > MAX_MAP_BYTES:
        raise ConfigError(
            f"--finetune-image {tuner.blocks}: the frozen maps of {len(lines)} images need "
            f"{need / 2**30:.1f} GiB of memory (limit {MAX_MAP_BYTES / 2**30:.0f}); "
            "fine-tune fewer blocks or use fewer rows"
        )
    stacked = torch.zeros((len(lines), *shape))
    for i, line in enumerate(lines):
        if line in maps:
            stacked[i] = maps[line]
    tuner.maps = stacked


def load_for_finetuning(
    table: Table,
    options: Any,
    cache: FeatureCache,
    *,
    encoder_set: EncoderSet | None = None,
    policy: MediaPolicy | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[FeatureDataset, Split | None, ImageTuner]:
    """pipeline.load_data when fine-tuning: images through the frozen part (no feature
    cache), the other modalities' features as usual. The data set's image tokens are zeros
    until the tuner computes them (per batch while training; with_tuned_images after)."""
    if "image" not in table.modalities:
        raise ConfigError("--finetune-image: the data has no image column")
    if options.encoders.get("image", BASE_ENCODER) != BASE_ENCODER:
        raise ConfigError(f"--finetune-image fine-tunes {BASE_ENCODER}; drop --encoder image=")
    tuner = ImageTuner(options.finetune_image)
    policy = policy or MediaPolicy()
    maps = frozen_maps(table, tuner, policy, progress)
    others = encoders_for(table, options.encoders, encoder_set, skip=("image",))
    features: dict[str, ModalityArrays] = {}
    specs: dict[str, ModalitySpec] = {}
    if others:  # drops the rows whose other media do not decode
        rows, specs = encode_rows(table, others, cache, policy=policy)
        features = collate(rows, specs)
    lines = [row.line for row in table.rows]
    attach_maps(tuner, maps, lines)
    present = np.asarray([line in maps for line in lines], bool)
    features["image"] = ModalityArrays(
        np.zeros((len(lines), 1, FEATURE_DIM), np.float32), present, present.astype(np.int64)
    )
    specs["image"] = ModalitySpec(dim=FEATURE_DIM, encoder=FINETUNED_IMAGE_ENCODER)
    order = [m for m in table.modalities if m in specs]  # the usual text, image, audio order
    dataset = FeatureDataset(
        {m: features[m] for m in order},
        table_targets(table),
        {m: specs[m] for m in order},
        table.targets,
    )
    return dataset, given_split(table.rows), tuner


@torch.no_grad()
def with_tuned_images(dataset: FeatureDataset, tuner: ImageTuner) -> FeatureDataset:
    """The data set with the trained encoder's image features in place of the placeholders:
    what evaluation, the int8 comparison and the report read."""
    tuner.eval()
    image = dataset.features["image"]
    tokens = np.zeros_like(image.tokens)
    batch = FeatureBatch.from_arrays(dataset.features)
    for start in range(0, len(dataset), PREFIX_BATCH * 8):  # bounded memory
        rows = torch.arange(start, min(start + PREFIX_BATCH * 8, len(dataset)))
        tokens[rows.numpy()] = tuner(batch.take(rows), rows).tokens["image"].numpy()
    tuned = ModalityArrays(tokens, image.present, image.lengths)
    return FeatureDataset(
        {**dataset.features, "image": tuned}, dataset.targets, dataset.specs, dataset.target_specs
    )


@dataclass(frozen=True)
class CostEstimate:
    """Measured on one batch before training: what an epoch and the run should take."""

    batch_seconds: float  # forward + backward of one training batch (tail + fusion model)
    batches_per_epoch: int
    epochs: int  # the limit; early stopping may end sooner
    map_bytes: int

    @property
    def epoch_seconds(self) -> float:
        return self.batch_seconds * self.batches_per_epoch * 1.15  # + validation (~15 %)

    @property
    def total_seconds(self) -> float:
        return self.epoch_seconds * self.epochs

    def describe(self) -> str:
        return (
            f"fine-tuning estimate: {self.batch_seconds:.2f} s per batch (forward + backward), "
            f"~{self.epoch_seconds:.1f} s per epoch, at most ~{_duration(self.total_seconds)} "
            f"for {self.epochs} epochs (early stopping usually ends sooner); frozen maps "
            f"{self.map_bytes / 2**20:.0f} MiB in memory"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch_seconds": round(self.batch_seconds, 4),
            "epoch_seconds": round(self.epoch_seconds, 3),
            "total_seconds": round(self.total_seconds, 1),
            "epochs": self.epochs,
            "map_bytes": self.map_bytes,
        }


def estimate_cost(
    tuner: ImageTuner,
    model: nn.Module,
    batch: FeatureBatch,
    rows: Tensor,
    *,
    train_rows: int,
    batch_size: int,
    epochs: int,
) -> CostEstimate:
    """Time one forward + backward of `batch` (a training batch) through the tail and the
    fusion model; gradients are cleared after, nothing is updated."""
    model.train()
    tuner.train()
    seconds = math.inf
    for _ in range(3):  # the first passes also allocate; the fastest is the steady cost
        started = time.perf_counter()
        outputs = model(tuner(batch, rows))
        sum(o.sum() for o in outputs.values()).backward()
        seconds = min(seconds, time.perf_counter() - started)
        for module in (model, tuner):
            module.zero_grad(set_to_none=True)
    return CostEstimate(
        batch_seconds=seconds * batch_size / max(1, len(rows)),
        batches_per_epoch=math.ceil(train_rows / batch_size),
        epochs=epochs,
        map_bytes=tuner.maps.numel() * 4,
    )


def encoder_parameters(tuner: ImageTuner, lr: float) -> dict[str, Any]:
    """The optimizer's parameter group for the trained blocks."""
    return {"params": list(tuner.trainable.parameters()), "lr": lr * ENCODER_LR_SCALE}


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
