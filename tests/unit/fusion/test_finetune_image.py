"""--finetune-image on helpers.tiny_image_data: the last block of EfficientNet-Lite0 trains
with the fusion head, the earlier blocks do not, the estimate comes before training, and the
saved model serves the fine-tuned encoder (equal to the torch model's predictions)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmserve.errors import ConfigError
from tests import fusion_helpers as helpers

pytestmark = pytest.mark.real_weights
ROWS = helpers.TINY_IMAGE_ROWS


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory):
    from mmserve.fusion.pipeline import DataOptions, load_data, train_model
    from mmserve.fusion.train import TrainConfig

    root = tmp_path_factory.mktemp("finetune")
    options = DataOptions(
        path=helpers.tiny_image_data(root / "tiny"),
        targets=("label",),
        data_dir=root / "data",
        finetune_image=1,
    )
    data = load_data(options)
    messages: list[str] = []
    tc = TrainConfig(epochs=2, patience=2, batch_size=8, progress=False)
    outcome = train_model(
        data, root / "model", strategy="early", train_config=tc, notify=messages.append,
        options={"hidden": 16},
    )  # fmt: skip
    return data, outcome, messages


def test_only_the_last_block_and_head_conv_change(finetuned):
    from mmserve.models.imagenet import load_torch_net

    data, outcome, _ = finetuned
    stock, tuned = load_torch_net(), data.tuner.net
    assert len(outcome.result.history) >= 1
    for i in range(15):
        for a, b in zip(stock._blocks[i].parameters(), tuned._blocks[i].parameters(), strict=True):
            assert torch.equal(a, b), f"block {i} changed"
    assert torch.equal(stock._conv_stem.weight, tuned._conv_stem.weight)
    changed = [
        not torch.equal(a, b)
        for a, b in zip(stock._blocks[15].parameters(), tuned._blocks[15].parameters(), strict=True)
    ]
    assert all(changed), changed
    assert not torch.equal(stock._conv_head.weight, tuned._conv_head.weight)
    # batch norm kept ImageNet's running statistics (eval mode all along)
    assert torch.equal(stock._blocks[15]._bn2.running_mean, tuned._blocks[15]._bn2.running_mean)


def test_estimate_is_announced_before_training_and_recorded(finetuned):
    import json

    data, outcome, messages = finetuned
    assert len(messages) == 1 and messages[0].startswith("fine-tuning estimate:")
    assert "per epoch" in messages[0] and "for 2 epochs" in messages[0]
    config = json.loads((outcome.artifact / "config.json").read_text())
    record = config["training"]["finetune_image"]
    assert record["blocks"] == 1 and record["epoch_seconds"] > 0 and record["map_bytes"] > 0
    assert config["model"]["modalities"]["image"]["encoder"] == "efficientnet-lite0+finetuned"
    bad = data.table.report.bad
    assert [b.line for b in bad] == [ROWS + 2] and "broken.png" in bad[0].reason


def test_served_model_runs_the_finetuned_encoder_like_torch(finetuned):
    from PIL import Image

    from mmserve.fusion.artifact import load_predictor
    from mmserve.fusion.batch import FeatureBatch
    from mmserve.fusion.encoders import EncoderSet
    from mmserve.fusion.features import arrays
    from mmserve.fusion.model import predict
    from mmserve.fusion.pipeline import check_servable
    from mmserve.fusion.serving import FusionServingModel
    from mmserve.models.imagenet import preprocess_image

    data, outcome, _ = finetuned
    check_servable(outcome.artifact)  # its own encoder counts as installed
    rows = [r for r in data.table.rows[:6]]
    images = [Image.open(r.inputs["image"]).convert("RGB") for r in rows]
    pixels = torch.from_numpy(np.stack([preprocess_image(im) for im in images]))
    with torch.no_grad():
        data.tuner.eval()
        expected_features = data.tuner.features(pixels).numpy()
    expected = predict(outcome.result.model, FeatureBatch.from_tensors(
        {"image": torch.from_numpy(expected_features)}))["label"]  # fmt: skip

    served = FusionServingModel("fusion/tuned", outcome.artifact, EncoderSet())
    served.load()
    features = np.concatenate(served.encoders["image"].encode(images))
    np.testing.assert_allclose(features, expected_features, atol=1e-3)
    fp32 = load_predictor(outcome.artifact, "onnx").predict({"image": arrays(features)})["label"]
    np.testing.assert_allclose(fp32, expected, atol=1e-4)
    outputs = served.forward([{"image": im} for im in images])  # int8 head
    got = np.array([[o["label"]["scores"][c] for c in ("left", "right")] for o in outputs])
    np.testing.assert_allclose(got, expected, atol=0.05)


def test_stock_features_are_refused_for_a_finetuned_model(finetuned):
    from mmserve.fusion.distill_pipeline import load_teacher_data

    _, outcome, _ = finetuned
    with pytest.raises(ConfigError, match="fine-tuned its image encoder"):
        load_teacher_data(outcome.artifact, outcome.artifact.parent / "data")


@pytest.mark.parametrize(("raw", "blocks"), [("1", 1), (3, 3), ("last-2-blocks", 2)])
def test_block_syntax(raw, blocks):
    from mmserve.fusion.finetune import parse_blocks

    assert parse_blocks(raw) == blocks


@pytest.mark.parametrize("raw", ["0", "17", "last-blocks", "two"])
def test_bad_block_counts_name_the_syntax(raw):
    from mmserve.fusion.finetune import parse_blocks

    with pytest.raises(ConfigError, match="last-N-blocks"):
        parse_blocks(raw)
