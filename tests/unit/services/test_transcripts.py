"""Windowing a long recording, and the text response formats."""

from __future__ import annotations

import numpy as np
import pytest

from mmserve.services.transcripts import (
    Transcript,
    TranscriptPart,
    quiet_cut,
    speech_windows,
    srt,
    timestamp,
    verbose_json,
    vtt,
)

RATE = 100  # samples per second: small numbers that can be checked by hand


def loud(seconds: float) -> np.ndarray:
    return np.ones(round(seconds * RATE), dtype=np.float32)


def test_windows_are_cut_at_the_quietest_point_of_their_tail():
    samples = loud(25)
    samples[round(8.5 * RATE) : round(8.7 * RATE)] = 0  # silence at 8.5-8.7 s
    chunks = np.array_split(samples, 7)  # chunk boundaries must not matter
    windows = list(speech_windows(chunks, RATE, window_seconds=10, search_seconds=3))
    starts = [start for start, _ in windows]
    # 8.5 s lies in the last 3 s of the first window; the cut is inside the silence
    assert 8.5 <= starts[1] <= 8.7
    assert np.concatenate([w for _, w in windows]).tolist() == samples.tolist()
    assert all(len(w) <= 10 * RATE for _, w in windows)


def test_a_short_recording_is_one_window():
    windows = list(speech_windows([loud(3)], RATE, window_seconds=10, search_seconds=3))
    assert [(start, len(w)) for start, w in windows] == [(0.0, 300)]


def test_quiet_cut_falls_in_the_middle_of_the_quiet_frame():
    samples = loud(2)
    samples[150:160] = 0
    assert quiet_cut(samples, search=100, frame=10) == 155


def test_timestamps():
    assert timestamp(3723.456) == "01:02:03.456"
    assert timestamp(0.0004, ",") == "00:00:00,000"


SEGMENTS = [
    {"id": 0, "start": 0.0, "end": 1.5, "text": "Hello there."},
    {"id": 1, "start": 61.25, "end": 62.0, "text": "Goodbye."},
]


def test_srt():
    assert srt(SEGMENTS) == (
        "1\n00:00:00,000 --> 00:00:01,500\nHello there.\n\n"
        "2\n00:01:01,250 --> 00:01:02,000\nGoodbye.\n"
    )


def test_vtt():
    assert vtt(SEGMENTS).startswith("WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello there.\n")


@pytest.mark.parametrize("words", [True, False])
def test_verbose_json_moves_words_to_the_top_level(words):
    transcript = Transcript()
    word = {"word": "Goodbye", "start": 61.3, "end": 61.9, "probability": 0.9}
    transcript.add(TranscriptPart(0.0, 60.0, [SEGMENTS[0]], "en"))
    transcript.add(TranscriptPart(60.0, 2.5, [dict(SEGMENTS[1], words=[word])], None))
    body = verbose_json(transcript, words)
    assert body["text"] == "Hello there. Goodbye."
    assert body["duration"] == 62.5 and body["language"] == "english"
    assert all("words" not in s for s in body["segments"])
    assert body.get("words") == ([word] if words else None)
