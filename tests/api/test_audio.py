"""POST /v1/audio/transcriptions and /v1/audio/classifications through the real app.

Real whisper-tiny.en and YAMNet hear espeak-ng speech and numpy tones; two test transcribers
whose output can be computed by hand check the windowing of long recordings and deadlines.
"""

from __future__ import annotations

import base64
import io
import json
import time

import numpy as np
import pytest
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from mmserve.app import create_app
from mmserve.config import Config, Limits, ModelConfig
from mmserve.media.policy import MediaPolicy
from mmserve.models.base import TRANSCRIBE, Model, Waveform
from mmserve.models.registry import register
from tests.audio_models import SENTENCES, speech_wav, tone, wav_bytes, word_error_rate
from tests.unit.media.makers import wav_claiming

MAX_SECONDS = 300.0  # the test server's media.max_audio_seconds
SPEECH = SENTENCES[1]  # "Please call me tomorrow morning before the meeting starts."


class WindowTranscriber(Model):
    """One segment per window it is given, saying how long the window was; sleeps
    `delay_s` first (a slow model)."""

    capabilities = frozenset({TRANSCRIBE})
    modality = "audio"
    delay_s = 0.0

    def load(self):
        pass

    def preprocess(self, item: Waveform):
        return item

    def forward(self, batch):
        time.sleep(self.delay_s)
        return [
            {
                "text": f"{w.seconds:.2f}s",
                "segments": [
                    {"id": 0, "start": 0.0, "end": w.seconds, "text": f"{w.seconds:.2f}s"}
                ],
                "duration": w.seconds,
            }
            for w in batch
        ]

    def warmup_inputs(self):
        return []


class SlowTranscriber(WindowTranscriber):
    delay_s = 0.5


register("test-window-transcriber", "one segment per window (tests)")(
    lambda model_id, argument: WindowTranscriber(model_id)
)
register("test-slow-transcriber", "sleeps 0.5 s per window (tests)")(
    lambda model_id, argument: SlowTranscriber(model_id)
)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    config = Config(
        data_dir=tmp_path_factory.mktemp("audio") / "data",
        media=MediaPolicy(max_audio_seconds=MAX_SECONDS),
        limits=Limits(max_body_bytes=64 * 1024 * 1024),
        models=(
            ModelConfig(id="whisper-tiny.en", max_batch_size=1, workers=1),
            ModelConfig(id="yamnet"),
            ModelConfig(id="windows", source="test-window-transcriber", max_batch_size=1),
        ),
    )
    app = create_app(config, wait_for_models=True)
    app.config["TESTING"] = True
    yield app.test_client()
    app.extensions["mmserve"].pool.stop()


def upload(client, path, wav: bytes, **fields):
    # Encoded here, in memory: the test client spools a body past 500 kB to a temporary file
    # that it never closes (a ResourceWarning, an error under this suite's settings).
    file = FileStorage(io.BytesIO(wav), filename="clip.wav", content_type="audio/wav")
    boundary, body = encode_multipart(MultiDict({"file": file, **fields}))
    return client.post(path, data=body, content_type=f"multipart/form-data; boundary={boundary}")


def transcribe(client, wav: bytes, **fields):
    return upload(client, "/v1/audio/transcriptions", wav, **fields)


def sse_events(response) -> list[dict]:
    assert response.mimetype == "text/event-stream"
    text = response.get_data(as_text=True)
    return [json.loads(line[len("data: ") :]) for line in text.split("\n\n") if line]


# --- transcriptions -----------------------------------------------------------------------


@pytest.mark.real_weights
def test_json_is_openai_shape_and_whisper_1_means_the_default(client):
    response = transcribe(client, speech_wav(SPEECH), model="whisper-1")
    assert response.status_code == 200, response.json
    assert list(response.json) == ["text"]
    assert word_error_rate(SPEECH, response.json["text"]) <= 0.3


@pytest.mark.real_weights
def test_json_body_with_base64_audio(client):
    audio = base64.b64encode(speech_wav(SPEECH)).decode()
    response = client.post(
        "/v1/audio/transcriptions", json={"audio": audio, "model": "whisper-tiny.en"}
    )
    assert response.status_code == 200, response.json
    assert "meeting" in response.json["text"].lower()


@pytest.mark.real_weights
@pytest.mark.parametrize(
    ("fmt", "mimetype", "start"),
    [
        ("text", "text/plain", "Please"),
        ("srt", "application/x-subrip", "1\n00:00:00,000 --> 00:00:0"),
        ("vtt", "text/vtt", "WEBVTT\n\n00:00:00.000 --> 00:00:0"),
    ],
)
def test_text_formats(client, fmt, mimetype, start):
    response = transcribe(client, speech_wav(SPEECH), response_format=fmt)
    assert response.status_code == 200
    assert response.mimetype == mimetype
    body = response.get_data(as_text=True)
    assert body.startswith(start), body
    assert "meeting" in body.lower()


