"""The align demo data with the real encoders and one small aligned model, each made once
per test session and shared by the unit, CLI and API tests (functools.cache, like
tests/fusion_helpers.py, whose encoders and work directory they share)."""

from __future__ import annotations

from functools import cache

from tests import fusion_helpers

ROWS = 200  # 30 held-out pairs: enough to tell learning from chance (1/30)
FAST = {"epochs": 60, "patience": 10, "progress": False}  # AlignTrainConfig fields


@cache
def demo_csv():
    from mmserve.fusion.align_demo import make_align_demo

    work = fusion_helpers.workdir() / "align-demo"
    return make_align_demo(work, rows=ROWS, seed=0, speech=False).csv


@cache
def pairs():
    from mmserve.fusion.align_pipeline import PairOptions, load_pairs

    options = PairOptions(path=demo_csv(), data_dir=fusion_helpers.workdir() / "data")
    return load_pairs(options, encoder_set=fusion_helpers.encoder_set())


@cache
def aligned():
    """A trained aligned model directory (text + image, 64-d) with its report."""
    from mmserve.fusion.align import AlignTrainConfig
    from mmserve.fusion.align_pipeline import align_model

    out = fusion_helpers.workdir() / "aligned-shapes"
    tc = AlignTrainConfig(seed=0, **FAST)
    return align_model(pairs(), out, options={"dim": 64, "hidden": 256}, train_config=tc)
