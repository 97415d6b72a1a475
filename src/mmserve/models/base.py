"""The model contract every backend fulfils, after LitServe's LitAPI and infinity's
abstract engines: load once, preprocess one item (in the request thread), forward a whole
batch (in a single-threaded inference worker), postprocess one output (request thread)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from mmserve.errors import PayloadTooLarge
from mmserve.media.audio import SAMPLE_RATE

# Capability names a model declares and a route asks for. What `preprocess` takes for each:
# a str for text, a PIL.Image.Image (RGB) for images, a Waveform for audio.
EMBED_TEXT = "embed_text"  # -> (dim,) float32, L2-normalised
EMBED_IMAGE = "embed_image"  # -> (dim,) float32, L2-normalised
EMBED_AUDIO = "embed_audio"  # -> (dim,) float32, L2-normalised
CLASSIFY_IMAGE = "classify_image"  # -> (classes,) probabilities; the model has class_names
CLASSIFY_AUDIO = "classify_audio"  # -> (frames, classes) probabilities over time
CAPTION_IMAGE = "caption_image"  # -> a caption made by a captioning model
OCR = "ocr"  # -> text lines with boxes and confidences
TRANSCRIBE = "transcribe"  # -> segments of recognised speech
CHAT = "chat"  # a ChatModel: ChatPrompt -> the reply's text, generated piece by piece


class Model(ABC):
    capabilities: ClassVar[frozenset[str]] = frozenset()
    modality: ClassVar[str] = "text"
    # Optional features; a model that has one overrides the default, callers read it plainly.
    # TRANSCRIBE: the SpeechClip fields (language, prompt...) the model honours; others are
    # refused with a 400 naming them.
    transcribe_options: ClassVar[frozenset[str]] = frozenset()
    # CLASSIFY_AUDIO: seconds of audio behind each output row, where longer than the step
    # between rows (frame_seconds); None: each row covers one step.
    window_seconds: ClassVar[float | None] = None
    # Images: the shorter side `preprocess` resizes an image to, so that the decoder may
    # decode a large JPEG at reduced scale (mmserve.media.decode_image's min_side); None:
    # the model reads the image at full size (OCR). An instance attribute for wrappers.
    image_min_side: int | None = None

    def __init__(self, model_id: str):
        self.id = model_id

    @abstractmethod
    def load(self) -> None:
        """Read weights; called once, in a background thread, before any other method."""

    def preprocess(self, item: Any) -> Any:
        """Turn one request item into what `forward` takes. Runs outside the inference thread;
        raise a ClientError for an input the model cannot take."""
        return item

    @abstractmethod
    def forward(self, batch: list[Any]) -> Sequence[Any]:
        """Run a batch of preprocessed items; return one output per item, in order."""

    def postprocess(self, output: Any) -> Any:
        """Turn one output of `forward` into what the route returns."""
        return output

    @abstractmethod
    def warmup_inputs(self) -> list[Any]:
        """Raw items for the warm-up batch run after loading."""

    def describe(self) -> dict[str, Any]:
        """Facts for /v1/models (dimensions, token limits...)."""
        return {}

    def count_tokens(self, item: Any) -> int:
        """Tokens in one preprocessed text item, for the usage counts of a response; 0 for
        a model that does not count them."""
        return 0


@dataclass(frozen=True)
class Waveform:
    """Decoded audio as models take it: mono float32 in [-1, 1] at `sample_rate`."""

    samples: np.ndarray  # (samples,) float32
    sample_rate: int = SAMPLE_RATE

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate


@dataclass(frozen=True)
class SpeechClip(Waveform):
    """A clip to transcribe with the request's options (None: the model's default). What a
    TRANSCRIBE model's preprocess takes besides a plain Waveform."""

    language: str | None = None  # ISO-639-1, e.g. "en"
    prompt: str | None = None  # earlier text or vocabulary, to steer spelling and style
    temperature: float | None = None  # 0: deterministic beam search
    word_timestamps: bool = False


def clip_options(clip: Waveform) -> dict[str, Any]:
    """The options a SpeechClip sets (a plain Waveform sets none)."""
    if not isinstance(clip, SpeechClip):
        return {}
    values = {
        "language": clip.language,
        "prompt": clip.prompt,
        "temperature": clip.temperature,
        "word_timestamps": clip.word_timestamps or None,
    }
    return {name: value for name, value in values.items() if value is not None}


@dataclass(frozen=True)
class ChatPrompt:
    """A conversation as a chat model takes it. `messages` are {"role", "content": str}, with
    the media already turned into evidence text; `images` are the request's RGB PIL images,
    for models that look at them themselves (vision-language checkpoints)."""

    messages: list[dict[str, str]]
    images: list[Any]
    max_tokens: int = 256
    temperature: float = 1.0
    stop: tuple[str, ...] = ()


class ChatModel(Model):
    """A model that writes replies. Generation is streamed and runs in the request thread
    (a reply is seconds of sequential decoding, not a batchable forward pass); the model
    guards itself against concurrent use where it must."""

    capabilities = frozenset({CHAT})

    @abstractmethod
    def generate(self, prompt: ChatPrompt) -> Iterator[str]:
        """The reply, as pieces of text in order (joined, they are the whole reply)."""

    def forward(self, batch: list[Any]) -> Sequence[Any]:
        return ["".join(self.generate(prompt)) for prompt in batch]

    def warmup_inputs(self) -> list[Any]:
        return []


@dataclass(frozen=True)
class Tokens:
    """A tokenised text: ids including special tokens, unpadded."""

    ids: np.ndarray  # (tokens,) int64

    def __len__(self) -> int:
        return len(self.ids)


class TextEmbedder(Model):
    """A model that maps a text to one fixed-size vector."""

    capabilities = frozenset({EMBED_TEXT})
    dimensions: int
    max_tokens: int

    def count_tokens(self, item: Any) -> int:
        return len(item)

    def check_length(self, tokens: int) -> None:
        if tokens > self.max_tokens:
            raise PayloadTooLarge(
                f"input has {tokens} tokens; model {self.id!r} takes at most {self.max_tokens}. "
                "Split the text into shorter passages.",
                code="context_length_exceeded",
            )

    def describe(self) -> dict[str, Any]:
        return {"dimensions": self.dimensions, "max_tokens": self.max_tokens}


def mean_pool_normalise(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Masked mean over tokens, then L2 norm: sentence-transformers' pooling."""
    # hidden (batch, tokens, dim), mask (batch, tokens) -> (batch, dim)
    weights = mask[:, :, None].astype(hidden.dtype)
    summed = (hidden * weights).sum(axis=1)
    pooled = summed / np.clip(weights.sum(axis=1), 1e-9, None)
    return l2_normalise(pooled)


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.clip(norms, 1e-12, None)).astype(np.float32)
