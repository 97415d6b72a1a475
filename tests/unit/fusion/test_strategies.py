import math

import pytest
import torch

from mmserve.errors import ConfigError
from mmserve.fusion.batch import FeatureBatch
from mmserve.fusion.model import FusionConfig, FusionModel
from mmserve.fusion.strategies import STRATEGIES, list_strategies, strategy_config
from tests.unit.fusion.helpers import SPECS, TARGETS, random_batch, small_config

ALL = list(STRATEGIES)


def build(strategy: str) -> FusionModel:
    torch.manual_seed(0)
    return FusionModel(small_config(strategy)).eval()


def with_tokens(batch: FeatureBatch, modality: str, tokens: torch.Tensor) -> FeatureBatch:
    return FeatureBatch({**batch.tokens, modality: tokens}, batch.present, batch.lengths)


@pytest.mark.parametrize("strategy", ALL)
def test_output_shapes(strategy):
    out = build(strategy)(random_batch(size=5))
    assert out["label"].shape == (5, 3)  # logits per class
    assert out["value"].shape == (5,)  # one regression value per row
    assert all(torch.isfinite(v).all() for v in out.values())


@pytest.mark.parametrize("strategy", ALL)
@pytest.mark.parametrize("junk", [1e4, math.inf, math.nan])
def test_an_absent_modality_is_masked_whatever_its_slot_holds(strategy, junk):
    model, batch = build(strategy), random_batch()
    assert not batch.present["image"][0]
    image = batch.tokens["image"].clone()
    image[0] = junk  # row 0 lacks its image
    with torch.no_grad():
        before, after = model(batch), model(with_tokens(batch, "image", image))
    for name in before:
        assert torch.equal(before[name][0], after[name][0]), name


@pytest.mark.parametrize("strategy", ALL)
def test_padding_tokens_are_masked(strategy):
    model = build(strategy)
    batch = random_batch()
    batch.lengths["text"][0] = 2  # tokens 2 and 3 of row 0 are padding
    text = batch.tokens["text"].clone()
    text[0, 2:] = torch.randn(2, 8) * 1e3
    with torch.no_grad():
        before, after = model(batch), model(with_tokens(batch, "text", text))
    assert torch.equal(before["label"][0], after["label"][0])


@pytest.mark.parametrize("strategy", ALL)
def test_absent_is_not_the_same_as_present_zeros(strategy):
    """Masking, not zero-filling: a row without an image differs from a row whose image
    features happen to be all zeros."""
    model, batch = build(strategy), random_batch()
    zeros = batch.tokens["image"].clone()
    zeros[0] = 0
    present = {**batch.present, "image": batch.present["image"].clone()}
    present["image"][0] = True
    filled = FeatureBatch({**batch.tokens, "image": zeros}, present, batch.lengths)
    filled.lengths["image"][0] = 1
    with torch.no_grad():
        assert not torch.allclose(model(batch)["label"][0], model(filled)["label"][0])


@pytest.mark.parametrize("strategy", ALL)
def test_gradients_reach_every_parameter(strategy):
    """Every modality's projection (and every other parameter) learns: a loss on a batch
    with some absent rows gives each a nonzero gradient."""
    model = build(strategy).train()
    out = model(random_batch(size=8))
    (out["label"].square().mean() + out["value"].square().mean()).backward()
    silent = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert silent == []
    for modality in SPECS:  # spelled out for the requirement: each modality's weights learn
        assert any(modality in n for n, _ in model.named_parameters())


@pytest.mark.parametrize("strategy", ALL)
def test_a_row_with_no_modality_at_all_gives_finite_outputs(strategy):
    batch = random_batch()
    for present in batch.present.values():
        present[1] = False
    out = build(strategy)(batch)
    assert all(torch.isfinite(v).all() for v in out.values())


def test_rows_do_not_leak_into_each_other():
    model, batch = build("attention"), random_batch(size=6)
    with torch.no_grad():
        whole = model(batch)["label"]
        alone = model(batch.take(torch.tensor([3])))["label"]
    torch.testing.assert_close(whole[3:4], alone)


def test_registry_names_every_strategy_of_the_issue():
    assert set(list_strategies()) == {
        "early",
        "mean",
        "weighted",
        "gated",
        "attention",
        "cross_attention",
        "late",
    }


def test_unknown_strategy_and_option_say_what_exists():
    with pytest.raises(ConfigError, match="choose one of early, mean"):
        FusionConfig(modalities=SPECS, targets=TARGETS, strategy="nope")
    with pytest.raises(ConfigError, match="has no option layerz; it has dropout, heads"):
        strategy_config("attention", {"layerz": 2})
    with pytest.raises(ConfigError, match="multiple of heads"):
        strategy_config("attention", {"hidden": 30, "heads": 4})
    with pytest.raises(ConfigError, match="layers = 0; use 1 or more"):
        strategy_config("cross_attention", {"layers": 0})
    with pytest.raises(ConfigError, match="use 0 <= dropout < 1"):
        strategy_config("early", {"dropout": 1.5})


def test_cross_attention_can_restrict_the_query_modality():
    config = small_config("cross_attention")
    config = FusionConfig(
        modalities=SPECS,
        targets=TARGETS,
        strategy="cross_attention",
        options={**config.options, "queries": ["text"]},
    )
    model = FusionModel(config)
    assert list(model.fusion.blocks) == ["text"]
    assert FusionConfig.from_dict(config.to_dict()).options["queries"] == ("text",)


def test_late_fusion_exposes_its_learned_weights():
    weights = build("late").fusion.modality_weights()
    assert set(weights) == {"label", "value"}
    assert sum(weights["label"].values()) == pytest.approx(1.0)
