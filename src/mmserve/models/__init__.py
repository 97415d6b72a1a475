"""Models: the contract (base.py: capabilities, optional features, shared types such as
Waveform and SpeechClip), the registry (registry.py) and one module per backend.

May import media/ and the leaf modules (config, errors, files); never flask, batching/,
store/, fusion/, services/ or anything above them."""

from mmserve.models.base import EMBED_TEXT, Model, TextEmbedder
from mmserve.models.registry import create_model, list_models, register

__all__ = ["EMBED_TEXT", "Model", "TextEmbedder", "create_model", "list_models", "register"]
