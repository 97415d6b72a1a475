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
