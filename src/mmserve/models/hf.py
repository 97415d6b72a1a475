"""Your own Hugging Face checkpoints: `hf:/path/to/dir` (or a hub id, `hf:owner/name`).

The directory is what `save_pretrained` (or `huggingface-cli download --local-dir`) writes:
config.json, the weights, and the tokenizer / processor files. Its config.json names the
architecture, which picks the mmserve model:

    CLIPModel, SiglipModel            embed_text + embed_image (hf_clip.py)
    BlipForConditionalGeneration      caption_image            (hf_blip.py)
    WhisperForConditionalGeneration   transcribe               (hf_whisper.py)
    LlavaForConditionalGeneration,    chat                     (hf_vlm.py)
      Qwen2-VL, SmolVLM, PaliGemma... (VLM_ARCHITECTURES)

A directory is loaded with local_files_only, so it never touches the network. A hub id is
fetched by transformers into its cache: that needs a machine that reaches the hub, or a cache
filled beforehand (HF_HUB_OFFLINE=1 then reads it without asking).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmserve.errors import ConfigError
from mmserve.models.base import Model
from mmserve.models.registry import register

INSTALL_HINT = "pip install 'mmserve[hf]'"


@dataclass(frozen=True, kw_only=True)
class HfSource:
    """Where a checkpoint lives and what its config.json says."""

    location: str  # a directory, or a hub id
    config: dict[str, Any]  # config.json as written
    local: bool  # a directory: load with local_files_only, never reach the hub

    @property
    def architecture(self) -> str:
        names = self.config.get("architectures") or []
        return str(names[0]) if names else ""

    def pretrained_kwargs(self) -> dict[str, Any]:
        return {"local_files_only": True} if self.local else {}


# What each architecture becomes; model_type is the fallback for configs without
# `architectures` (older exports), mapped to the architecture it usually means.
ARCHITECTURES = {
    "CLIPModel": "mmserve.models.hf_clip:HfClip",
    "SiglipModel": "mmserve.models.hf_clip:HfSiglip",
    "BlipForConditionalGeneration": "mmserve.models.hf_blip:HfBlipCaptioner",
    "WhisperForConditionalGeneration": "mmserve.models.hf_whisper:HfWhisper",
}
# Vision-language models that AutoModelForImageTextToText loads: chat models (hf_vlm.py).
VLM_ARCHITECTURES = (
    "LlavaForConditionalGeneration",
    "LlavaNextForConditionalGeneration",
    "Qwen2VLForConditionalGeneration",
    "Qwen2_5_VLForConditionalGeneration",
    "Idefics3ForConditionalGeneration",
    "SmolVLMForConditionalGeneration",
    "PaliGemmaForConditionalGeneration",
    "Gemma3ForConditionalGeneration",
)
ARCHITECTURES.update({name: "mmserve.models.hf_vlm:HfVisionChat" for name in VLM_ARCHITECTURES})
MODEL_TYPES = {
    "clip": "CLIPModel",
    "siglip": "SiglipModel",
    "whisper": "WhisperForConditionalGeneration",
}


@register(
    "hf:", "your own Hugging Face checkpoint: hf:/dir (CLIP, SigLIP, BLIP, Whisper, LLaVA...)"
)
def hf_model(model_id: str, location: str) -> Model:
    source = read_source(model_id, location)
    architecture = source.architecture or MODEL_TYPES.get(source.config.get("model_type", ""), "")
    target = ARCHITECTURES.get(architecture)
    if target is None:
        found = architecture or f"model_type {source.config.get('model_type')!r}"
        raise ConfigError(
            f"model {model_id!r}: {location} holds {found}, which hf: does not serve; "
            f"supported architectures: {', '.join(ARCHITECTURES)}"
        )
    module_name, _, class_name = target.partition(":")
    import importlib

    cls: Callable[..., Model] = getattr(importlib.import_module(module_name), class_name)
    return cls(model_id, source)


def read_source(model_id: str, location: str) -> HfSource:
    """Read config.json from a directory, or from the hub (through its cache) for an id."""
    if not location:
        raise ConfigError(f"model {model_id!r}: write hf:/path/to/checkpoint or hf:owner/name")
    root = Path(location).expanduser()
    if root.is_dir():
        return HfSource(
            location=str(root), config=_read_json(model_id, root / "config.json"), local=True
        )
    if location.startswith(("/", ".", "~")) or location.count("/") != 1:
        raise ConfigError(f"model {model_id!r}: {root} is not a directory")
    try:
        from huggingface_hub import hf_hub_download

        path = hf_hub_download(location, "config.json")
    except ImportError as e:
        raise ConfigError(f"model {model_id!r} needs transformers: {INSTALL_HINT}") from e
    except Exception as e:  # offline, unknown repo, gated repo: all say the same to the user
        raise ConfigError(
            f"model {model_id!r}: could not fetch {location}/config.json from the Hugging Face "
            f"hub ({type(e).__name__}). On a machine without hub access, download the "
            f"checkpoint elsewhere (huggingface-cli download {location} --local-dir DIR), "
            "copy DIR here and serve hf:DIR"
        ) from e
    return HfSource(location=location, config=_read_json(model_id, Path(path)), local=False)


def _read_json(model_id: str, path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(
            f"model {model_id!r}: {path} is missing; point hf: at a directory written by "
            "save_pretrained (config.json, weights, tokenizer and processor files)"
        )
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"model {model_id!r}: {path} is not valid JSON: {e}") from e
    if not isinstance(loaded, dict):
        raise ConfigError(f"model {model_id!r}: {path} is not a JSON object")
    return loaded


def import_torch() -> Any:
    try:
        import torch
        import transformers
    except ImportError as e:
        raise ConfigError(f"hf: models need torch and transformers: {INSTALL_HINT}") from e
    # Loading bars are for notebooks; in a server's log they are noise.
    transformers.utils.logging.disable_progress_bar()
    return torch


_THREAD = threading.local()


def one_inference_thread() -> None:
    """Give the calling worker one intra-op thread, once. The batcher runs one worker per
    core; torch's own pool beside the HTTP threads collapses 3-30x on small machines."""
    if not getattr(_THREAD, "pinned", False):
        import torch

        torch.set_num_threads(1)
        _THREAD.pinned = True


def rgb_pixels(processor: Any, image: Any) -> Any:
    """(3, height, width) float32 pixel values of one image, as the checkpoint expects."""
    return processor(images=image, return_tensors="np")["pixel_values"][0]


def load_image_processor(source: HfSource) -> Any:
    from transformers import AutoImageProcessor

    # The PIL backend: torchvision is not installed, and PIL matches the reference outputs.
    return AutoImageProcessor.from_pretrained(
        source.location, backend="pil", **source.pretrained_kwargs()
    )
