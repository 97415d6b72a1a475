import numpy as np
import pytest
import torch

from mmserve.errors import ConfigError
from mmserve.fusion.batch import FeatureBatch
from mmserve.fusion.data import FeatureDataset, Split, TargetSpec, make_split
from mmserve.fusion.features import ModalitySpec, arrays, check_features, collate
from mmserve.fusion.synthetic import make_xor_dataset

SPECS = {"text": ModalitySpec(dim=3, max_tokens=4), "image": ModalitySpec(dim=2)}


def test_collate_pads_tokens_and_marks_missing_modalities():
    rows = [
        {"text": np.ones((2, 3)), "image": np.full(2, 5.0)},  # a pooled image: one token
        {"text": np.ones((3, 3))},  # no image
        {"text": None, "image": np.zeros((1, 2))},
    ]
    batch = collate(rows, SPECS)
    text, image = batch["text"], batch["image"]
    assert text.tokens.shape == (3, 3, 3)  # padded to the longest in the batch
    assert text.lengths.tolist() == [2, 3, 0] and text.present.tolist() == [True, True, False]
    assert image.tokens.shape == (3, 1, 2) and image.present.tolist() == [True, False, True]
    assert image.tokens[0, 0].tolist() == [5.0, 5.0]


def test_collate_names_the_modality_with_a_wrong_shape():
    with pytest.raises(ValueError, match=r"text features must be \(1..4, 3\)"):
        collate([{"text": np.ones((5, 3))}], SPECS)


def test_check_features_says_what_the_model_expects():
    with pytest.raises(ValueError, match="features lack modality image"):
        check_features({"text": arrays(np.ones((2, 3)))}, SPECS)
    bad = {"text": arrays(np.ones((2, 3))), "image": arrays(np.ones((2, 7)))}
    with pytest.raises(ValueError, match=r"expects \(batch, <= 1, 2\)"):
        check_features(bad, SPECS)


def test_feature_batch_masks_absent_rows_and_padding():
    batch = FeatureBatch.from_arrays(
        collate([{"text": np.ones((2, 3))}, {"text": np.ones((1, 3)) * 4}, {}], SPECS)
    )
    assert batch.mask("text").tolist() == [
        [True, True],
        [True, False],
        [False, False],
    ]
    assert batch.pooled("text")[:, 0].tolist() == [1.0, 4.0, 0.0]
    batch.tokens["text"][2] = torch.nan  # junk in an absent slot never escapes masked()
    assert torch.isfinite(batch.masked("text")).all()


def test_target_spec_checks():
    with pytest.raises(ConfigError, match="at least two classes"):
        TargetSpec(name="y", classes=("only",))
    with pytest.raises(ConfigError, match="classification or regression"):
        TargetSpec(name="y", kind="ranking")


def test_split_is_seeded_disjoint_complete_and_stratified():
    labels = np.r_[np.zeros(90, int), np.ones(10, int)]  # a rare class
    a = make_split(100, val_fraction=0.2, test_fraction=0.2, seed=1, stratify=labels)
    b = make_split(100, val_fraction=0.2, test_fraction=0.2, seed=1, stratify=labels)
    assert a.to_dict() == b.to_dict()
    everything = np.sort(np.concatenate([a.train, a.val, a.test]))
    assert everything.tolist() == list(range(100))
    assert labels[a.val].sum() == 2 and labels[a.test].sum() == 2  # 20% of the rare class
    assert Split.from_dict(a.to_dict()).to_dict() == a.to_dict()
    with pytest.raises(ConfigError, match="too few"):
        make_split(2, val_fraction=0.2, test_fraction=0.2, seed=0)


def test_dataset_file_round_trip_and_select(tmp_path):
    data = make_xor_dataset(50, missing=0.2, seed=3)
    data.save(tmp_path / "features.npz")
    loaded = FeatureDataset.load(tmp_path / "features.npz")
    assert loaded.specs == data.specs and loaded.target_specs == data.target_specs
    for m in data.specs:
        assert np.array_equal(loaded.features[m].tokens, data.features[m].tokens)
        assert np.array_equal(loaded.features[m].lengths, data.features[m].lengths)
    assert np.array_equal(loaded.targets["xor"], data.targets["xor"])
    only_text = data.select(["text"])
    assert list(only_text.specs) == ["text"] and len(only_text) == 50
    with pytest.raises(ValueError, match="unknown modality"):
        data.select(["smell"])


def test_synthetic_data_is_balanced_with_junk_where_nothing_is():
    data = make_xor_dataset(400, missing=0.3, seed=0)
    text = data.features["text"]
    assert 0.6 < text.present.mean() < 0.8
    assert np.abs(text.tokens[~text.present]).max() > 5  # so an unmasked slot shows
    assert 0.4 < (data.targets["xor"] == 0).mean() < 0.6
    assert data.specs["text"].max_tokens == 4 and data.specs["image"].max_tokens == 1
