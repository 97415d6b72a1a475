"""hf: models on tiny random checkpoints built by the tests (no hub, no downloads)."""

import shutil
import threading

import numpy as np
import pytest
from PIL import Image

from mmserve.batching.runner import ModelRunner, ModelState
from mmserve.config import ModelConfig
from mmserve.errors import ConfigError, InvalidRequest, PayloadTooLarge
from mmserve.models.base import CAPTION_IMAGE, EMBED_IMAGE, EMBED_TEXT, TRANSCRIBE, Waveform
from mmserve.models.registry import create_model
from tests.hf_models import (
    CAPTION_WORD,
    IMAGE_SIZE,
    PROJECTION_DIM,
    SIGLIP_TEXT_TOKENS,
    TRANSCRIPT_WORD,
    built_once,
)

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

RED = Image.new("RGB", (48, 40), (220, 30, 30))
SKY = Image.new("RGB", (40, 64), (90, 160, 240))


@pytest.fixture(scope="session")
def dirs(tmp_path_factory):
    return built_once(tmp_path_factory)


@pytest.fixture(scope="module")
def clip(dirs):
    model = create_model("clip", f"hf:{dirs['clip']}")
    model.load()
    return model


@pytest.fixture(scope="module")
def siglip(dirs):
    model = create_model("siglip", f"hf:{dirs['siglip']}")
    model.load()
    return model


def test_the_config_picks_the_model_and_its_capabilities(dirs):
    built = {name: create_model(name, f"hf:{dirs[name]}") for name in ("clip", "blip", "whisper")}
    assert built["clip"].capabilities == {EMBED_TEXT, EMBED_IMAGE}
    assert built["blip"].capabilities == {CAPTION_IMAGE}
    assert built["whisper"].capabilities == {TRANSCRIBE}


