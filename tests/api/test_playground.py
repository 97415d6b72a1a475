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


def test_a_jobs_html_report_is_served_from_inside_the_data_dir(make_search_app, tmp_path):  # noqa: F811
    app = make_search_app()
    services = app.extensions["mmserve"]
    services.jobs.stop()  # the jobs below are written by hand, not run
    report = tmp_path / "data" / "runs" / "r1" / "report.html"
    report.parent.mkdir(parents=True)
    report.write_text("<h1>fusion report</h1>")
    outside = tmp_path / "elsewhere.html"
    outside.write_text("secret")
    ids = {}
    for name, path in (("inside", str(report)), ("relative", "runs/r1/report.html"),
                       ("outside", str(outside)), ("none", None)):  # fmt: skip
        job = services.store.jobs.create("fusion-train", {})
        services.store.jobs.update(job.id, state="running")
        result = {"report": path} if path else {"artifact": "x"}
        services.store.jobs.update(job.id, state="succeeded", result=result)
        ids[name] = job.id
    client = app.test_client()
    for name in ("inside", "relative"):
        status, mimetype, body = fetch(client, f"/v1/jobs/{ids[name]}/report")
        assert (status, mimetype, body) == (200, "text/html", b"<h1>fusion report</h1>")
    for name in ("outside", "none"):
        response = client.get(f"/v1/jobs/{ids[name]}/report")
        assert (
            response.status_code == 404 and "no report" in response.get_json()["error"]["message"]
        )
