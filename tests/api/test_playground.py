"""The playground's page and assets, and the thumbnails its search results show."""

from __future__ import annotations

import io

from PIL import Image

from mmserve.config import ModelConfig
from tests.search_helpers import make_search_app, wait_for_job  # noqa: F401

MULTI = ModelConfig(id="multi", source="test-multimodal")


def fetch(client, path):
    """(status, mimetype, body) of a GET, the response closed (files are streamed)."""
    response = client.get(path)
    try:
        return response.status_code, response.mimetype, response.get_data()
    finally:
        response.close()


def test_the_root_leads_to_the_page_and_its_assets_are_served(make_search_app):  # noqa: F811
    client = make_search_app().test_client()
    root = client.get("/")
    assert root.status_code == 302 and root.headers["Location"].endswith("/playground/")
    status, _, page = fetch(client, "/playground/")
    assert status == 200 and b"mmserve playground" in page
    for asset, kind in (("playground.js", "javascript"), ("playground.css", "css")):
        status, mimetype, body = fetch(client, f"/playground/{asset}")
        assert status == 200 and kind in mimetype
        assert b"https://" not in body and b"cdn" not in body  # nothing from the network
    assert fetch(client, "/playground/../app.py")[0] == 404


def test_thumbnails_are_bounded_jpegs_of_indexed_images(make_search_app, tmp_path):  # noqa: F811
    pics = tmp_path / "media" / "pics"
    pics.mkdir(parents=True)
    Image.new("RGB", (800, 400), "red").save(pics / "wide.png")
    (pics / "note.txt").write_text("a note")
    client = make_search_app(MULTI, media_root=tmp_path / "media").test_client()
    job = client.post(
        "/v1/jobs", json={"type": "index", "params": {"path": "pics", "collection": "pics"}}
    ).get_json()
    assert wait_for_job(client, job["id"], ("succeeded", "failed"))["state"] == "succeeded"

    small = client.get("/v1/collections/pics/items/wide.png/thumbnail?size=64")
    assert small.status_code == 200 and small.mimetype == "image/jpeg"
    assert Image.open(io.BytesIO(small.data)).size == (64, 32)
    default = Image.open(
        io.BytesIO(client.get("/v1/collections/pics/items/wide.png/thumbnail").data)
    )
    assert default.size == (128, 64)

    too_big = client.get("/v1/collections/pics/items/wide.png/thumbnail?size=5000")
    assert too_big.status_code == 400 and too_big.get_json()["error"]["param"] == "size"
    text = client.get("/v1/collections/pics/items/note.txt/thumbnail")
    assert text.status_code == 404 and "no image file" in text.get_json()["error"]["message"]
    missing = client.get("/v1/collections/pics/items/nope.png/thumbnail")
    assert missing.status_code == 404
