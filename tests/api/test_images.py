"""/v1/images/ocr and /v1/images/captions with the real efficientnet-lite0 and rapidocr."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest

from mmserve.api.routes.images import compose_caption
from mmserve.app import create_app
from mmserve.config import Config, ModelConfig
from mmserve.models.base import CAPTION_IMAGE, CLASSIFY_IMAGE, OCR, Model
from mmserve.models.registry import register
from tests.unit.media.makers import png_declaring
from tests.vision_models import b64, encoded


def label(name, score):
    return {"label": name, "score": score}


def line(text, confidence=0.99):
    return {"text": text, "confidence": confidence}


@pytest.mark.parametrize(
    ("labels", "lines", "caption"),
    [
        ([label("tabby cat", 0.7), label("lynx", 0.1)], [], "A photo of a tabby cat."),
        (
            [label("Egyptian Mau", 0.4), label("tabby cat", 0.3)],
            [],
            "A photo of an Egyptian Mau or a tabby cat.",
        ),
        (
            [label("street sign", 0.05), label("pole", 0.04)],
            [],
            "A photo that may show a street sign.",
        ),
        (
            [label("street sign", 0.9)],
            [line("STOP"), line("noise", 0.3), line("8"), line("AHEAD")],
            "A photo of a street sign with the text 'STOP AHEAD'.",
        ),
        ([label("handrail / baluster", 0.9)], [], "A photo of a handrail."),
    ],
)
def test_compose_caption(labels, lines, caption):
    assert compose_caption(labels, lines) == caption


def test_compose_caption_cuts_long_text():
    caption = compose_caption([label("book jacket", 0.9)], [line("word " * 40)])
    assert caption.endswith("…'.") and len(caption) < 140


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    models = (
        ModelConfig(id="efficientnet-lite0", workers=1),
        ModelConfig(id="rapidocr", workers=1),
        ModelConfig(id="fake", max_wait_ms=1, workers=1),
    )
    app = create_app(
        Config(data_dir=tmp_path_factory.mktemp("data"), models=models), wait_for_models=True
    )
    yield app.test_client()
    app.extensions["mmserve"].pool.stop()


def error(response):
    body = response.json["error"]
    return response.status_code, body["param"], body["message"]


@pytest.mark.real_weights
def test_caption_of_a_cat_from_an_upload(client):
    data = {"file": (io.BytesIO(encoded("chelsea")), "cat.jpg")}
    response = client.post("/v1/images/captions", data=data, content_type="multipart/form-data")
    assert response.status_code == 200, response.json
    body = response.json
    assert body["method"] == "composed" and body["model"] == "efficientnet-lite0"
    assert "cat" in body["caption"] or "Mau" in body["caption"]
    assert body["caption"].startswith("A photo") and body["caption"].endswith(".")
    assert len(body["labels"]) == 5
    assert body["labels"][0]["score"] >= body["labels"][1]["score"]
    assert body["ocr_model"] == "rapidocr"


@pytest.mark.real_weights
def test_caption_of_coffee_from_json_without_ocr(client):
    body = {"image": "data:image/jpeg;base64," + b64("coffee"), "ocr": False}
    response = client.post("/v1/images/captions", json=body)
    assert response.status_code == 200, response.json
    assert response.json["labels"][0]["label"] in ("espresso", "tea cup", "coffee mug")
    assert response.json["text"] == "" and response.json["ocr_model"] is None


@pytest.mark.real_weights
def test_caption_of_a_page_quotes_its_text(client):
    response = client.post("/v1/images/captions", json={"image": b64("page", "PNG")})
    assert response.status_code == 200, response.json
    assert "with the text 'Region-based segmentation" in response.json["caption"]
    assert "histogram of grey values" in response.json["text"]


@pytest.mark.real_weights
def test_ocr_of_a_page(client):
    response = client.post("/v1/images/ocr", json={"image": b64("page", "PNG")})
    assert response.status_code == 200, response.json
    body = response.json
    assert body["model"] == "rapidocr"
    assert body["text"].split("\n")[0] == "Region-based segmentation"
    assert len(body["lines"]) == len(body["text"].split("\n"))
    assert set(body["lines"][0]) == {"text", "box", "confidence"}


@pytest.mark.real_weights
def test_ocr_upload_with_a_model_form_field(client):
    data = {"file": (io.BytesIO(encoded("page", "PNG")), "page.png"), "model": "rapidocr"}
    response = client.post("/v1/images/ocr", data=data, content_type="multipart/form-data")
    assert response.status_code == 200, response.json
    assert "coins" in response.json["text"]


@pytest.mark.real_weights
@pytest.mark.parametrize("route", ["/v1/images/ocr", "/v1/images/captions"])
def test_no_image_is_400_naming_the_field(client, route):
    status, param, message = error(client.post(route, json={}))
    assert (status, param) == (400, "image")
    assert "'file'" in message


@pytest.mark.real_weights
def test_bad_base64_is_400(client):
    status, param, _ = error(client.post("/v1/images/ocr", json={"image": "%%%not-base64"}))
    assert (status, param) == (400, "image")


@pytest.mark.real_weights
def test_too_many_pixels_is_413(client):
    body = {"image": base64.b64encode(png_declaring(10_000, 10_000)).decode()}
    status, param, message = error(client.post("/v1/images/captions", json=body))
    assert (status, param) == (413, "image")
    assert "pixels" in message


@pytest.mark.real_weights
def test_unsupported_format_upload_is_400_naming_file(client):
    data = {"file": (io.BytesIO(b"just some text, not an image"), "notes.txt")}
    status, param, message = error(
        client.post("/v1/images/ocr", data=data, content_type="multipart/form-data")
    )
    assert (status, param) == (400, "file")
    assert "not a supported image" in message


@pytest.mark.real_weights
def test_model_without_the_capability_names_those_that_can(client):
    body = {"image": b64("chelsea"), "model": "fake"}
    status, param, message = error(client.post("/v1/images/ocr", json=body))
    assert (status, param) == (400, "model") and "rapidocr" in message
    status, param, message = error(client.post("/v1/images/captions", json=body))
    assert (status, param) == (400, "model") and "efficientnet-lite0" in message
    status, _, _ = error(client.post("/v1/images/ocr", json={**body, "model": "nope"}))
    assert status == 404


@pytest.mark.real_weights
def test_routes_are_in_the_openapi_document(client):
    paths = client.get("/openapi.json").json["paths"]
    assert "post" in paths["/v1/images/ocr"] and "post" in paths["/v1/images/captions"]


class SizeCaptioner(Model):
    """A captioning stand-in whose caption is computable by hand: the image's size."""

    capabilities = frozenset({CAPTION_IMAGE})
    modality = "image"

    def load(self):
        pass

    def preprocess(self, item):
        return item.size

    def forward(self, batch):
        return [f"an image {w} pixels wide and {h} high" for w, h in batch]

    def warmup_inputs(self):
        return []