@pytest.mark.real_weights
def test_verbose_json_with_word_timestamps(client):
    data = {
        "file": (io.BytesIO(speech_wav(SPEECH)), "clip.wav"),
        "response_format": "verbose_json",
        "timestamp_granularities[]": ["word", "segment"],
    }
    response = client.post("/v1/audio/transcriptions", data=data)
    assert response.status_code == 200, response.json
    body = response.json
    assert body["task"] == "transcribe" and body["language"] == "english"
    assert body["duration"] == pytest.approx(len(SPEECH.split()) * 0.4, rel=0.6)
    assert body["segments"][0]["start"] == 0.0 and "avg_logprob" in body["segments"][0]
    spoken = [w["word"].strip(".,").lower() for w in body["words"]]
    assert "tomorrow" in spoken
    assert all(w["start"] <= w["end"] for w in body["words"])


@pytest.mark.real_weights
def test_stream_sends_a_delta_per_segment_then_done(client):
    passage = " ".join(SENTENCES[:2])
    response = transcribe(client, speech_wav(passage), stream="true")
    assert response.headers["Cache-Control"] == "no-cache"
    events = sse_events(response)
    deltas = [e for e in events if e["type"] == "transcript.text.delta"]
    assert deltas and events[-1]["type"] == "transcript.text.done"
    assert "".join(e["delta"] for e in deltas) == events[-1]["text"]
    assert word_error_rate(passage, events[-1]["text"]) <= 0.3
    assert [e["segment"]["id"] for e in deltas] == list(range(len(deltas)))


def test_a_long_recording_is_transcribed_in_windows_with_continuing_times(client):
    seconds = 150.0
    samples = tone(seconds, freq=300.0, amplitude=0.3)
    samples[round(57.0 * 16_000) : round(57.2 * 16_000)] = 0  # a pause for the first cut
    # JSON, not multipart: werkzeug's test client leaves a multipart body over 500 KB in an
    # unclosed temporary file (a ResourceWarning), which is no concern of the server's.
    body = {"audio": base64.b64encode(wav_bytes(samples)).decode(), "model": "windows"}
    response = client.post(
        "/v1/audio/transcriptions", json={**body, "response_format": "verbose_json"}
    )
    assert response.status_code == 200, response.json
    segments = response.json["segments"]
    assert [s["id"] for s in segments] == [0, 1, 2]
    assert 57.0 <= segments[0]["end"] <= 57.2  # cut in the pause, not at 60 s
    assert [s["start"] for s in segments[1:]] == [s["end"] for s in segments[:-1]]
    assert segments[-1]["end"] == pytest.approx(seconds, abs=0.01)
    assert response.json["duration"] == pytest.approx(seconds, abs=0.01)


def test_options_a_model_cannot_honour_are_refused_by_name(client):
    response = transcribe(client, wav_bytes(tone(1.0)), model="windows", language="en")
    assert response.status_code == 400
    assert response.json["error"]["param"] == "language"


def test_too_long_is_413_naming_the_limit_before_decoding(client):
    long_wav = wav_claiming(MAX_SECONDS + 100, MAX_SECONDS + 100, rate=500)  # 400 kB
    response = transcribe(client, long_wav)
    assert response.status_code == 413
    assert response.json["error"]["param"] == "file"
    assert "(300 s)" in response.json["error"]["message"]


@pytest.mark.parametrize(
    ("fields", "status", "param"),
    [
        ({"response_format": "docx"}, 422, "response_format"),
        ({"temperature": "2"}, 422, "temperature"),
        ({"timestamp_granularities[]": "word"}, 400, "timestamp_granularities"),
        ({"model": "yamnet"}, 400, "model"),
        ({"model": "nope"}, 404, "model"),
        ({"speed": "2"}, 422, "speed"),
    ],
)
def test_bad_fields_are_named(client, fields, status, param):
    response = transcribe(client, wav_bytes(tone(1.0)), **fields)
    assert response.status_code == status, response.json
    assert response.json["error"]["param"] == param


def test_missing_and_corrupt_audio(client):
    missing = client.post(
        "/v1/audio/transcriptions", data={"model": "windows"}, content_type="multipart/form-data"
    )
    assert missing.status_code == 400
    assert missing.json["error"]["code"] == "missing_audio"
    corrupt = transcribe(client, wav_bytes(tone(1.0))[:20] + b"\x00garbage")
    assert corrupt.status_code == 400
    assert corrupt.json["error"]["param"] == "file"
    not_audio = transcribe(client, b"%PDF-1.7 not audio at all" * 10)
    assert not_audio.status_code == 400
    assert not_audio.json["error"]["code"] == "unsupported_format"


