"""Real audio models, real speech and test sounds, each made once per test session.

Speech comes from espeak-ng (a Debian package `make install-test` installs): a real
synthesiser, so Whisper and YAMNet hear speech they were not trained on, and the word error
rate below measures something. Tones and noise are numpy, written as 16-bit WAV with the
standard library. benchmarks/bench_audio.py imports these too.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import tempfile
import wave
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from mmserve.models.registry import create_model

RATE = 16_000  # Hz
SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Please call me tomorrow morning before the meeting starts.",
    "Every winter the river freezes and children skate on the ice.",
    "She bought three apples, a loaf of bread and some fresh milk.",
)


@cache
def loaded(source: str):
    model = create_model(source, source)
    model.load()
    return model


def require_espeak() -> str:
    found = shutil.which("espeak-ng")
    if found is None:
        pytest.fail("espeak-ng is not installed; run `make install-test` (apt-get espeak-ng)")
    return found


@cache
def speech_wav(text: str, voice: str = "en") -> bytes:
    """`text` spoken by espeak-ng in `voice` ("en", "de"...): 22.05 kHz mono 16-bit WAV."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "speech.wav"
        subprocess.run([require_espeak(), "-v", voice, "-w", str(path), text], check=True)
        return path.read_bytes()


def wav_bytes(samples: np.ndarray, rate: int = RATE) -> bytes:
    """float samples in [-1, 1] -> mono 16-bit PCM WAV."""
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


def tone(seconds: float = 2.0, freq: float = 1000.0, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def white_noise(seconds: float = 2.0, std: float = 0.05, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(0, std, round(seconds * RATE)).clip(-1, 1).astype(np.float32)


def words(text: str) -> list[str]:
    """Lower-case words without punctuation: "O'Clock," -> ["o'clock"]."""
    return re.findall(r"[a-z0-9']+", text.lower().replace("’", "'"))


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / words in the reference: the Levenshtein
    distance over words, one row of the table at a time."""
    ref, hyp = words(reference), words(hypothesis)
    if not ref:
        return float(bool(hyp))
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        current = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h))
        previous = current
    return previous[-1] / len(ref)
