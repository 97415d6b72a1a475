"""request_image / request_audio read one item from a multipart upload or a JSON field."""

from __future__ import annotations

import base64
import dataclasses
import io

import pytest
from flask import Blueprint, jsonify
from pydantic import BaseModel

from mmserve.api.media_input import (
    request_audio,
    request_image,
    request_media_bytes,
    request_options,
)
from mmserve.media.policy import MediaPolicy
from tests.unit.media.makers import audio_bytes, image_bytes, png_declaring

bp = Blueprint("media_probe", __name__)


class Options(BaseModel):
    model: str | None = None
    top: int = 1
    image: object = None


@bp.post("/probe/image")
def probe_image():
    options = request_options(Options)
    image = request_image()
    return jsonify({"size": list(image.size), "mode": image.mode, "top": options.top})


@bp.post("/probe/audio")
def probe_audio():
    samples = request_audio(sample_rate=8000)
    return jsonify({"samples": len(samples), "dtype": str(samples.dtype)})


@bp.post("/probe/bytes")
def probe_bytes():
    return jsonify({"bytes": len(request_media_bytes("audio", "audio"))})


@pytest.fixture
def client(make_app, tmp_path):
    app = make_app()
    svc = app.extensions["mmserve"]
    config = dataclasses.replace(
        svc.config, media=MediaPolicy(max_image_bytes=4096, max_image_pixels=10_000)
    )
    app.extensions["mmserve"] = dataclasses.replace(svc, config=config)
    app.register_blueprint(bp)
    return app.test_client()


PNG = image_bytes("PNG", size=(32, 24))


def test_multipart_upload_and_form_fields(client):
    data = {"file": (io.BytesIO(PNG), "x.png"), "top": "5"}
    response = client.post("/probe/image", data=data, content_type="multipart/form-data")
    assert response.status_code == 200, response.json
    assert response.json == {"size": [32, 24], "mode": "RGB", "top": 5}


def test_upload_in_a_part_named_after_the_field(client):
    big = PNG + b"\0" * 5000  # over the 4096-byte limit: errors name the part it came in
    for part, param in (("image", "image"), ("file", "file")):
        data = {part: (io.BytesIO(PNG), "x.png")}
        response = client.post("/probe/image", data=data, content_type="multipart/form-data")
        assert response.json["size"] == [32, 24]
        data = {part: (io.BytesIO(big), "big.png")}
        response = client.post("/probe/image", data=data, content_type="multipart/form-data")
        assert (response.status_code, response.json["error"]["param"]) == (413, param)


@pytest.mark.parametrize(
    "value",
    [
        base64.b64encode(PNG).decode(),
        "data:image/png;base64," + base64.b64encode(PNG).decode(),
        {
            "type": "image_url",
            "image_url": {"url": "data:;base64," + base64.b64encode(PNG).decode()},
        },
    ],
)
def test_json_field_in_any_accepted_form(client, value):
    response = client.post("/probe/image", json={"image": value})
    assert response.status_code == 200, response.json
    assert response.json["size"] == [32, 24]


def test_base64_in_a_form_text_field(client):
    data = {"image": base64.b64encode(PNG).decode()}
    response = client.post("/probe/image", data=data, content_type="multipart/form-data")
    assert response.json["size"] == [32, 24]


def error(response):
    return response.status_code, response.json["error"]["param"], response.json["error"]["message"]


def test_no_image_names_the_field_and_both_ways_to_send_one(client):
    status, param, message = error(client.post("/probe/image", json={"model": "x"}))
    assert (status, param) == (400, "image")
    assert "multipart" in message and "'file'" in message


def test_bad_base64_names_the_field(client):
    status, param, _ = error(client.post("/probe/image", json={"image": "not base64!!"}))
    assert (status, param) == (400, "image")


def test_upload_over_the_byte_limit_is_413_naming_file(client):
    big = PNG + b"\0" * 5000  # a valid start, over the 4096-byte limit
    data = {"file": (io.BytesIO(big), "big.png")}
    status, param, message = error(
        client.post("/probe/image", data=data, content_type="multipart/form-data")
    )
    assert (status, param) == (413, "file")
    assert "4,096" in message or "4096" in message


def test_too_many_pixels_is_413(client):
    body = {"image": base64.b64encode(png_declaring(200, 200)).decode()}
    status, param, message = error(client.post("/probe/image", json=body))
    assert (status, param) == (413, "image")
    assert "pixels" in message


def test_unsupported_format_is_400(client):
    body = {"image": base64.b64encode(b"GIF? no, plain text " * 4).decode()}
    status, param, message = error(client.post("/probe/image", json=body))
    assert (status, param) == (400, "image")
    assert "not a supported image" in message


def test_not_json_is_400(client):
    response = client.post("/probe/image", data=b"{oops", content_type="application/json")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_json"


def test_wrong_option_type_is_422_naming_it(client):
    body = {"image": base64.b64encode(PNG).decode(), "top": "many"}
    status, param, _ = error(client.post("/probe/image", json=body))
    assert (status, param) == (422, "top")


def test_audio_upload_is_resampled(client):
    wav = audio_bytes("WAV", seconds=1.0)
    data = {"file": (io.BytesIO(wav), "a.wav")}
    response = client.post("/probe/audio", data=data, content_type="multipart/form-data")
    assert response.status_code == 200, response.json
    assert response.json["dtype"] == "float32"
    assert abs(response.json["samples"] - 8000) <= 1


def test_audio_json_and_bytes_variant(client):
    wav = audio_bytes("WAV", seconds=0.5)
    body = {
        "audio": {
            "type": "input_audio",
            "input_audio": {"data": base64.b64encode(wav).decode(), "format": "wav"},
        }
    }
    assert client.post("/probe/audio", json=body).json["samples"] == pytest.approx(4000, abs=1)
    assert client.post("/probe/bytes", json=body).json == {"bytes": len(wav)}
