"""Self-supervised pretraining, transfer and distillation: the pretext data by hand, what
is transferred and frozen, and on the real demo data (real encoders): a pretrained trunk
learns from 10 % of the labels what a scratch model cannot; a text + image student keeps
the three-modality teacher's accuracy at a fraction of its size."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmserve.errors import ConfigError
from mmserve.fusion.data import TargetSpec
from mmserve.fusion.distill import StudentSpec
from mmserve.fusion.features import ModalitySpec, arrays
from mmserve.fusion.pretrain import CLASSES, PRETEXT, matching_dataset, transfer_state

SPECS = {"text": ModalitySpec(dim=3, encoder="t"), "image": ModalitySpec(dim=2, encoder="i")}


def test_matching_data_swaps_one_modality_for_another_rows():
    n = 6
    text = np.arange(n, dtype=np.float32)[:, None].repeat(3, 1)  # row i: all values i
    image = np.arange(n, dtype=np.float32)[:, None].repeat(2, 1)
    present = np.array([1, 1, 1, 1, 1, 0], bool)  # row 5 has no image: nothing to swap
    features = {"text": arrays(text), "image": arrays(image, present)}
    data = matching_dataset(features, SPECS, seed=0)
    labels = data.targets[PRETEXT]
    assert data.target_specs == (TargetSpec(name=PRETEXT, classes=CLASSES),)
    assert len(data) == n + 5 + 5 and (labels[:n] == 0).all() and (labels[n:] == 1).all()
    t = data.features["text"].tokens[:, 0, 0]
    i = data.features["image"].tokens[:, 0, 0]
    assert (t[:n] == np.arange(n)).all()
    swapped = slice(n, None)
    assert (t[swapped] != i[swapped]).all()  # every swapped row pairs two different rows
    assert data.features["image"].present[swapped].all()  # only rows that have both
    with pytest.raises(ConfigError, match="two modalities"):
        matching_dataset({"text": arrays(text)}, {"text": SPECS["text"]}, seed=0)


def test_transfer_keeps_the_trunk_drops_the_heads_and_freezing_keeps_it(
    trained, xor_data, tmp_path
):
    from mmserve.fusion.artifact import save_artifact
    from mmserve.fusion.train import train
    from tests.unit.fusion.helpers import FAST

    source = save_artifact(tmp_path / "source", trained.model)
    config, state = transfer_state(source, xor_data)
    assert config.strategy == "gated" and config.trunk == trained.config.trunk
    assert state and not any(k.startswith("heads.") for k in state)
    frozen = train(xor_data, config, FAST, init_state=state, freeze=True)
    after = frozen.model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in state.items() if "target_" not in k)
    source_state = trained.model.state_dict()
    heads = [k for k in after if k.startswith("heads.")]
    assert heads and not any(torch.equal(after[k], source_state[k]) for k in heads)

    other = xor_data.select(["text", "image"])
    with pytest.raises(ConfigError, match="modalities and encoders must be the same"):
        transfer_state(source, other)


def test_student_spec_parses_and_names_bad_keys():
    spec = StudentSpec.parse("strategy=mean,hidden=16,trunk=8,layers=0,modalities=text+image")
    assert spec == StudentSpec(strategy="mean", hidden=16, trunk=8, layers=0,
                               modalities=("text", "image"))  # fmt: skip
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        StudentSpec.parse("width=3")
    with pytest.raises(ConfigError, match="not a number"):
        StudentSpec.parse("hidden=many")


@pytest.mark.real_weights
def test_pretrained_trunk_learns_from_few_labels():
    """Measured (300 demo rows, 20 training labels, gated, hidden 64), seeds 0-2: scratch
    0.51-0.62, pretrained 0.69-0.80, gain 0.18-0.29; the test asks for 0.10 at seed 0."""
    from mmserve.fusion.artifact import read_manifest
    from mmserve.fusion.pretrain import few_labels, load_unlabeled, pretrain_model
    from mmserve.fusion.train import TrainConfig, default_split, evaluate, train
    from tests import fusion_helpers as helpers

    data = helpers.demo_data().dataset
    unlabeled = load_unlabeled(
        helpers.demo_csv(), helpers.workdir() / "data", encoder_set=helpers.encoder_set()
    )
    tc = TrainConfig(seed=0, **helpers.FAST)
    trunk = pretrain_model(
        unlabeled,
        helpers.workdir() / "trunk-gated",
        strategy="gated",
        options=helpers.HIDDEN,
        train_config=tc,
    )
    assert read_manifest(trunk.artifact).training["kind"] == "pretrained-trunk"
    config, state = transfer_state(trunk.artifact, data)
    split = default_split(data, tc)
    few = few_labels(split, data.targets["label"], 0.1, seed=0)
    test = data.take(split.test)
    scratch = evaluate(train(data, config, tc, split=few).model, test)["label"]["accuracy"]
    tuned = train(data, config, tc, split=few, init_state=state)
    pretrained = evaluate(tuned.model, test)["label"]["accuracy"]
    assert pretrained >= scratch + 0.1, (scratch, pretrained)


@pytest.mark.real_weights
def test_distilled_student_keeps_the_teachers_accuracy_and_is_smaller(tmp_path):
    from mmserve.fusion.distill import DistillConfig
    from mmserve.fusion.distill_pipeline import distill_model
    from mmserve.fusion.pipeline import check_servable
    from mmserve.fusion.train import TrainConfig
    from tests import fusion_helpers as helpers

    teacher = helpers.trained("gated").artifact
    spec = StudentSpec(strategy="early", hidden=16, trunk=16, modalities=("text", "image"))
    outcome = distill_model(
        teacher,
        tmp_path / "student",
        spec,
        helpers.workdir() / "data",
        unlabeled=helpers.demo_csv(),  # the same rows again, labels ignored: teacher targets
        config=DistillConfig(),
        train_config=TrainConfig(**helpers.FAST),
    )
    t, s = outcome.comparison["teacher"], outcome.comparison["student"]
    assert t["modalities"] == ["text", "image", "audio"] and s["modalities"] == ["text", "image"]
    assert s["accuracy"]["label"] >= t["accuracy"]["label"] - 0.1, outcome.comparison
    assert s["parameters"] * 4 <= t["parameters"] and s["int8_bytes"] * 2 <= t["int8_bytes"]
    assert s["per_s_batch1"] > 0 and t["per_s_batch64"] > 0
    summary = check_servable(outcome.artifact)  # registrable like any fusion model
    assert summary["strategy"] == "early" and set(summary["modalities"]) == {"text", "image"}


def test_regression_term_mixes_the_teachers_values_and_the_labels():
    from mmserve.fusion.distill import _regression_term

    student, teacher = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([1.0, 2.0, 3.0])
    labels, rows = torch.tensor([0.0, 0.0, 0.0]), torch.tensor([0, 1, 2])
    labelled, std = torch.tensor([True, True, False]), torch.tensor(2.0)
    # alpha 1: the teacher alone, which the student matches exactly
    assert _regression_term(student, teacher, labels, rows, labelled, std, 1.0).item() == 0
    # alpha 0: the labels alone, on the labelled rows, in standard deviations
    label_mse = ((1 / 2) ** 2 + (2 / 2) ** 2) / 2
    got = _regression_term(student, teacher, labels, rows, labelled, std, 0.0).item()
    assert got == pytest.approx(label_mse)
    half = _regression_term(student, teacher + 2, labels, rows, labelled, std, 0.5).item()
    assert half == pytest.approx(0.5 * 1.0 + 0.5 * label_mse)


def test_a_regression_target_distils(xor_data, trained):
    """The gated test model (classification `xor` + regression `product`) into a smaller
    early student: it keeps most of the teacher's R2 and its outputs are in target units."""
    from mmserve.fusion.distill import distill
    from mmserve.fusion.train import evaluate
    from tests.unit.fusion.helpers import FAST

    spec = StudentSpec(strategy="early", hidden=16, trunk=16)
    result = distill(trained.model, xor_data, spec, train_config=FAST, split=trained.split)
    test = xor_data.take(trained.split.test)
    teacher, student = evaluate(trained.model, test), evaluate(result.model, test)
    assert student["product"]["r2"] >= teacher["product"]["r2"] - 0.15, (teacher, student)
    assert student["product"]["r2"] > 0.3, student  # measured: teacher 0.58, student 0.56
    assert torch.equal(result.model.target_std, trained.model.target_std)
