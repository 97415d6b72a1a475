import pytest
from PIL import Image, ImageDraw, ImageFont

from mmserve.models.base import OCR
from mmserve.models.ocr import reading_order
from tests.vision_models import loaded, photo


def line(text, x, y, w=50, h=10):
    return {"text": text, "box": [[x, y], [x + w, y], [x + w, y + h], [x, y + h]]}


def test_reading_order_is_rows_then_left_to_right():
    shuffled = [line("d", 60, 31), line("b", 60, 2), line("c", 0, 30), line("a", 0, 0)]
    assert [item["text"] for item in reading_order(shuffled)] == ["a", "b", "c", "d"]


def test_reading_order_of_nothing():
    assert reading_order([]) == []


@pytest.fixture(scope="module")
def model():
    return loaded("rapidocr")


def read(model, image):
    return model.postprocess(model.forward([model.preprocess(image)])[0])


@pytest.mark.real_weights
def test_reads_the_printed_page_in_order(model):
    assert OCR in model.capabilities
    lines = read(model, photo("page"))
    texts = [item["text"] for item in lines]
    assert texts[0] == "Region-based segmentation"
    assert "histogram of grey values:" in texts
    assert texts.index("Region-based segmentation") < texts.index("histogram of grey values:")
    for item in lines:
        assert len(item["box"]) == 4 and all(len(p) == 2 for p in item["box"])
        assert 0 < item["confidence"] <= 1


@pytest.mark.real_weights
def test_reads_drawn_text_and_finds_none_on_a_blank_image(model):
    image = Image.new("RGB", (400, 80), "white")
    font = ImageFont.load_default(size=36)
    ImageDraw.Draw(image).text((12, 18), "HELLO 2026", fill="black", font=font)
    # Two boxes on one line (the detector splits at the wide gap), left one first.
    assert "".join(item["text"] for item in read(model, image)).replace(" ", "") == "HELLO2026"
    assert read(model, Image.new("RGB", (200, 100), "white")) == []
