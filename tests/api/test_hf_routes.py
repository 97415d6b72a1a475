"""hf: checkpoints served through the real routes (tiny random weights built by the tests)."""

import base64
import io
import threading
import wave

import numpy as np
import pytest

from mmserve.app import create_app
from mmserve.config import ModelConfig
from mmserve.errors import ConfigError
from tests.conftest import fake_config
from tests.hf_models import CAPTION_WORD, PROJECTION_DIM, TRANSCRIPT_WORD, built_once

pytest.importorskip("transformers")


@pytest.fixture(scope="session")
def dirs(tmp_path_factory):
    return built_once(tmp_path_factory)


@pytest.fixture(scope="module")
def app(dirs, tmp_path_factory):
    names = ("clip", "blip", "whisper")
    models = [ModelConfig(id=name, source=f"hf:{dirs[name]}") for name in names]
    config = fake_config(tmp_path_factory.mktemp("hf-app"), *models)
    app = create_app(config, wait_for_models=True)
    app.config["TESTING"] = True
    yield app
    app.extensions["mmserve"].pool.stop()


@pytest.fixture
def client(app):
    return app.test_client()


def needs_route(app, path):
    """Routes other parts of mmserve add; these tests run once they are registered."""
    if path not in {rule.rule for rule in app.url_map.iter_rules()}:
        pytest.skip(f"{path} is not served yet")


def png(color=(200, 40, 40), size=(40, 30)) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def embed(client, **body):
    return client.post("/v1/embeddings", json=body)


def test_text_embeddings_have_the_checkpoint_dimensions(client, app):
    response = embed(client, model="clip", input=["red cat", "a photo of a dog"])
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    vectors = np.array([d["embedding"] for d in body["data"]], dtype=np.float32)
    assert vectors.shape == (2, PROJECTION_DIM)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    model = app.extensions["mmserve"].pool.get("clip").model
    np.testing.assert_allclose(
        vectors[0], model.forward([model.preprocess("red cat")])[0], atol=1e-5
    )
    assert body["usage"]["prompt_tokens"] == 4 + 7  # words plus start and end tokens


