"""`mmserve index --ray` on a real local Ray cluster: the same collection as the local path
(ids, vectors, hashes, metadata, report), and an interrupted run resumes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmserve.batching.pool import ModelPool
from mmserve.config import Config, ModelConfig, load_config
from mmserve.jobs.folder import FolderIndexer, FolderReport
from mmserve.jobs.index import ensure_collection
from mmserve.metrics import Metrics
from mmserve.services.state import SEARCH_FOLDER as STORE_FOLDER
from mmserve.store import SearchStore
from tests.audio_models import SENTENCES, speech_wav
from tests.e2e.test_serve import mmserve_command

pytest.importorskip("ray")

pytestmark = [pytest.mark.ray, pytest.mark.real_weights]

IMAGES = 200
CLIPS = 20
COLLECTION = "media"
RAY_CONFIG = """
[ray]
num_cpus = 0.5
data_concurrency = 2
data_batch_size = 16
"""


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    """Generated images and espeak-ng clips, two texts, one broken and one unsupported file."""
    root = tmp_path_factory.mktemp("media")
    rng = np.random.default_rng(3)
    (root / "photos").mkdir()
    for i in range(IMAGES):
        size = (int(rng.integers(24, 96)), int(rng.integers(24, 96)), 3)
        pixels = rng.integers(0, 255, size, dtype=np.uint8)
        Image.fromarray(pixels).save(root / "photos" / f"img{i:04d}.png")
    (root / "speech").mkdir()
    for i in range(CLIPS):
        words = f"{SENTENCES[i % len(SENTENCES)]} Take {i}."
        (root / "speech" / f"clip{i:03d}.wav").write_bytes(speech_wav(words))
    (root / "notes.txt").write_text("a list of trains, rivers and cats")
    (root / "readme.md").write_text("# photos and speech")
    (root / "photos" / "broken.png").write_bytes(b"not a png at all")
    (root / "data.bin").write_bytes(b"\x00\x01")
    return root


def collection_items(data_dir: Path) -> dict[str, tuple]:
    with SearchStore(data_dir / STORE_FOLDER) as store:
        found, cursor = {}, None
        while True:
            page = store.list_items(COLLECTION, limit=500, cursor=cursor)
            for item in page.items:
                found[item.id] = (item.vector, item.content_hash, item.modality, item.metadata)
            cursor = page.next_cursor
            if cursor is None:
                return found


def assert_same_collection(got: dict[str, tuple], want: dict[str, tuple]) -> None:
    assert sorted(got) == sorted(want)
    for item_id, (vector, *rest) in got.items():
        np.testing.assert_allclose(vector, want[item_id][0], atol=1e-5, err_msg=item_id)
        assert rest == list(want[item_id][1:]), item_id


@pytest.fixture(scope="module")
def local(media, tmp_path_factory) -> tuple[dict[str, tuple], FolderReport]:
    """The folder indexed the local way (FolderIndexer, an in-process pool)."""
    data_dir = tmp_path_factory.mktemp("local")
    config = Config(data_dir=data_dir, models=(ModelConfig(id="bridge"),))
    pool = ModelPool.from_config(config, Metrics())
    pool.start(wait=True)
    try:
        with SearchStore(data_dir / STORE_FOLDER) as store:
            ensure_collection(store, pool, COLLECTION, "bridge")
            report = FolderIndexer(store, pool, COLLECTION, media).run()
    finally:
        pool.stop()
    return collection_items(data_dir), report


def test_cli_index_with_ray_data_gives_the_local_collection(ray_cluster, media, local, tmp_path):
    config = tmp_path / "mmserve.toml"
    config.write_text(RAY_CONFIG)
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MMSERVE_")}
    command = [
        *mmserve_command(),
        *("index", str(media), "--collection", COLLECTION, "--model", "bridge"),
        *("--ray", ray_cluster, "--config", str(config), "--data-dir", str(data_dir)),
    ]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    items, report = local
    total = IMAGES + CLIPS + 4  # two texts, a broken image, an unsupported file
    assert f"{report.indexed} indexed, 0 already indexed, 1 failed, 1 unsupported" in done.stdout
    assert f"({total} files)" in done.stdout
    assert "failed: photos/broken.png" in done.stdout  # the same unreadable-file report
    assert "skipped: data.bin: unsupported file type '.bin'" in done.stdout
    assert_same_collection(collection_items(data_dir), items)


class Interrupted(Exception):
    pass


# Ray Data 2.60 reads its own deprecated DataContext fields when it ships the context to tasks.
@pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")
def test_interrupted_ray_run_resumes(ray_cluster, media, local, tmp_path):
    from mmserve.jobs.ray_folder import RayFolderIndexer

    config = tmp_path / "mmserve.toml"
    config.write_text(RAY_CONFIG)
    overrides = {"data_dir": tmp_path / "data", "models": "bridge", "ray": ray_cluster}
    settings = load_config(config, env={}, overrides=overrides)
    pool = ModelPool.from_config(settings, Metrics())  # for the new collection's dimensions
    pool.start(wait=True)
    store = SearchStore(settings.data_dir / STORE_FOLDER)
    try:
        ensure_collection(store, pool, COLLECTION, "bridge")

        def stop_after_two_commits(report: FolderReport) -> None:
            if report.indexed >= 32:
                raise Interrupted  # as a cancelled job's progress callback does

        indexer = RayFolderIndexer(store, pool, COLLECTION, media, config=settings)
        with pytest.raises(Interrupted):
            indexer.run(stop_after_two_commits)
        committed = len(collection_items(settings.data_dir))
        assert 32 <= committed < IMAGES

        again = indexer.run()
    finally:
        store.close()
        pool.stop()
    items, report = local
    assert again.unchanged == committed + 1  # the unsupported file was recorded "skipped"
    assert again.indexed == report.indexed - committed
    assert list(again.failed) == ["photos/broken.png"]
    assert_same_collection(collection_items(settings.data_dir), items)


@pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")
def test_index_job_on_a_ray_backed_server(ray_cluster, media, local, tmp_path):
    """POST /v1/jobs {"type": "index"} on a server whose models run on Ray: Ray Data encodes,
    the server writes, and the collection is the local one."""
    from ray import serve

    from mmserve.app import create_app
    from tests.search_helpers import close_app, wait_for_job, with_media_root

    config = tmp_path / "mmserve.toml"
    # bridge's replica (0.5 CPU) and one encoder actor (0.5 CPU) fit the two 1-CPU nodes
    config.write_text(RAY_CONFIG.replace("data_concurrency = 2", "data_concurrency = 1"))
    overrides = {"data_dir": tmp_path / "data", "models": "bridge", "ray": ray_cluster}
    settings = with_media_root(load_config(config, env={}, overrides=overrides), media.parent)
    app = create_app(settings, wait_for_models=True)
    try:
        client = app.test_client()
        assert client.get("/readyz").get_json()["models"]["bridge"]["ray"]["replicas"] == 1
        params = {"path": media.name, "collection": COLLECTION, "model": "bridge"}
        job = client.post("/v1/jobs", json={"type": "index", "params": params}).get_json()
        done = wait_for_job(client, job["id"], ("succeeded", "failed"), timeout_s=300)
        assert done["state"] == "succeeded", done
        items, report = local
        assert done["result"]["indexed"] == report.indexed
        assert list(done["result"]["failed"]) == ["photos/broken.png"]
    finally:
        close_app(app)
        serve.shutdown()
    assert_same_collection(collection_items(settings.data_dir), items)
