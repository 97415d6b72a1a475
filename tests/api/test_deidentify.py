"""De-identification: image metadata never reaches the data directory; deidentify=["text"]
redacts personal data from OCR text, transcripts and stored items, saying what by type.
("faces": test_deidentify_faces.py.)"""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

from mmserve.config import ModelConfig
from mmserve.models.base import OCR, TRANSCRIBE, Model, Waveform
from mmserve.models.registry import register
from tests import search_helpers  # noqa: F401  (registers test-multimodal)
from tests.unit.services.test_content import WAV_B64

SAID = "write to jane.doe@mail.example or call +44 20 7946 0958"
MARKER = "SECRET-CAMERA-MAKER"


class SaysPii(Model):
    """OCR and transcription that always read SAID."""

    capabilities = frozenset({OCR, TRANSCRIBE})
    modality = "image"

    def load(self):
        pass

    def preprocess(self, item):
        return item

    def forward(self, batch):
        return [self._read(item) for item in batch]

    def _read(self, item):
        if isinstance(item, Waveform):
            segment = {"id": 0, "start": 0.0, "end": item.seconds, "text": SAID}
            return {"text": SAID, "segments": [segment], "duration": item.seconds}
        box = [[0, 0], [10, 0], [10, 5], [0, 5]]
        return [{"text": SAID, "box": box, "confidence": 0.99}]

    def warmup_inputs(self):
        return []


register("test-says-pii", "OCR and transcripts with an e-mail and a phone number (tests)")(
    lambda model_id, argument: SaysPii(model_id)
)


def jpeg_with_gps() -> bytes:
    image = Image.fromarray(np.full((16, 16, 3), 200, dtype=np.uint8))
    exif = Image.Exif()
    exif[0x010F] = MARKER  # Make
    exif[0x927C] = MARKER.encode()  # MakerNote
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (51.0, 30.0, 12.0), 3: "W", 4: (0.0, 7.0, 39.0)})
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, xmp=f"<x:xmpmeta>{MARKER}</x:xmpmeta>".encode())
    data = out.getvalue()
    assert MARKER.encode() in data  # the test image does carry the metadata
    return data


def test_image_metadata_never_reaches_the_data_directory(make_app, tmp_path):
    app = make_app(ModelConfig(id="mm", source="test-multimodal"))
    client = app.test_client()
    assert client.post("/v1/collections", json={"name": "photos", "model": "mm"}).status_code in (
        200,
        201,
    )
    photo = base64.b64encode(jpeg_with_gps()).decode()
    added = client.post(
        "/v1/collections/photos/items",
        json={"items": [{"id": "p1", "content": {"type": "image", "image": photo}}]},
    )
    assert added.status_code == 200, added.get_json()
    stored = b"".join(
        path.read_bytes() for path in (tmp_path / "data").rglob("*") if path.is_file()
    )
    assert stored  # the collection was written
    assert MARKER.encode() not in stored and photo[:200].encode() not in stored
    item = client.get("/v1/collections/photos/items/p1").get_data(as_text=True)
    assert MARKER not in item


def test_ocr_text_is_redacted_and_counted(make_app):
    client = make_app(ModelConfig(id="pii", source="test-says-pii")).test_client()
    photo = base64.b64encode(jpeg_with_gps()).decode()
    plain = client.post("/v1/images/ocr", json={"image": photo}).get_json()
    assert plain["text"] == SAID and "redactions" not in plain
    body = client.post("/v1/images/ocr", json={"image": photo, "deidentify": ["text"]}).get_json()
    assert body["text"] == "write to [EMAIL] or call [PHONE]"
    assert body["lines"][0]["text"] == body["text"]
    assert body["redactions"] == {"email": 1, "phone": 1}


def test_transcripts_are_redacted_in_json_and_text_formats(make_app):
    client = make_app(ModelConfig(id="pii", source="test-says-pii")).test_client()
    wav = base64.b64decode(WAV_B64)
    answer = client.post(
        "/v1/audio/transcriptions",
        data={"file": (io.BytesIO(wav), "a.wav"), "deidentify": "text"},
    ).get_json()
    assert answer == {
        "text": "write to [EMAIL] or call [PHONE]",
        "redactions": {"email": 1, "phone": 1},
    }
    srt = client.post(
        "/v1/audio/transcriptions",
        data={"file": (io.BytesIO(wav), "a.wav"), "deidentify": "text", "response_format": "srt"},
    )
    assert "[EMAIL]" in srt.get_data(as_text=True) and "jane" not in srt.get_data(as_text=True)
    assert srt.headers["X-Redactions"] == "email=1,phone=1"
    words = client.post(
        "/v1/audio/transcriptions",
        data={
            "file": (io.BytesIO(wav), "a.wav"),
            "deidentify": "text",
            "response_format": "verbose_json",
            "timestamp_granularities[]": "word",
        },
    )
    assert words.status_code == 400 and words.get_json()["error"]["param"] == "deidentify"


def test_stored_items_are_redacted_before_embedding(make_app, tmp_path):
    client = make_app().test_client()
    client.post("/v1/collections", json={"name": "notes", "model": "fake"})
    added = client.post(
        "/v1/collections/notes/items",
        json={
            "deidentify": ["text"],
            "items": [
                {
                    "id": "n1",
                    "content": "card 4111 1111 1111 1111 from 10.0.0.7",
                    "metadata": {"author": "x@y.example", "n": 3},
                }
            ],
        },
    )
    assert added.status_code == 200, added.get_json()
    assert added.get_json()["redactions"] == {"email": 1, "card": 1, "ip_address": 1}
    item = client.get("/v1/collections/notes/items/n1").get_json()
    assert item["metadata"] == {"author": "[EMAIL]", "n": 3}
    stored = b"".join(p.read_bytes() for p in (tmp_path / "data").rglob("*") if p.is_file())
    assert b"[EMAIL]" in stored and b"x@y.example" not in stored


def test_faces_is_refused_where_no_image_is_kept(make_app):
    client = make_app(ModelConfig(id="pii", source="test-says-pii")).test_client()
    photo = base64.b64encode(jpeg_with_gps()).decode()
    refused = client.post("/v1/images/ocr", json={"image": photo, "deidentify": ["faces"]})
    assert refused.status_code == 400 and refused.get_json()["error"]["param"] == "deidentify"
    assert "keeps and returns no image" in refused.get_json()["error"]["message"]


def test_a_collection_can_redact_every_write(make_app, tmp_path):
    client = make_app().test_client()
    made = client.post(
        "/v1/collections", json={"name": "calls", "model": "fake", "deidentify": ["text"]}
    )
    assert made.status_code == 200 and made.get_json()["deidentify"] == ["text"]
    added = client.post(
        "/v1/collections/calls/items",
        json={"items": [{"id": "c1", "content": "ring 555 010 0173", "metadata": {"ip": "::1"}}]},
    )
    assert added.get_json()["redactions"] == {"phone": 1, "ip_address": 1}
    assert client.get("/v1/collections/calls/items/c1").get_json()["metadata"] == {
        "ip": "[IP_ADDRESS]"
    }
    listed = client.get("/v1/collections").get_json()["data"]
    assert [c.get("deidentify") for c in listed] == [["text"]]