def test_a_slow_window_is_a_504_saying_where(make_app):
    app = make_app(ModelConfig(id="slow", source="test-slow-transcriber"), request_timeout_s=0.2)
    response = transcribe(app.test_client(), wav_bytes(tone(1.0)))
    assert response.status_code == 504
    assert "from 00:00:00,000" in response.json["error"]["message"]
    streamed = transcribe(app.test_client(), wav_bytes(tone(1.0)), stream="true")
    assert streamed.status_code == 200
    (event,) = sse_events(streamed)
    assert event["type"] == "error" and event["error"]["code"] == "timeout"


# --- classifications ----------------------------------------------------------------------


def classify(client, wav: bytes, **fields):
    return upload(client, "/v1/audio/classifications", wav, **fields)


@pytest.mark.real_weights
def test_speech_is_labelled_speech_frame_by_frame(client):
    response = classify(client, speech_wav(SPEECH), top_k="3")
    assert response.status_code == 200, response.json
    body = response.json
    assert body["model"] == "yamnet"
    assert body["labels"][0]["label"] == "Speech" and len(body["labels"]) == 3
    frames = body["frames"]
    assert [f["start"] for f in frames[:3]] == [0.0, 0.48, 0.96]
    assert frames[0]["end"] == 0.96 and all(len(f["labels"]) == 3 for f in frames)
    assert frames[-1]["end"] <= body["duration"] + 1e-6


@pytest.mark.real_weights
def test_a_tone_in_json_with_max_pooling(client):
    audio = base64.b64encode(wav_bytes(tone(2.0))).decode()
    response = client.post(
        "/v1/audio/classifications", json={"audio": audio, "top_k": 2, "pooling": "max"}
    )
    assert response.status_code == 200, response.json
    labels = {item["label"] for item in response.json["labels"]}
    assert labels & {"Beep, bleep", "Sine wave"}
    scores = [item["score"] for item in response.json["labels"]]
    frame_best = max(f["labels"][0]["score"] for f in response.json["frames"])
    assert scores[0] == pytest.approx(frame_best, abs=1e-4)  # max over frames


@pytest.mark.real_weights
@pytest.mark.parametrize(
    ("fields", "status", "param"),
    [
        ({"top_k": "0"}, 422, "top_k"),
        ({"pooling": "median"}, 422, "pooling"),
        ({"model": "whisper-tiny.en"}, 400, "model"),
    ],
)
def test_classification_errors_are_named(client, fields, status, param):
    response = classify(client, wav_bytes(tone(1.0)), **fields)
    assert response.status_code == status, response.json
    assert response.json["error"]["param"] == param


def test_classification_needs_audio(client):
    response = client.post("/v1/audio/classifications", json={})
    assert response.status_code == 400
    assert response.json["error"]["param"] == "audio"


def test_a_short_clip_has_one_frame_ending_at_its_end(client):
    response = classify(client, wav_bytes(np.zeros(8000, dtype=np.float32)))
    assert response.status_code == 200, response.json
    assert response.json["frames"] == [
        {"start": 0.0, "end": 0.5, "labels": response.json["frames"][0]["labels"]}
    ]


def test_upload_routes_take_bodies_up_to_the_media_limit_not_the_body_limit(tmp_path):
    # limits.max_body_bytes guards JSON routes; a route taking one recording allows what
    # [media] max_audio_bytes allows (as base64 too), so an hour needs no global change.
    config = Config(
        data_dir=tmp_path / "data",
        limits=Limits(max_body_bytes=64 * 1024),
        media=MediaPolicy(max_audio_bytes=1024 * 1024),
        models=(
            ModelConfig(id="windows", source="test-window-transcriber", max_batch_size=1),
            ModelConfig(id="fake"),
        ),
    )
    app = create_app(config, wait_for_models=True)
    try:
        client = app.test_client()
        nine_seconds = wav_bytes(tone(9.0))  # 288 kB: over the body limit, under the media one
        heard = transcribe(client, nine_seconds, model="windows")
        assert heard.status_code == 200, heard.json
        assert heard.json["text"] == "9.00s"

        as_json = {"audio": base64.b64encode(nine_seconds).decode(), "model": "windows"}
        assert client.post("/v1/audio/transcriptions", json=as_json).status_code == 200

        text = client.post("/v1/embeddings", json={"model": "fake", "input": "x" * 300_000})
        assert text.status_code == 413
        assert "limits.max_body_bytes" in text.json["error"]["message"]

        over_media = transcribe(client, wav_bytes(tone(40.0)), model="windows")  # 1.28 MB
        assert over_media.status_code == 413
        assert "the limit is 1,048,576 bytes" in over_media.json["error"]["message"]

        over_body = transcribe(client, wav_bytes(tone(50.0)), model="windows")  # 1.6 MB
        assert over_body.status_code == 413
        error = over_body.json["error"]
        assert error["code"] == "body_too_large" and "[media] max_audio_bytes" in error["message"]
    finally:
        app.extensions["mmserve"].pool.stop()
