"""Jobs over HTTP: the "index" job on folders made in tmp_path, cancel, resume, the registry."""

from __future__ import annotations

import fcntl
import shutil
import socket
import time
import wave

import numpy as np
import pytest
from PIL import Image
from pydantic import BaseModel

from mmserve.config import ModelConfig
from mmserve.errors import InvalidRequest
from mmserve.jobs import JobContext, job_type
from mmserve.jobs.runner import LOADING_POLL_S, LOCK_FILE
from mmserve.store import SearchStore
from tests.search_helpers import close_app, make_search_app, wait_for_job  # noqa: F401

SLOW = ModelConfig(id="fake", source="fake:delay_ms=40", max_wait_ms=0)
FINAL = ("succeeded", "failed", "cancelled")
MULTI = ModelConfig(id="multi", source="test-multimodal")


def make_folder(root, texts=5):
    folder = root / "media" / "notes"
    (folder / "sub").mkdir(parents=True)
    for i in range(texts):
        (folder / f"{i:03}.txt").write_text(f"note number {i}")
    (folder / "sub" / "deep.md").write_text("a nested note")
    (folder / "latin1.txt").write_bytes("café".encode("latin-1"))
    (folder / "empty.txt").write_text("")
    Image.new("RGB", (8, 8), "red").save(folder / "red.png")
    (folder / "data.bin").write_bytes(b"\0\1")
    (folder / ".hidden.txt").write_text("never indexed")
    return folder


def start(client, path="notes", collection="notes", **extra):
    response = client.post(
        "/v1/jobs",
        json={"type": "index", "params": {"path": path, "collection": collection, **extra}},
    )
    assert response.status_code == 202, response.get_json()
    return response.get_json()


def test_index_job_indexes_a_folder_and_reports_what_it_could_not(make_search_app, tmp_path):  # noqa: F811
    make_folder(tmp_path)
    client = make_search_app(media_root=tmp_path / "media").test_client()
    job = start(client)
    assert job["state"] == "queued" and job["progress"] == {"done": 0, "total": None}
    done = wait_for_job(client, job["id"], FINAL)
    assert done["state"] == "succeeded", done
    assert done["progress"] == {"done": 10, "total": 10}
    result = done["result"]
    assert result["indexed"] == 6 and result["unchanged"] == 0 and result["total"] == 10
    assert "not UTF-8" in result["failed"]["latin1.txt"]
    assert "empty" in result["failed"]["empty.txt"]
    assert "cannot embed image" in result["failed"]["red.png"]  # fake embeds text only
    assert "unsupported file type '.bin'" in result["unsupported"]["data.bin"]
    item = client.get("/v1/collections/notes/items/sub/deep.md").get_json()
    assert item["metadata"]["path"] == "sub/deep.md" and item["modality"] == "text"
    assert client.get("/v1/collections/notes").get_json()["item_count"] == 6
    # A text file's text is in the keyword index ("3" is in 003.txt's text, not its name).
    body = {"query": "number 3", "mode": "keyword", "top_k": 1}
    hits = client.post("/v1/collections/notes/search", json=body).get_json()["data"]
    assert [hit["id"] for hit in hits] == ["003.txt"]
    # Again: everything indexed is skipped; only the failed files are tried again.
    again = wait_for_job(client, start(client)["id"], FINAL)
    assert again["result"]["unchanged"] == 7 and again["result"]["indexed"] == 0
    assert set(again["result"]["failed"]) == {"latin1.txt", "empty.txt", "red.png"}
    listed = client.get("/v1/jobs?type=index").get_json()["data"]
    assert [j["id"] for j in listed] == [again["id"], job["id"]]
    assert client.get("/v1/jobs?state=succeeded&limit=1").get_json()["data"][0]["id"] == again["id"]


def test_index_job_refuses_paths_outside_the_media_root(make_search_app, tmp_path):  # noqa: F811
    make_folder(tmp_path)
    (tmp_path / "secret").mkdir()
    (tmp_path / "media" / "link").symlink_to(tmp_path / "secret")
    client = make_search_app(media_root=tmp_path / "media").test_client()
    for path in ("../secret", str(tmp_path / "secret"), "link"):
        refused = client.post(
            "/v1/jobs", json={"type": "index", "params": {"path": path, "collection": "x"}}
        )
        assert refused.status_code == 400, refused.get_json()
        assert refused.get_json()["error"]["param"] == "params.path"
    missing = client.post(
        "/v1/jobs", json={"type": "index", "params": {"path": "nope", "collection": "x"}}
    )
    assert missing.status_code == 404
    assert client.get("/v1/jobs").get_json()["data"] == []


