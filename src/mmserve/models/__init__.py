"""Models: the contract, the registry and the backends."""

from mmserve.models.base import EMBED_TEXT, Model, TextEmbedder
from mmserve.models.registry import create_model, list_models, register

__all__ = ["EMBED_TEXT", "Model", "TextEmbedder", "create_model", "list_models", "register"]
