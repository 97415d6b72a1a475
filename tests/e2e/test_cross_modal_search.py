"""Cross-modal search with real inputs through the `bridge` model: photos, spoken clips and
sentences indexed by the "index" job, each found by a query in another modality.

Real photos come from scikit-image, speech from espeak-ng; the tone and the noise are made
here. The bridge model puts images and audio into its text encoder's space (shared/MODELS.md),
so a sentence finds a photo, and a photo finds a sentence.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import wave

import numpy as np
import pytest

from mmserve.app import create_app
from mmserve.config import Config, ModelConfig
from mmserve.errors import ConfigError
from mmserve.models.registry import create_model
from tests.search_helpers import close_app, wait_for_job, with_media_root

pytestmark = [pytest.mark.e2e, pytest.mark.real_weights]

PHOTOS = {"cat": "chelsea", "coffee": "coffee", "rocket": "rocket"}  # skimage.data names
SENTENCES = {
    "cat": "a cat lying on a blanket",
    "coffee": "a cup of coffee on a saucer",
    "rocket": "a rocket on its launch pad",
    "speech": "someone is speaking",
    "beep": "a high-pitched electronic beep",
    "noise": "white noise",
}
TEXT_QUERIES = {  # query -> the item it must find first among that modality
    "a photo of a cat": "images/cat.png",
    "a cup of espresso": "images/coffee.png",
    "a space rocket": "images/rocket.png",
    "a person talking": "audio/speech.wav",
    "a beep": "audio/beep.wav",
    "a hiss of noise": "audio/noise.wav",
}


def bridge_or_skip() -> None:
    try:
        create_model("bridge", "bridge")
    except ConfigError:
        pytest.skip("the `bridge` model is not registered in this build yet")


def write_wav(path, samples: np.ndarray, rate: int = 16_000) -> None:
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())


def make_media(root) -> None:
    data = pytest.importorskip("skimage.data", reason="scikit-image provides the real photos")
    from PIL import Image

    espeak = shutil.which("espeak-ng")
    if espeak is None:
        pytest.skip("espeak-ng speaks the test sentence; `make test` installs it")
    for folder in ("images", "audio", "texts"):
        (root / folder).mkdir(parents=True)
    for name, photo in PHOTOS.items():
        Image.fromarray(getattr(data, photo)()).convert("RGB").save(root / "images" / f"{name}.png")
    subprocess.run(
        [espeak, "-w", str(root / "audio" / "speech.wav"), "Good morning, how are you today?"],
        check=True,
    )
    t = np.arange(32_000) / 16_000  # 2 s
    write_wav(root / "audio" / "beep.wav", 0.5 * np.sin(2 * np.pi * 1000 * t))
    write_wav(root / "audio" / "noise.wav", np.random.default_rng(0).normal(0, 0.3, t.size))
    for name, sentence in SENTENCES.items():
        (root / "texts" / f"{name}.txt").write_text(sentence)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    bridge_or_skip()
    root = tmp_path_factory.mktemp("cross-modal") / "media"
    make_media(root)
    return root


@pytest.fixture(scope="module")
def client(media):
    config = Config(data_dir=media.parent / "data", models=(ModelConfig(id="bridge"),))
    app = create_app(with_media_root(config, media), wait_for_models=True)
    client = app.test_client()
    job = client.post(
        "/v1/jobs", json={"type": "index", "params": {"path": ".", "collection": "mixed"}}
    ).get_json()
    done = wait_for_job(client, job["id"], ("succeeded", "failed"), timeout_s=300)
    assert done["state"] == "succeeded" and not done["result"]["failed"], done
    assert done["result"]["indexed"] == len(PHOTOS) + 3 + len(SENTENCES)
    yield client
    close_app(app)


def top(client, query, modality):
    body = {"query": query, "top_k": 1, "filter": {"modality": modality}}
    response = client.post("/v1/collections/mixed/search", json=body)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["data"][0]["id"]


@pytest.mark.parametrize(("query", "expected"), TEXT_QUERIES.items())
def test_a_sentence_finds_the_photo_or_clip(client, query, expected):
    assert top(client, query, "image" if expected.startswith("images") else "audio") == expected


@pytest.mark.parametrize("name", [*PHOTOS, "speech", "beep", "noise"])
def test_a_photo_or_clip_finds_its_sentence(client, name):
    item = f"images/{name}.png" if name in PHOTOS else f"audio/{name}.wav"
    assert top(client, {"id": item}, "text") == f"texts/{name}.txt"


@pytest.mark.parametrize("name", [*PHOTOS, "speech"])
def test_a_photo_or_clip_sent_as_a_content_part_finds_its_sentence(client, media, name):
    if name in PHOTOS:
        data = base64.b64encode((media / "images" / f"{name}.png").read_bytes()).decode()
        query = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}}
    else:
        data = base64.b64encode((media / "audio" / f"{name}.wav").read_bytes()).decode()
        query = {"type": "input_audio", "input_audio": {"data": data, "format": "wav"}}
    assert top(client, query, "text") == f"texts/{name}.txt"
