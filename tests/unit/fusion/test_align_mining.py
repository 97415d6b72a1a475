"""Hard negatives mined from the whole training set (align --mine-negatives): the nearest
non-partners by the current heads, never the partner or a row with the same content, and
training with them still aligns."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmserve.errors import ConfigError
from mmserve.fusion.align import (
    AlignConfig,
    AlignModel,
    AlignTrainConfig,
    embed_all,
    retrieval_metrics,
    train_align,
)
from mmserve.fusion.align_mining import info_nce_mined, mine_negatives, mined_rows
from tests.unit.fusion.test_align import DIMS, synthetic_pairs


def tensors(data):
    feats = {m: torch.from_numpy(f) for m, f in data.features.items()}
    present = {m: torch.from_numpy(p) for m, p in data.present.items()}
    return feats, present


def test_mined_negatives_are_the_nearest_non_partners_by_brute_force():
    torch.manual_seed(0)
    data = synthetic_pairs(60)
    data.features["text"][31] = data.features["text"][30]  # rows 30 and 31: one caption
    model = AlignModel(AlignConfig(dims=DIMS, dim=8, hidden=16)).eval()
    feats, present = tensors(data)
    rows = np.arange(10, 60)  # the "training" rows; rows 0-9 are never mined
    mined = mine_negatives(model, feats, present, rows, k=3)

    vectors = embed_all(model, data)
    both = rows[data.present["image"][rows]]  # rows 10-59 all have both
    for i in (12, 30, 45):
        sims = {j: float(vectors["text"][i] @ vectors["image"][j]) for j in both}
        skip = {i, 31} if i == 30 else {i}
        want = sorted((j for j in sims if j not in skip), key=sims.get, reverse=True)[:3]
        assert mined[("text", "image")][i].tolist() == want
    assert 31 not in mined[("text", "image")][30] and 30 not in mined[("image", "text")][31]
    assert (mined[("text", "image")][:10] == -1).all()  # not training rows: nothing mined
    assert set(mined) == {("text", "image"), ("image", "text")}


def test_mined_rows_leave_the_batch_out_and_the_loss_counts_them():
    mined = {("text", "image"): np.array([[1, 2], [0, 3], [3, -1], [1, 2]])}
    assert mined_rows(mined, "text", "image", torch.tensor([0, 1])).tolist() == [2, 3]
    torch.manual_seed(0)
    za = torch.nn.functional.normalize(torch.randn(4, 3), dim=-1)
    zb = torch.nn.functional.normalize(za + 0.1 * torch.randn(4, 3), dim=-1)
    scale = torch.tensor(10.0)
    none = info_nce_mined(za, zb, za[:0], zb[:0], scale)
    hard = info_nce_mined(za, zb, za[:2] * 0.99, zb[:2] * 0.99, scale)
    assert hard.item() > none.item()  # near-duplicates of the partners: a harder task


def test_training_with_mined_negatives_aligns_two_views():
    torch.set_num_threads(1)
    data = synthetic_pairs(300)
    tc = AlignTrainConfig(epochs=30, patience=10, batch_size=64, mine_negatives=4, progress=False)
    result = train_align(data, AlignConfig(dims=DIMS, dim=8, hidden=32), tc)
    test = data.take(result.split.test)
    metrics = retrieval_metrics(embed_all(result.model, test), test)
    assert metrics["text->image"]["R@1"] > 10 / metrics["text->image"]["n"], metrics
    with pytest.raises(ConfigError, match="not both"):
        AlignTrainConfig(mine_negatives=2, hard_negatives=1.0)
    with pytest.raises(ConfigError, match="mine_negatives"):
        AlignTrainConfig(mine_negatives=65)