def test_openapi_documents_the_202_a_job_start_answers(make_search_app):  # noqa: F811
    doc = make_search_app().test_client().get("/openapi.json").get_json()
    responses = doc["paths"]["/v1/jobs"]["post"]["responses"]
    assert "202" in responses and "200" not in responses
    assert responses["202"]["description"] == "Accepted"


def test_job_request_errors(make_search_app, tmp_path):  # noqa: F811
    client = make_search_app().test_client()  # no media root configured
    off = client.post(
        "/v1/jobs", json={"type": "index", "params": {"path": "a", "collection": "x"}}
    )
    assert off.status_code == 400 and "media_root" in off.get_json()["error"]["message"]
    unknown = client.post("/v1/jobs", json={"type": "nope"}).get_json()["error"]
    assert unknown["param"] == "type" and "index" in unknown["message"]
    missing = client.post("/v1/jobs", json={"type": "index", "params": {"path": "a"}})
    assert missing.status_code == 422
    assert missing.get_json()["error"]["param"] == "params.collection"
    extra = client.post("/v1/jobs", json={"type": "index", "params": {"path": "a", "x": 1}})
    assert extra.status_code == 422
    assert client.get("/v1/jobs/nope").status_code == 404
    assert client.delete("/v1/jobs/nope").status_code == 404
    assert client.get("/v1/jobs?limit=0").status_code == 400
    assert client.get("/v1/jobs?state=sleeping").status_code == 400


def test_cancel_stops_a_running_job_between_batches(make_search_app, tmp_path):  # noqa: F811
    make_folder(tmp_path, texts=200)
    client = make_search_app(SLOW, media_root=tmp_path / "media").test_client()
    job = start(client)
    wait_for_job(client, job["id"], ("running",))
    cancelling = client.delete(f"/v1/jobs/{job['id']}").get_json()
    assert cancelling["cancel_requested"] is True
    done = wait_for_job(client, job["id"], FINAL)
    assert done["state"] == "cancelled"
    assert 0 < done["progress"]["done"] < done["progress"]["total"] == 205
    # What was committed before the cancel stays, and is skipped by the next run.
    count = client.get("/v1/collections/notes").get_json()["item_count"]
    assert count > 0
    again = wait_for_job(client, start(client)["id"], FINAL)
    assert again["result"]["unchanged"] == count
    # A queued job is cancelled at once; a finished one stays as it was.
    assert client.delete(f"/v1/jobs/{again['id']}").get_json()["state"] == "succeeded"


def test_interrupted_job_resumes_on_restart(make_search_app, tmp_path):  # noqa: F811
    make_folder(tmp_path, texts=200)
    app = make_search_app(SLOW, media_root=tmp_path / "media")
    client = app.test_client()
    job = start(client)
    wait_for_job(client, job["id"], ("running",))
    while client.get(f"/v1/jobs/{job['id']}").get_json()["progress"]["done"] < 16:
        pass
    close_app(app)  # the server stops mid-job: the job is left "interrupted"
    with SearchStore(tmp_path / "data" / "search") as store:
        interrupted = store.jobs.get(job["id"])
    assert interrupted.state == "interrupted" and 0 < interrupted.done < 205
    client = make_search_app(SLOW, media_root=tmp_path / "media").test_client()
    done = wait_for_job(client, job["id"], FINAL)
    assert done["state"] == "succeeded", done
    assert done["result"]["unchanged"] >= 16 and done["result"]["indexed"] < 200
    assert done["result"]["unchanged"] + done["result"]["indexed"] == 201
    assert client.get("/v1/collections/notes").get_json()["item_count"] == 201


def test_job_of_a_dead_process_resumes(make_search_app, tmp_path):  # noqa: F811
    make_folder(tmp_path)
    with SearchStore(tmp_path / "data" / "search") as store:
        job = store.jobs.create("index", {"path": "notes", "collection": "n", "model": None})
        store.jobs.update(job.id, state="running")
        # As if the process running it had been SIGKILLed: its owner pid no longer exists.
        owner = f"{socket.gethostname()}:999999999:0"
        with store.db.write() as conn:
            conn.execute("UPDATE jobs SET owner = ? WHERE id = ?", (owner, job.id))
    client = make_search_app(media_root=tmp_path / "media").test_client()
    assert wait_for_job(client, job.id, FINAL)["state"] == "succeeded"


