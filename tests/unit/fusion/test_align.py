"""Contrastive alignment: the loss and recall by hand, the numpy heads the server runs
against torch, data checks before training, and the real demo data (real encoders): the
aligned space finds a caption's own picture far more often than bridge's label anchors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mmserve.errors import ConfigError
from mmserve.fusion.align import (
    AlignConfig,
    AlignModel,
    AlignTrainConfig,
    PairData,
    check_pairs,
    info_nce,
    recall_at,
    retrieval_metrics,
    train_align,
)
from mmserve.fusion.aligned import AlignedHeads, read_aligned, save_aligned

DIMS = {"text": 6, "image": 5}


def test_recall_counts_the_right_item_within_the_top_k():
    sims = np.array([[0.9, 0.1, 0.0], [0.8, 0.5, 0.1], [0.3, 0.2, 0.1]])
    # query 0: own item first; query 1: own item second; query 2: own item last
    assert recall_at(sims, (1, 2, 3)) == {"R@1": 1 / 3, "R@2": 2 / 3, "R@3": 1.0}


def test_info_nce_is_low_for_matching_pairs_and_symmetric():
    z = torch.nn.functional.normalize(torch.eye(4), dim=-1)
    perfect = info_nce(z, z, torch.tensor(100.0))
    shuffled = info_nce(z, z[[1, 2, 3, 0]], torch.tensor(100.0))
    assert perfect.item() < 1e-6 and shuffled.item() > 50
    a, b = torch.randn(5, 3), torch.randn(5, 3)
    assert info_nce(a, b, torch.tensor(2.0)).item() == pytest.approx(
        info_nce(b, a, torch.tensor(2.0)).item(), rel=1e-6
    )


def test_hard_negatives_weigh_the_similar_negatives_more():
    torch.manual_seed(0)
    a = torch.nn.functional.normalize(torch.randn(8, 4), dim=-1)
    b = torch.nn.functional.normalize(a + 0.5 * torch.randn(8, 4), dim=-1)
    scale = torch.tensor(10.0)
    plain = info_nce(a, b, scale)
    assert info_nce(a, b, scale, hard=0.0).item() == plain.item()
    # Weights average 1 over each row's negatives and grow with the negative's logit, so
    # the weighted denominator (and the loss) can only grow (Chebyshev's sum inequality).
    losses = [info_nce(a, b, scale, hard=beta).item() for beta in (1.0, 5.0, 20.0)]
    assert plain.item() < losses[0] < losses[1] < losses[2]
    with pytest.raises(ConfigError, match="hard_negatives"):
        AlignTrainConfig(hard_negatives=-1)


def synthetic_pairs(n: int, seed: int = 0) -> PairData:
    """Text and image features that are two random linear views of one latent."""
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, 3))
    features = {m: latent @ rng.standard_normal((3, d)) for m, d in DIMS.items()}
    features = {
        m: (f + 0.05 * rng.standard_normal(f.shape)).astype(np.float32) for m, f in features.items()
    }
    present = {m: np.ones(n, bool) for m in DIMS}
    present["image"][:5] = False  # rows without an image: no text-image pair
    return PairData(features, present)


def test_training_aligns_two_views_and_keeps_the_best_epoch():
    torch.set_num_threads(1)
    data = synthetic_pairs(300)
    tc = AlignTrainConfig(epochs=40, patience=10, batch_size=64, progress=False)
    result = train_align(data, AlignConfig(dims=DIMS, dim=8, hidden=32), tc)
    test = data.take(result.split.test)
    from mmserve.fusion.align import embed_all

    metrics = retrieval_metrics(embed_all(result.model, test), test)
    n = metrics["text->image"]["n"]
    assert n == int((test.present["image"]).sum())  # only rows that have both
    assert metrics["text->image"]["R@1"] > 10 / n, metrics  # chance is 1 / n
    best = max(h.val_score for h in result.history)
    assert result.history[result.best_epoch - 1].val_score == best


def test_numpy_heads_match_torch(tmp_path):
    for hidden in (0, 16):
        model = AlignModel(AlignConfig(dims=DIMS, dim=4, hidden=hidden)).eval()
        with torch.no_grad():  # non-trivial LayerNorm parameters
            for p in model.parameters():
                p.add_(0.1 * torch.randn_like(p))
        path = save_aligned(tmp_path / f"h{hidden}", model, {"text": "t", "image": "i"})
        heads = AlignedHeads(path)
        for m, d in DIMS.items():
            x = np.random.default_rng(1).standard_normal((7, d)).astype(np.float32)
            expected = model.embed(m, torch.from_numpy(x)).detach().numpy()
            assert np.abs(heads.embed(m, x) - expected).max() < 1e-5
        assert read_aligned(path).dim == 4


def test_too_few_pairs_or_one_modality_fail_before_training():
    with pytest.raises(ConfigError, match="two modalities"):
        AlignConfig(dims={"text": 4})
    few = synthetic_pairs(30)
    with pytest.raises(ConfigError, match="too few pairs"):
        check_pairs(few)


@pytest.mark.real_weights
def test_bad_rows_are_listed_and_skipped(tmp_path):
    from mmserve.fusion.align_pipeline import PairOptions, load_pairs
    from tests import align_helpers, fusion_helpers

    source = align_helpers.demo_csv()
    lines = source.read_text().splitlines()
    rows = [line.replace("images/", f"{source.parent}/images/") for line in lines[1:61]]
    rows[3] = "a red circle left of a blue square,images/missing.png"
    rows[7] = ","  # no input at all
    path = tmp_path / "pairs.csv"
    path.write_text("\n".join([lines[0], *rows]) + "\n")
    options = PairOptions(path=path, data_dir=fusion_helpers.workdir() / "data")
    loaded = load_pairs(options, encoder_set=fusion_helpers.encoder_set())
    bad = {b["line"]: b["reason"] for b in loaded.report()["bad_rows"]}
    assert set(bad) == {5, 9} and "does not exist" in bad[5], bad
    assert loaded.data.pair_counts() == {"text-image": 58}


@pytest.mark.real_weights
def test_aligned_beats_bridge_threefold_on_held_out_scenes():
    """Measured (200 rows, 30 held out, seed 0, 49 epochs): aligned text->image R@1 0.70,
    bridge 0.033 (= chance, 1/30); the test asks for 3x bridge and 3x chance (0.10)."""
    from PIL import Image

    from mmserve.fusion.align_eval import chance_recall, text_to_image_recall
    from mmserve.fusion.aligned_serving import AlignedServingModel
    from tests import align_helpers, fusion_helpers
    from tests.vision_models import loaded

    outcome = align_helpers.aligned()
    pairs = align_helpers.pairs()
    test = [pairs.table.rows[i] for i in outcome.result.split.test]
    texts = [r.inputs["text"] for r in test]
    images = [Image.open(r.inputs["image"]).convert("RGB") for r in test]
    model = AlignedServingModel("aligned/t", outcome.artifact, fusion_helpers.encoder_set())
    model.load()
    aligned = text_to_image_recall(model, texts, images)
    bridge = text_to_image_recall(loaded("bridge"), texts, images)
    assert aligned["R@1"] >= 3 * max(bridge["R@1"], chance_recall(len(test))), (aligned, bridge)
    assert aligned["R@1"] == pytest.approx(outcome.test["text->image"]["R@1"], abs=1e-6)
    report = json.loads(outcome.report_json.read_text())
    assert {"text->image", "image->text"} <= set(report["test"])
    assert (outcome.report_html.parent / "similarity.png").stat().st_size > 1000
