"""Face blurring with MediaPipe's BlazeFace (weights inside the mediapipe wheel) on real
photos from scikit-image: Eileen Collins' portrait has one face, the cat and the coffee
cup have none."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from PIL import Image
from skimage import data

from mmserve.errors import ModelNotReady
from mmserve.models import faces
from mmserve.models.faces import Box, blur_faces, face_detector


def detail(pixels: np.ndarray) -> float:
    """Mean absolute difference between neighbouring pixels: high-frequency energy."""
    grey = pixels.astype(np.float64).mean(axis=-1)
    return float(np.abs(np.diff(grey, axis=0)).mean() + np.abs(np.diff(grey, axis=1)).mean())


def region(pixels: np.ndarray, box: Box) -> np.ndarray:
    return pixels[box.top : box.bottom, box.left : box.right]


@pytest.mark.real_weights
def test_the_face_is_blurred_and_nothing_else_changes():
    photo = Image.fromarray(data.astronaut())  # 512 x 512, the face near the top middle
    boxes = face_detector().find(photo)
    assert boxes, "no face found on the astronaut's portrait"
    for box in boxes:  # on her face: centre within the head, upper half of the picture
        assert 150 < (box.left + box.right) / 2 < 300 and (box.top + box.bottom) / 2 < 200
    blurred, count = blur_faces(photo)
    assert count == 1  # both models find the one face: counted once
    before, after = np.asarray(photo), np.asarray(blurred)
    for box in boxes:
        assert detail(region(after, box)) < detail(region(before, box)) / 5
    outside = np.ones(before.shape[:2], dtype=bool)
    for box in boxes:
        outside[box.top : box.bottom, box.left : box.right] = False
    assert np.array_equal(before[outside], after[outside])
    assert np.array_equal(np.asarray(photo), before)  # the original is not modified


@pytest.mark.real_weights
@pytest.mark.parametrize("name", ["chelsea", "coffee"])
def test_a_photo_without_a_face_keeps_every_pixel(name):
    photo = Image.fromarray(getattr(data, name)())
    blurred, count = blur_faces(photo)
    assert count == 0
    assert np.array_equal(np.asarray(blurred), np.asarray(photo))


def test_a_missing_detector_is_a_503_naming_what_to_install(monkeypatch):
    face_detector.cache_clear()
    for module in [m for m in sys.modules if m.startswith("mediapipe")] + ["mediapipe"]:
        monkeypatch.setitem(sys.modules, module, None)  # importing it now raises ImportError
    try:
        with pytest.raises(ModelNotReady) as caught:
            face_detector()
    finally:
        face_detector.cache_clear()  # the next test loads the real one
    assert caught.value.status == 503 and caught.value.param == "deidentify"
    assert "mmserve[faces]" in caught.value.message
    assert "--no-deps mediapipe==0.10.14" in caught.value.message


def test_boxes_grow_by_the_margin_and_stay_inside_the_image():
    # a face half off the top-right corner: 0.5 wide, grown by 0.125 each way
    box = faces._pixels(0.75, -0.25, 0.5, 0.5, width=100, height=50)
    assert box == Box(left=62, top=0, right=100, bottom=19)  # 62.5 floored, 18.75 ceiled