def test_clip_matches_transformers_own_normalised_embeddings(clip, dirs):
    reference = transformers.CLIPModel.from_pretrained(dirs["clip"]).eval()
    tokens = clip.tokenizer(["red cat", "a photo of a blue dog"], padding=True, return_tensors="pt")
    pixels = torch.from_numpy(np.stack([clip.preprocess(RED).values, clip.preprocess(SKY).values]))
    with torch.inference_mode():
        expected = reference(**tokens, pixel_values=pixels)
    ours = clip.forward(
        [clip.preprocess(x) for x in ("red cat", RED, "a photo of a blue dog", SKY)]
    )
    np.testing.assert_allclose(ours[0], expected.text_embeds[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(ours[2], expected.text_embeds[1].numpy(), atol=1e-5)
    np.testing.assert_allclose(ours[1], expected.image_embeds[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(ours[3], expected.image_embeds[1].numpy(), atol=1e-5)


def test_each_checkpoint_reads_its_own_tokenizer_class(clip, siglip):
    # The real classes normalise text as the checkpoint was trained: case, punctuation.
    assert type(clip.tokenizer).__name__ == "CLIPTokenizer"
    assert type(siglip.tokenizer).__name__ == "SiglipTokenizer"  # sentencepiece spiece.model
    for model in (clip, siglip):
        loud, quiet = model.forward([model.preprocess("RED Cat"), model.preprocess("red cat")])
        np.testing.assert_allclose(loud, quiet, atol=1e-6)


def test_vectors_are_unit_float32_of_the_described_size(clip):
    assert clip.describe()["dimensions"] == PROJECTION_DIM
    for vector in clip.forward([clip.preprocess("sky"), clip.preprocess(SKY)]):
        assert vector.shape == (PROJECTION_DIM,) and vector.dtype == np.float32
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)


def test_batching_with_other_inputs_does_not_change_a_vector(clip):
    alone = clip.forward([clip.preprocess("cat")])[0]
    crowded = clip.forward([clip.preprocess(x) for x in (RED, "red green blue dog sky", "cat")])
    np.testing.assert_allclose(alone, crowded[2], atol=1e-5)


def test_images_are_resized_by_the_checkpoint_processor(clip):
    assert clip.preprocess(Image.new("RGB", (300, 20))).values.shape == (3, IMAGE_SIZE, IMAGE_SIZE)


def test_siglip_pads_texts_to_full_length_as_it_was_trained(siglip, dirs):
    reference = transformers.SiglipModel.from_pretrained(dirs["siglip"]).eval()
    tokens = siglip.tokenizer(["red cat"], padding="max_length", return_tensors="pt")
    with torch.inference_mode():
        expected = reference.get_text_features(input_ids=tokens.input_ids).pooler_output
    expected = torch.nn.functional.normalize(expected, dim=-1)[0].numpy()
    np.testing.assert_allclose(
        siglip.forward([siglip.preprocess("red cat")])[0], expected, atol=1e-5
    )


def test_a_text_past_the_position_limit_is_refused_not_cut(siglip):
    with pytest.raises(PayloadTooLarge, match=f"at most {SIGLIP_TEXT_TOKENS}"):
        siglip.preprocess(" ".join(["cat"] * SIGLIP_TEXT_TOKENS))


def test_an_input_of_another_kind_is_a_client_error(clip):
    with pytest.raises(InvalidRequest, match="embeds text or images, not bytes"):
        clip.preprocess(b"\x89PNG")


def test_blip_captions_a_batch_through_the_runner(dirs):
    runner = ModelRunner(create_model("blip", f"hf:{dirs['blip']}"), ModelConfig(id="blip"))
    runner.start(wait=True)
    try:
        assert runner.state is ModelState.READY
        payloads = [runner.model.preprocess(image) for image in (RED, SKY, RED)]
        outputs = runner.infer(payloads, timeout_s=60)
    finally:
        runner.stop()
    # The tiny decoder is biased to one word and runs to the caption token bound.
    assert [o["caption"].split() for o in outputs] == [[CAPTION_WORD] * 30] * 3


def noise(seconds: float, sample_rate: int = 16_000) -> Waveform:
    samples = np.random.default_rng(0).normal(0, 0.1, int(seconds * sample_rate))
    return Waveform(samples.astype(np.float32), sample_rate)


@pytest.fixture(scope="module")
def whisper(dirs):
    model = create_model("whisper", f"hf:{dirs['whisper']}")
    model.load()
    return model


def test_whisper_gives_one_segment_per_30_s_window_per_recording(whisper):
    outputs = whisper.forward([whisper.preprocess(noise(s)) for s in (65, 2.5)])
    long, short = (whisper.postprocess(o) for o in outputs)
    assert [(s["start"], s["end"]) for s in long["segments"]] == [(0, 30), (30, 60), (60, 65)]
    assert [(s["start"], s["end"]) for s in short["segments"]] == [(0, 2.5)]
    assert short["duration"] == 2.5
    # The tiny decoder may only say one word (its suppress_tokens), until its token bound.
    assert set(long["text"].split()) == {TRANSCRIPT_WORD}
    assert short["text"] == short["segments"][0]["text"]


def test_whisper_refuses_audio_at_another_sample_rate(whisper):
    with pytest.raises(InvalidRequest, match="16000 Hz, not 8000"):
        whisper.preprocess(noise(1, sample_rate=8000))


def test_whisper_takes_the_route_options_it_lists(whisper):
    from mmserve.models.base import SpeechClip

    assert whisper.transcribe_options == {"language", "temperature"}
    clips = [
        SpeechClip(noise(3).samples, language="en"),
        SpeechClip(noise(4).samples, temperature=0.5),
        noise(5),
    ]
    outputs = [
        whisper.postprocess(o) for o in whisper.forward([whisper.preprocess(c) for c in clips])
    ]
    assert [o["duration"] for o in outputs] == [3, 4, 5]
    assert all(set(o["text"].split()) == {TRANSCRIPT_WORD} for o in outputs)
    assert outputs[0]["language"] == "en"  # an English-only checkpoint
    with pytest.raises(InvalidRequest, match="transcribes en, not 'de'") as refused:
        whisper.preprocess(SpeechClip(noise(1).samples, language="de"))
    assert refused.value.param == "language"


def test_concurrent_requests_share_batches_and_get_their_own_vectors(clip):
    runner = ModelRunner(clip, ModelConfig(id="clip", max_wait_ms=20, workers=1))
    runner.start(wait=True)
    texts = ["red", "green", "blue", "cat", "dog", "sky"]
    results: dict[str, np.ndarray] = {}

    def ask(text):
        results[text] = runner.infer([clip.preprocess(text)], timeout_s=60)[0]

    threads = [threading.Thread(target=ask, args=(t,)) for t in texts]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        runner.stop()
    for text in texts:
        np.testing.assert_allclose(
            results[text], clip.forward([clip.preprocess(text)])[0], atol=1e-5
        )


def test_an_unsupported_architecture_says_what_is_supported(dirs):
    with pytest.raises(ConfigError, match="GPT2LMHeadModel.*supported architectures: CLIPModel"):
        create_model("gpt", f"hf:{dirs['unsupported']}")


def test_a_missing_directory_or_config_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="is not a directory"):
        create_model("m", f"hf:{tmp_path / 'nowhere'}")
    with pytest.raises(ConfigError, match="config.json is missing"):
        create_model("m", f"hf:{tmp_path}")


def test_a_hub_id_without_hub_access_says_how_to_copy_the_checkpoint(monkeypatch, tmp_path):
    import huggingface_hub.constants as hub

    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ConfigError, match="huggingface-cli download openai/clip-vit-base-patch32"):
        create_model("clip", "hf:openai/clip-vit-base-patch32")


def test_a_checkpoint_without_weights_fails_its_load_with_the_reason(dirs, tmp_path, monkeypatch):
    monkeypatch.setattr("mmserve.batching.runner.LOAD_RETRY_PAUSES_S", ())  # OSError: retried
    shutil.copy(dirs["clip"] / "config.json", tmp_path / "config.json")
    runner = ModelRunner(create_model("broken", f"hf:{tmp_path}"), ModelConfig(id="broken"))
    runner.start(wait=True)
    assert runner.state is ModelState.FAILED
    assert str(tmp_path) in runner.error  # transformers names the file it could not find