def test_concurrent_requests_each_get_their_own_vectors(app):
    texts = ["red", "green blue", "cat dog sky", "a photo of the sky"]
    results = {}

    def ask(text):
        body = embed(app.test_client(), model="clip", input=text).get_json()
        results[text] = body["data"][0]["embedding"]

    threads = [threading.Thread(target=ask, args=(t,)) for t in texts * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    alone = embed(app.test_client(), model="clip", input=texts).get_json()["data"]
    for text, expected in zip(texts, alone, strict=True):
        np.testing.assert_allclose(results[text], expected["embedding"], atol=1e-5)


def test_the_model_list_shows_capabilities_and_dimensions(client):
    cards = {c["id"]: c for c in client.get("/v1/models").get_json()["data"]}
    assert cards["clip"]["capabilities"] == ["embed_image", "embed_text"]
    assert cards["clip"]["details"]["dimensions"] == PROJECTION_DIM
    assert cards["clip"]["state"] == "ready"
    assert cards["blip"]["capabilities"] == ["caption_image"]


def test_asking_a_captioner_to_embed_names_the_models_that_can(client):
    response = embed(client, model="blip", input="red cat")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["param"] == "model"
    assert "cannot embed text" in error["message"] and "clip" in error["message"]


def test_an_over_long_text_is_413_naming_the_input(client):
    response = embed(client, model="clip", input=["cat", " ".join(["dog"] * 20)])
    assert response.status_code == 413
    assert response.get_json()["error"]["param"] == "input[1]"


def test_a_directory_of_an_unsupported_model_stops_the_start(dirs, tmp_path):
    config = fake_config(tmp_path, ModelConfig(id="gpt", source=f"hf:{dirs['unsupported']}"))
    with pytest.raises(ConfigError, match="supported architectures: CLIPModel, SiglipModel"):
        create_app(config, wait_for_models=True)


def test_blip_writes_the_caption_of_the_captions_route(client, app):
    needs_route(app, "/v1/images/captions")
    response = client.post("/v1/images/captions", json={"model": "blip", "image": png()})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["method"] == "model" and body["model"] == "blip"
    assert body["caption"].split() == [CAPTION_WORD] * 30  # the tiny decoder's one word


def test_captions_default_to_the_captioning_model(client, app):
    needs_route(app, "/v1/images/captions")
    response = client.post("/v1/images/captions", json={"image": png((0, 0, 255))})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["model"] == "blip"


def image_part(color=(200, 40, 40)) -> dict:
    return {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png(color)}"}}


def test_text_and_image_parts_embed_into_one_space(app):
    from mmserve.services.content import embed_contents, parse_inputs

    pool = app.extensions["mmserve"].pool
    contents = parse_inputs(["red cat", image_part(), {"type": "text", "text": "red cat"}])
    embedded = embed_contents(pool, contents, model="clip", timeout_s=30)
    text, image, again = embedded.vectors
    assert image.shape == (PROJECTION_DIM,) and image.dtype == np.float32
    assert np.linalg.norm(image) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(text, again, atol=1e-5)  # a string and a text part agree
    model = pool.get("clip").model
    decoded = contents[1].value
    np.testing.assert_allclose(image, model.forward([model.preprocess(decoded)])[0], atol=1e-5)


def test_image_embeddings_through_the_route(client):
    response = embed(client, model="clip", input=["a photo of a cat", image_part(), image_part()])
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    vectors = [np.array(d["embedding"]) for d in body["data"]]
    assert [v.shape for v in vectors] == [(PROJECTION_DIM,)] * 3
    assert body["usage"]["prompt_tokens"] == 7  # the text's tokens; images count none
    np.testing.assert_allclose(vectors[1], vectors[2], atol=1e-5)  # same image, same vector


def test_an_image_for_a_text_only_model_names_the_models_that_embed_images(dirs, tmp_path):
    models = [ModelConfig(id="fake"), ModelConfig(id="clip", source=f"hf:{dirs['clip']}")]
    app = create_app(fake_config(tmp_path, *models), wait_for_models=True)
    try:
        response = embed(app.test_client(), model="fake", input=[image_part()])
    finally:
        app.extensions["mmserve"].pool.stop()
    assert response.status_code == 400
    assert "clip" in response.get_json()["error"]["message"]


def wav(seconds: float, sample_rate: int = 16_000) -> bytes:
    samples = np.random.default_rng(0).normal(0, 3000, int(seconds * sample_rate))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(samples.astype("<i2").tobytes())
    return buffer.getvalue()


def transcribe(client, seconds, **fields):
    data = {"file": (io.BytesIO(wav(seconds)), "speech.wav"), **fields}
    return client.post("/v1/audio/transcriptions", data=data, content_type="multipart/form-data")


def test_whisper_transcribes_through_the_route(client, app):
    needs_route(app, "/v1/audio/transcriptions")
    response = transcribe(client, 4, model="whisper", response_format="verbose_json")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body["text"].split()) == {TRANSCRIPT_WORD}  # the tiny decoder's one word
    assert [(s["start"], s["end"]) for s in body["segments"]] == [(0, 4)]
    assert body["duration"] == pytest.approx(4)


def test_asking_clip_to_transcribe_names_the_models_that_can(client, app):
    needs_route(app, "/v1/audio/transcriptions")
    response = transcribe(client, 1, model="clip")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["param"] == "model" and "whisper" in error["message"]


def test_an_option_the_checkpoint_cannot_honour_is_a_400_naming_it(client, app):
    needs_route(app, "/v1/audio/transcriptions")
    response = transcribe(client, 1, model="whisper", prompt="earlier words")
    assert response.status_code == 400
    assert response.get_json()["error"]["param"] == "prompt"


def test_a_language_an_english_only_checkpoint_lacks_is_a_400(client, app):
    needs_route(app, "/v1/audio/transcriptions")
    response = transcribe(client, 1, model="whisper", language="de")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["param"] == "language" and "transcribes en" in error["message"]
