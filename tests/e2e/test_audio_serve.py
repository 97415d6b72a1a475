"""`mmserve serve --models whisper-tiny.en,yamnet` in a subprocess, called with the official
openai client exactly as OpenAI's documentation shows, and with plain HTTP (curl's shape)."""

from __future__ import annotations

import openai
import pytest
import requests

from tests.audio_models import SENTENCES, speech_wav, tone, wav_bytes, word_error_rate
from tests.e2e.test_serve import running_server
from tests.unit.media.makers import wav_claiming

pytestmark = [pytest.mark.e2e, pytest.mark.real_weights]

PASSAGE = " ".join(SENTENCES[:2])


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("audio-serve")
    with running_server(folder, "--models", "whisper-tiny.en,yamnet") as (base, _, _):
        yield base


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=f"{server}/v1", api_key="not-needed", max_retries=0)


@pytest.fixture(scope="module")
def speech_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("speech") / "passage.wav"
    path.write_bytes(speech_wav(PASSAGE))
    return path


def test_openai_client_transcribes_a_file(client, speech_file):
    with speech_file.open("rb") as audio:
        result = client.audio.transcriptions.create(model="whisper-1", file=audio)
    assert word_error_rate(PASSAGE, result.text) <= 0.3, result.text


def test_openai_client_verbose_json_with_words(client, speech_file):
    with speech_file.open("rb") as audio:
        result = client.audio.transcriptions.create(
            model="whisper-tiny.en",
            file=audio,
            language="en",
            response_format="verbose_json",
            timestamp_granularities=["word", "segment"],
        )
    assert result.language == "english" and result.duration > 3
    assert result.segments and result.words
    assert [w.start for w in result.words] == sorted(w.start for w in result.words)


def test_openai_client_srt_is_text(client, speech_file):
    with speech_file.open("rb") as audio:
        result = client.audio.transcriptions.create(
            model="whisper-1", file=audio, response_format="srt"
        )
    assert isinstance(result, str) and result.startswith("1\n00:00:00,000 --> ")


def test_openai_client_streams_events(client, speech_file):
    with speech_file.open("rb") as audio:
        stream = client.audio.transcriptions.create(model="whisper-1", file=audio, stream=True)
        events = list(stream)
    assert [e.type for e in events][-1] == "transcript.text.done"
    deltas = "".join(e.delta for e in events if e.type == "transcript.text.delta")
    assert deltas == events[-1].text


def test_openai_client_sees_a_413_naming_the_limit(client):
    # Two hours, over the default max_audio_seconds (an hour), at 500 Hz to stay under the
    # 10 MiB body limit (7.2 MB): refused from the header, nothing decoded.
    wav = wav_claiming(2 * 3600, 2 * 3600, rate=500)
    with pytest.raises(openai.APIStatusError) as caught:
        client.audio.transcriptions.create(model="whisper-1", file=("long.wav", wav))
    assert caught.value.status_code == 413
    assert "1:00:00 (3600 s)" in caught.value.body["message"]


def test_classification_over_plain_multipart(server):
    files = {"file": ("tone.wav", wav_bytes(tone(2.0)), "audio/wav")}
    response = requests.post(f"{server}/v1/audio/classifications", files=files, timeout=30)
    assert response.status_code == 200, response.text
    labels = [item["label"] for item in response.json()["labels"][:2]]
    assert {"Beep, bleep", "Sine wave"} & set(labels)
