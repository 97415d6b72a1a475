"""deidentify "faces": images are embedded with their faces blurred (per request, per
collection, in index jobs) and a faces collection's thumbnails are blurred. Real photos
(scikit-image): the astronaut has one face, the cat none."""

from __future__ import annotations

import base64
import io
import sys

import numpy as np
import pytest
from PIL import Image
from skimage import data

from mmserve.config import ModelConfig
from mmserve.models.faces import blur_faces, face_detector
from mmserve.services.content import Content
from mmserve.services.store_embed import content_hash
from tests.search_helpers import make_search_app, wait_for_job  # noqa: F401

MULTI = ModelConfig(id="multi", source="test-multimodal")
FACE, CAT = data.astronaut(), data.chelsea()


def png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def image_item(item_id: str, pixels: np.ndarray) -> dict:
    return {
        "id": item_id,
        "content": {"type": "image", "image": base64.b64encode(png(pixels)).decode()},
    }


def hash_of(pixels: np.ndarray) -> str:
    return content_hash(Content("image", Image.fromarray(pixels)))


def stored_hash(client, collection: str, item_id: str) -> str:
    return client.get(f"/v1/collections/{collection}/items/{item_id}").get_json()["content_hash"]


def detail(pixels: np.ndarray) -> float:
    grey = pixels.astype(np.float64).mean(axis=-1)
    return float(np.abs(np.diff(grey, axis=0)).mean() + np.abs(np.diff(grey, axis=1)).mean())


@pytest.mark.real_weights
def test_items_are_embedded_with_their_faces_blurred(make_search_app):  # noqa: F811
    client = make_search_app(MULTI).test_client()
    for name, kinds in (("open", []), ("private", ["faces"])):
        made = client.post(
            "/v1/collections", json={"name": name, "model": "multi", "deidentify": kinds}
        )
        assert made.status_code == 200, made.get_json()
    assert client.get("/v1/collections/private").get_json()["deidentify"] == ["faces"]
    items = [image_item("face", FACE), image_item("cat", CAT)]

    plain = client.post("/v1/collections/open/items", json={"items": items}).get_json()
    assert "redactions" not in plain
    assert stored_hash(client, "open", "face") == hash_of(FACE)

    blurred = client.post("/v1/collections/private/items", json={"items": items}).get_json()
    assert blurred["redactions"] == {"face": 1}
    expected, _ = blur_faces(Image.fromarray(FACE))
    assert stored_hash(client, "private", "face") == hash_of(np.asarray(expected))
    assert stored_hash(client, "private", "face") != hash_of(FACE)
    assert stored_hash(client, "private", "cat") == hash_of(CAT)  # no face: same pixels

    asked = client.post(  # per request, into the open collection
        "/v1/collections/open/items",
        json={"deidentify": ["faces"], "items": [image_item("face2", FACE)]},
    ).get_json()
    assert asked["redactions"] == {"face": 1}
    assert stored_hash(client, "open", "face2") == stored_hash(client, "private", "face")


@pytest.mark.real_weights
def test_index_jobs_and_thumbnails_of_a_faces_collection_are_blurred(
    make_search_app,  # noqa: F811
    tmp_path,
):
    pics = tmp_path / "media" / "pics"
    pics.mkdir(parents=True)
    (pics / "astronaut.png").write_bytes(png(FACE))
    (pics / "cat.png").write_bytes(png(CAT))
    client = make_search_app(MULTI, media_root=tmp_path / "media").test_client()
    client.post(
        "/v1/collections", json={"name": "private", "model": "multi", "deidentify": "faces"}
    )
    for name in ("open", "private"):
        job = client.post(
            "/v1/jobs", json={"type": "index", "params": {"path": "pics", "collection": name}}
        ).get_json()
        assert wait_for_job(client, job["id"], ("succeeded", "failed"))["state"] == "succeeded"
    jobs = client.get("/v1/jobs?type=index").get_json()["data"]
    assert sorted(j["params"]["deidentify"] for j in jobs) == [[], ["faces"]]
    assert stored_hash(client, "open", "astronaut.png") == hash_of(FACE)
    assert stored_hash(client, "private", "astronaut.png") != hash_of(FACE)
    assert stored_hash(client, "private", "cat.png") == hash_of(CAT)

    def thumbnail(collection: str, item: str) -> Image.Image:
        answer = client.get(f"/v1/collections/{collection}/items/{item}/thumbnail?size=256")
        assert answer.status_code == 200 and answer.mimetype == "image/jpeg"
        return Image.open(io.BytesIO(answer.data)).convert("RGB")

    plain, private = thumbnail("open", "astronaut.png"), thumbnail("private", "astronaut.png")
    boxes = face_detector().find(plain)
    assert boxes
    for box in boxes:
        where = (box.left, box.top, box.right, box.bottom)
        assert detail(np.asarray(private.crop(where))) < detail(np.asarray(plain.crop(where))) / 3
    cat_plain, cat_private = thumbnail("open", "cat.png"), thumbnail("private", "cat.png")
    assert np.array_equal(np.asarray(cat_plain), np.asarray(cat_private))


def test_faces_without_the_detector_is_a_503_naming_the_extra(make_search_app, monkeypatch):  # noqa: F811
    client = make_search_app(MULTI).test_client()
    face_detector.cache_clear()
    for module in [m for m in sys.modules if m.startswith("mediapipe")] + ["mediapipe"]:
        monkeypatch.setitem(sys.modules, module, None)
    try:
        refused = client.post(
            "/v1/collections", json={"name": "p", "model": "multi", "deidentify": ["faces"]}
        )
    finally:
        face_detector.cache_clear()
    assert refused.status_code == 503, refused.get_json()
    error = refused.get_json()["error"]
    assert error["param"] == "deidentify" and "mmserve[faces]" in error["message"]
    assert client.get("/v1/collections").get_json()["data"] == []  # nothing was made
