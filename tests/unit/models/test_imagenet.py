import numpy as np
import pytest
from PIL import Image

from mmserve.models.base import CLASSIFY_IMAGE
from mmserve.models.imagenet import (
    CROP,
    MEAN,
    STD,
    EfficientNetLite0,
    imagenet_class_names,
    preprocess_image,
    softmax,
)
from tests.vision_models import loaded, photo


def test_preprocess_crops_the_centre_and_normalises():
    # A 512x256 image: left half black, right half white; the centre crop straddles both.
    image = Image.new("RGB", (512, 256), (0, 0, 0))
    image.paste((255, 255, 255), (256, 0, 512, 256))
    pixels = preprocess_image(image)
    assert pixels.shape == (3, CROP, CROP) and pixels.dtype == np.float32
    np.testing.assert_allclose(pixels[:, 0, 0], (0 - MEAN) / STD, atol=1e-5)
    np.testing.assert_allclose(pixels[:, 0, -1], (1 - MEAN) / STD, atol=1e-5)


def test_small_images_are_scaled_up_to_the_crop():
    assert preprocess_image(Image.new("RGB", (10, 30))).shape == (3, CROP, CROP)


def test_softmax_is_stable_and_sums_to_one():
    probs = softmax(np.array([[1000.0, 1000.0, -1000.0]]))
    np.testing.assert_allclose(probs, [[0.5, 0.5, 0.0]], atol=1e-6)


def test_class_names_are_1000_distinct_readable_names():
    names = imagenet_class_names()
    assert len(names) == len(set(names)) == 1000
    assert names[281] == "tabby cat" and names[282] == "tiger cat"


def test_export_is_cached_and_keyed_by_version(tmp_path):
    model = EfficientNetLite0("e", cache_dir=tmp_path)
    assert model.onnx_path.parent == tmp_path
    assert "0.1.0" in model.onnx_path.name


@pytest.fixture(scope="module")
def model():
    return loaded("efficientnet-lite0")


def top(model, name, k=5):
    probs = model.postprocess(model.forward([model.preprocess(photo(name))])[0])
    assert probs.shape == (1000,) and abs(float(probs.sum()) - 1) < 1e-4
    return [model.class_names[i] for i in np.argsort(-probs)[:k]]


@pytest.mark.real_weights
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("chelsea", {"tabby cat", "tiger cat", "Egyptian Mau"}),
        ("coffee", {"espresso", "tea cup", "coffee mug"}),
        ("rocket", {"missile", "projectile", "space shuttle"}),
        ("motorcycle", {"moped", "motor scooter", "crash helmet", "disc brake"}),
    ],
)
def test_real_photos_get_their_class(model, name, expected):
    assert CLASSIFY_IMAGE in model.capabilities
    assert top(model, name, k=1)[0] in expected
    assert len(expected & set(top(model, name, k=5))) >= 2


@pytest.mark.real_weights
def test_batched_equals_one_by_one(model):
    items = [model.preprocess(photo(n)) for n in ("chelsea", "coffee", "astronaut")]
    together = np.stack(model.forward(items))
    alone = np.stack([model.forward([item])[0] for item in items])
    np.testing.assert_allclose(together, alone, atol=1e-4)


@pytest.mark.real_weights
def test_features_are_pooled_penultimate_activations(model):
    images = [photo("chelsea"), photo("coffee"), photo("chelsea")]
    features = model.features(images)
    assert features.shape == (3, 1280) and features.dtype == np.float32
    np.testing.assert_allclose(features[0], features[2], atol=1e-5)
    # ReLU6 then a mean: every feature lies in [0, 6].
    assert features.min() >= 0 and features.max() <= 6
    # A cat is nearer a cat than a cup.
    cos = features @ features.T / np.outer(*(2 * [np.linalg.norm(features, axis=1)]))
    assert cos[0, 2] > cos[0, 1]
    assert model.features([]).shape == (0, 1280)