class StepParams(BaseModel):
    steps: int
    fail: str | None = None


@job_type("test-steps", params=StepParams)
def steps_job(ctx: JobContext, params: StepParams) -> dict:
    """A job type registered by a test, the way another module adds one."""
    for step in range(params.steps):
        ctx.progress(step + 1, params.steps)
    if params.fail == "client":
        raise InvalidRequest("the input was wrong")
    if params.fail == "crash":
        raise RuntimeError("secret detail")
    return {"steps": params.steps, "resumed": ctx.resumed}


@pytest.mark.parametrize(
    ("fail", "state", "error"),
    [
        (None, "succeeded", None),
        ("client", "failed", "the input was wrong"),
        ("crash", "failed", "internal error; the server log has the traceback"),
    ],
)
def test_registered_job_types_run(make_search_app, fail, state, error):  # noqa: F811
    client = make_search_app().test_client()
    created = client.post(
        "/v1/jobs", json={"type": "test-steps", "params": {"steps": 3, "fail": fail}}
    )
    assert created.status_code == 202
    done = wait_for_job(client, created.get_json()["id"], FINAL)
    assert (done["state"], done["error"]) == (state, error)
    assert done["progress"] == {"done": 3, "total": 3}
    if state == "succeeded":
        assert done["result"] == {"steps": 3, "resumed": False}
    bad = client.post("/v1/jobs", json={"type": "test-steps", "params": {"steps": "many"}})
    assert bad.status_code == 422 and bad.get_json()["error"]["param"] == "params.steps"


def test_index_job_embeds_images_and_audio_once_per_content(
    make_search_app,  # noqa: F811
    tmp_path,
):
    folder = tmp_path / "media" / "mixed"
    folder.mkdir(parents=True)
    Image.new("RGB", (16, 16), (255, 0, 0)).save(folder / "red.png")
    Image.new("RGB", (16, 16), (0, 0, 255)).save(folder / "blue.jpg")
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    rate, t = 16_000, np.arange(16_000) / 16_000
    with wave.open(str(folder / "tone.wav"), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes((0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2").tobytes())
    (folder / "note.txt").write_text("hello")
    app = make_search_app(MULTI, media_root=tmp_path / "media")
    client = app.test_client()
    done = wait_for_job(client, start(client, "mixed", "m")["id"], FINAL)
    assert done["result"]["indexed"] == 4, done
    assert "corrupt.png" in done["result"]["failed"]
    model = app.extensions["mmserve"].pool.get("multi").model
    assert sorted(model.seen[1:]) == ["audio", "image", "image", "text"]  # after the warm-up
    red = client.post(
        "/v1/collections/m/search", json={"query": {"vector": [1, 0, 0, 0]}, "top_k": 1}
    ).get_json()["data"][0]
    assert red["id"] == "red.png" and red["modality"] == "image"
    assert red["metadata"]["modality"] == "image"
    loud = client.post(
        "/v1/collections/m/search",
        json={"query": {"vector": [0, 0, 0, 1]}, "top_k": 1, "filter": {"modality": "audio"}},
    ).get_json()["data"][0]
    assert loud["id"] == "tone.wav"
    # The same files under another folder and collection: all from the embedding cache.
    shutil.copytree(folder, tmp_path / "media" / "copy")
    again = wait_for_job(client, start(client, "copy", "m2", model="multi")["id"], FINAL)
    assert again["result"]["indexed"] == 4
    assert len(model.seen) == 5


def test_only_the_process_holding_the_data_dirs_job_lock_runs_jobs(make_search_app):  # noqa: F811
    # Another server on the same data directory holds the lock (as while it runs a job):
    # this one queues the job but leaves it; once the lock is free, it runs it.
    app = make_search_app()
    client = app.test_client()
    lock_path = app.extensions["mmserve"].store.data_dir / LOCK_FILE
    with lock_path.open("a") as other_server:
        fcntl.flock(other_server, fcntl.LOCK_EX)
        job = client.post("/v1/jobs", json={"type": "test-steps", "params": {"steps": 2}})
        time.sleep(3 * LOADING_POLL_S + 0.3)  # the pass the post woke, and some time after
        assert client.get(f"/v1/jobs/{job.get_json()['id']}").get_json()["state"] == "queued"
        fcntl.flock(other_server, fcntl.LOCK_UN)
    client.post("/v1/jobs", json={"type": "test-steps", "params": {"steps": 1}})  # a wake-up
    assert wait_for_job(client, job.get_json()["id"], FINAL)["state"] == "succeeded"