register("test-size-captioner", "captions that state the image size (tests)")(
    lambda model_id, argument: SizeCaptioner(model_id)
)


def test_a_captioning_model_writes_the_caption(make_app):
    app = make_app(ModelConfig(id="cap", source="test-size-captioner", max_wait_ms=1))
    response = app.test_client().post("/v1/images/captions", json={"image": b64("coffee")})
    assert response.status_code == 200, response.json
    body = response.json
    assert body["caption"] == "an image 600 pixels wide and 400 high"
    assert (body["method"], body["model"], body["labels"]) == ("model", "cap", [])


def test_no_model_that_can_caption_says_which_to_start(make_app):
    response = make_app().test_client().post("/v1/images/captions", json={"image": b64("coffee")})
    assert response.status_code == 400
    assert "efficientnet-lite0" in response.json["error"]["message"]


class SmallSizeCaptioner(SizeCaptioner):
    """Resizes to 100 px, so a JPEG may be decoded with its shorter side down to 200."""

    image_min_side = 100


class SizeClassifier(SizeCaptioner):
    """A classifier whose one class is named after the image's size."""

    capabilities = frozenset({CLASSIFY_IMAGE})
    image_min_side = 100
    class_names = ["only"]

    def forward(self, batch):
        self.class_names = [f"{w}x{h} image" for w, h in batch]  # one request at a time
        return [np.ones(1, dtype=np.float32)]


class SizeReader(SizeCaptioner):
    """OCR that reads the image's size."""

    capabilities = frozenset({OCR})

    def forward(self, batch):
        return [[{"text": f"{w}x{h}", "confidence": 0.99, "box": []}] for w, h in batch]


for name, cls in (
    ("test-small-size-captioner", SmallSizeCaptioner),
    ("test-size-classifier", SizeClassifier),
    ("test-size-reader", SizeReader),
):
    register(name, "the image size (tests)")(lambda model_id, argument, cls=cls: cls(model_id))


def test_a_model_that_resizes_gets_the_jpeg_decoded_at_reduced_scale(make_app):
    app = make_app(ModelConfig(id="cap", source="test-small-size-captioner", max_wait_ms=1))
    response = app.test_client().post("/v1/images/captions", json={"image": b64("coffee")})
    # 600x400 at 1/2 scale keeps the shorter side at 200 = 2 x 100.
    assert response.json["caption"] == "an image 300 pixels wide and 200 high"
    png = app.test_client().post("/v1/images/captions", json={"image": b64("coffee", "PNG")})
    assert png.json["caption"] == "an image 600 pixels wide and 400 high"


def test_ocr_reads_the_full_size_image_when_a_classifier_would_take_less(make_app):
    app = make_app(
        ModelConfig(id="classify", source="test-size-classifier", max_wait_ms=1, workers=1),
        ModelConfig(id="read", source="test-size-reader", max_wait_ms=1),
    )
    client = app.test_client()
    alone = client.post("/v1/images/captions", json={"image": b64("coffee"), "ocr": False})
    assert alone.json["labels"][0]["label"] == "300x200 image"
    both = client.post("/v1/images/captions", json={"image": b64("coffee")})
    assert both.json["labels"][0]["label"] == "600x400 image"
    assert both.json["text"] == "600x400"
