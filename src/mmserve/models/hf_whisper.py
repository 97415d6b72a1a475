"""Whisper checkpoints in transformers' format (WhisperForConditionalGeneration).

preprocess cuts a Waveform into Whisper's 30 s windows and computes their log-mel features in
the request thread; forward decodes the windows of the whole batch together (greedy), at most
WINDOWS_PER_PASS at a time; postprocess gives the transcript with one segment per window.
Timestamps are therefore window bounds, coarser than faster-whisper's (models/whisper.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import singledispatchmethod
from typing import Any

import numpy as np

from mmserve.errors import InvalidRequest
from mmserve.models.base import TRANSCRIBE, Model, Waveform
from mmserve.models.hf import HfSource, import_torch, one_inference_thread

WINDOW_SECONDS = 30  # Whisper's encoder takes exactly 30 s of audio (3000 mel frames)
WINDOWS_PER_PASS = 8  # decoded together; bounds memory for a batch of long recordings
MAX_NEW_TOKENS = 128  # per window, about 100 words; Whisper's decoder holds 448 positions
PROMPT_TOKENS = 4  # start of transcript, language, task, no-timestamps


@dataclass(frozen=True)
class AudioWindows:
    """One recording as Whisper takes it."""

    features: np.ndarray  # (windows, mel bins, 3000 frames) float32
    seconds: float


@dataclass(frozen=True)
class WindowTexts:
    """What forward gives for one recording: the text of each of its windows."""

    texts: list[str]
    seconds: float


class HfWhisper(Model):
    capabilities = frozenset({TRANSCRIBE})
    modality = "audio"

    def __init__(self, model_id: str, source: HfSource):
        super().__init__(model_id)
        self.source = source

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
        step = WINDOW_SECONDS * self.sample_rate
        windows = [samples[start : start + step] for start in range(0, len(samples), step)]
        mel = self.features(windows, sampling_rate=self.sample_rate, return_tensors="np")
        return AudioWindows(np.asarray(mel["input_features"], dtype=np.float32), item.seconds)

    def forward(self, batch: list[AudioWindows]) -> list[WindowTexts]:
        one_inference_thread()
        features = np.concatenate([item.features for item in batch])  # (windows, mel, frames)
        texts: list[str] = []
        with self.torch.inference_mode():
            for start in range(0, len(features), WINDOWS_PER_PASS):
                chunk = self.torch.from_numpy(features[start : start + WINDOWS_PER_PASS])
                ids = self.network.generate(
                    input_features=chunk, max_new_tokens=self.max_new_tokens
                )
                texts += self.tokenizer.batch_decode(ids, skip_special_tokens=True)
        outputs, start = [], 0
        for item in batch:  # regroup the windows by recording
            own = texts[start : start + len(item.features)]
            outputs.append(WindowTexts([" ".join(t.split()) for t in own], item.seconds))
            start += len(item.features)
        return outputs

    def postprocess(self, output: WindowTexts) -> dict[str, Any]:
        duration = output.seconds
        segments = [
            {
                "id": index,
                "start": float(index * WINDOW_SECONDS),
                "end": min(float((index + 1) * WINDOW_SECONDS), duration),
                "text": text,
            }
            for index, text in enumerate(output.texts)
            if text
        ]
        return {
            "text": " ".join(s["text"] for s in segments),
            "segments": segments,
            "duration": duration,
        }

    def warmup_inputs(self) -> list[Any]:
        return [Waveform(np.zeros(self.sample_rate, dtype=np.float32), self.sample_rate)]

    def describe(self) -> dict[str, Any]:
        return {
            "architecture": self.source.architecture,
            "source": self.source.location,
            "window_seconds": WINDOW_SECONDS,
        }
