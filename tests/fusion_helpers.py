"""The demo data set with real encoders (minilm, efficientnet-lite0, yamnet), its features
and small trained fusion models, each made once per test session and shared by the unit,
CLI and API tests (functools.cache, like tests/vision_models.py)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import cache
from pathlib import Path

DEMO_ROWS = 300
FAST = {"epochs": 30, "patience": 8, "progress": False}  # TrainConfig fields for tests
HIDDEN = {"hidden": 64}
TINY_IMAGE_ROWS = 36  # tiny_image_data: 24 px images (the encoder sees them at 224)


@cache
def workdir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="mmserve-fusion-tests-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@cache
def demo_csv() -> Path:
    """DEMO_ROWS rows of caption + picture + (mostly) a tone, label match/mismatch."""
    from mmserve.fusion.demo import make_demo_data

    return make_demo_data(workdir() / "demo", rows=DEMO_ROWS, seed=0, audio=True).csv


@cache
def encoder_set():
    from mmserve.fusion.encoders import EncoderSet

    return EncoderSet()


@cache
def demo_data():
    from mmserve.fusion.pipeline import DataOptions, load_data

    options = DataOptions(path=demo_csv(), targets=("label",), data_dir=workdir() / "data")
    return load_data(options, encoder_set=encoder_set())


@cache
def trained(strategy: str, seed: int = 0):
    """A trained, exported model directory (with its report) for `strategy`."""
    from mmserve.fusion.pipeline import train_model
    from mmserve.fusion.train import TrainConfig

    out = workdir() / f"model-{strategy}-{seed}"
    tc = TrainConfig(seed=seed, **FAST)
    return train_model(demo_data(), out, strategy=strategy, train_config=tc, options=HIDDEN)


def tiny_image_data(root: Path, rows: int = TINY_IMAGE_ROWS, *, seed: int = 0) -> Path:
    """Small pictures labelled by where a square sits (left or right half), with a bad row
    (an image that does not decode) to check it is skipped."""
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    lines = ["image,label"]
    for i in range(rows):
        side = ("left", "right")[i % 2]
        image = Image.new("RGB", (24, 24), tuple(int(c) for c in rng.integers(120, 255, 3)))
        x = int(rng.integers(0, 6)) + (0 if side == "left" else 12)
        colour = tuple(int(c) for c in rng.integers(0, 100, 3))
        ImageDraw.Draw(image).rectangle([x, 8, x + 8, 16], fill=colour)
        image.save(root / "images" / f"{i:03d}.png")
        lines.append(f"images/{i:03d}.png,{side}")
    (root / "images" / "broken.png").write_bytes(b"not a picture")
    lines.append("images/broken.png,left")
    (root / "data.csv").write_text("\n".join(lines) + "\n")
    return root / "data.csv"
