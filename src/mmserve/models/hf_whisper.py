"""Whisper checkpoints in transformers' format (WhisperForConditionalGeneration).

Implements the TRANSCRIBE contract of models/whisper.py, so the transcription route serves it
like the default faster-whisper model. preprocess cuts a clip into Whisper's 30 s windows and
computes their log-mel features in the request thread; forward decodes the windows of all
clips in the batch together (greedy unless a temperature is asked for), at most
WINDOWS_PER_PASS at a time; postprocess gives one segment per window. Timestamps are
therefore window bounds, coarser than faster-whisper's.

Options (a SpeechClip's fields): `language` (multilingual checkpoints: any language their
generation config knows; English-only ones: "en") and `temperature`. `prompt` and
`word_timestamps` are not offered: the route refuses them with a 400 naming them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import singledispatchmethod
from typing import Any

import numpy as np

from mmserve.errors import InvalidRequest
from mmserve.models.base import TRANSCRIBE, Model, Waveform, clip_options
from mmserve.models.hf import HfSource, import_torch, one_inference_thread

WINDOW_SECONDS = 30  # Whisper's encoder takes exactly 30 s of audio (3000 mel frames)
WINDOWS_PER_PASS = 8  # decoded together; bounds memory for a batch of long clips
MAX_NEW_TOKENS = 128  # per window, about 100 words; Whisper's decoder holds 448 positions
PROMPT_TOKENS = 4  # start of transcript, language, task, no-timestamps

Options = tuple[tuple[str, Any], ...]  # a clip's decoding options, hashable for grouping


@dataclass(frozen=True)
class AudioWindows:
    """One clip as Whisper takes it."""

    features: np.ndarray  # (windows, mel bins, 3000 frames) float32
    seconds: float
    options: Options = ()


@dataclass(frozen=True)
class WindowTexts:
    """What forward gives for one clip: the text of each of its windows."""

    texts: list[str]
    seconds: float
    language: str | None


class HfWhisper(Model):
    capabilities = frozenset({TRANSCRIBE})
    modality = "audio"
    transcribe_options = frozenset({"language", "temperature"})

    def __init__(self, model_id: str, source: HfSource):
        super().__init__(model_id)
        self.source = source
        self.languages: frozenset[str] = frozenset({"en"})  # read from the checkpoint at load

    def load(self) -> None:
        torch = import_torch()
        from transformers import (
            AutoFeatureExtractor,
            AutoTokenizer,
            WhisperForConditionalGeneration,
        )

        kwargs = self.source.pretrained_kwargs()
        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(self.source.location, **kwargs)
        self.features = AutoFeatureExtractor.from_pretrained(self.source.location, **kwargs)
        self.sample_rate = int(self.features.sampling_rate)
        self.network = WhisperForConditionalGeneration.from_pretrained(
            self.source.location, dtype=torch.float32, **kwargs
        ).eval()
        positions = int(self.network.config.max_target_positions)
        self.max_new_tokens = min(MAX_NEW_TOKENS, positions - PROMPT_TOKENS)
        generation = self.network.generation_config
        self.multilingual = bool(getattr(generation, "is_multilingual", False))
        if self.multilingual:  # lang_to_id: {"<|de|>": 50261, ...}
            codes = (k.strip("<|>") for k in getattr(generation, "lang_to_id", {}) or {})
            self.languages = frozenset(codes)

    @singledispatchmethod
    def preprocess(self, item: Any) -> Any:
        raise InvalidRequest(
            f"model {self.id!r} transcribes audio, not {type(item).__name__}", param="file"
        )

    @preprocess.register
    def _(self, item: Waveform) -> AudioWindows:
        if item.sample_rate != self.sample_rate:
            raise InvalidRequest(
                f"model {self.id!r} takes audio at {self.sample_rate} Hz, not {item.sample_rate}",
                param="file",
            )
        samples = np.asarray(item.samples, dtype=np.float32)
        if samples.size == 0:
            raise InvalidRequest("the audio holds no samples", param="file")
        options = clip_options(item)
        language = options.get("language")
        if language is not None and language not in self.languages:
            raise InvalidRequest(
                f"language: model {self.id!r} transcribes {', '.join(sorted(self.languages))}, "
                f"not {language!r}",
                param="language",
            )
        step = WINDOW_SECONDS * self.sample_rate
        windows = [samples[start : start + step] for start in range(0, len(samples), step)]
        mel = self.features(windows, sampling_rate=self.sample_rate, return_tensors="np")
        features = np.asarray(mel["input_features"], dtype=np.float32)
        kept = tuple(sorted((k, v) for k, v in options.items() if k in self.transcribe_options))
        return AudioWindows(features, item.seconds, kept)

    def forward(self, batch: list[AudioWindows]) -> list[WindowTexts]:
        one_inference_thread()
        texts: list[list[str]] = [[] for _ in batch]
        groups: dict[Options, list[int]] = {}  # clips decoded with the same options
        for index, item in enumerate(batch):
            groups.setdefault(item.options, []).append(index)
        with self.torch.inference_mode():
            for options, members in groups.items():
                decoded = self._decode(
                    np.concatenate([batch[i].features for i in members]), options
                )
                start = 0
                for i in members:  # regroup the windows by clip
                    texts[i] = decoded[start : start + len(batch[i].features)]
                    start += len(batch[i].features)
        return [
            WindowTexts(own, item.seconds, self._language(item.options))
            for own, item in zip(texts, batch, strict=True)
        ]

    def _decode(self, features: np.ndarray, options: Options) -> list[str]:
        """Texts of (windows, mel, frames) features, WINDOWS_PER_PASS windows at a time."""
        settings = dict(options)
        kwargs: dict[str, Any] = {"max_new_tokens": self.max_new_tokens}
        if self.multilingual and settings.get("language"):
            kwargs["language"] = settings["language"]
        if settings.get("temperature"):
            kwargs.update(do_sample=True, temperature=float(settings["temperature"]))
        texts: list[str] = []
        for start in range(0, len(features), WINDOWS_PER_PASS):
            chunk = self.torch.from_numpy(features[start : start + WINDOWS_PER_PASS])
            ids = self.network.generate(input_features=chunk, **kwargs)  # (windows, tokens)
            decoded = self.tokenizer.batch_decode(ids, skip_special_tokens=True)
            texts += [" ".join(text.split()) for text in decoded]
        return texts

    def _language(self, options: Options) -> str | None:
        # English-only checkpoints speak English; a multilingual one detects the language
        # per window inside generate without telling us, so only an asked-for one is known.
        return dict(options).get("language") or (None if self.multilingual else "en")

    def postprocess(self, output: WindowTexts) -> dict[str, Any]:
        spoken = [(window, text) for window, text in enumerate(output.texts) if text]
        segments = [
            {
                "id": index,
                "start": float(window * WINDOW_SECONDS),
                "end": min(float((window + 1) * WINDOW_SECONDS), output.seconds),
                "text": text,
            }
            for index, (window, text) in enumerate(spoken)
        ]
        return {
            "text": " ".join(s["text"] for s in segments),
            "segments": segments,
            "duration": output.seconds,
            "language": output.language,
        }

    def warmup_inputs(self) -> list[Any]:
        return [Waveform(np.zeros(self.sample_rate, dtype=np.float32), self.sample_rate)]

    def describe(self) -> dict[str, Any]:
        return {
            "architecture": self.source.architecture,
            "source": self.source.location,
            "languages": sorted(self.languages),
            "sample_rate": getattr(self, "sample_rate", None),
            "options": sorted(self.transcribe_options),
            "window_seconds": WINDOW_SECONDS,
        }
