"""Model registry, after open_clip's factory: a dict filled by @register, one loading path
for the server, the CLI and training alike.

A source is a registered name ("minilm") or scheme-prefixed ("local:/path/to/dir").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from mmserve.errors import ConfigError
from mmserve.models.base import Model

Factory = Callable[[str, str], Model]  # (served id, argument after the scheme) -> Model
F = TypeVar("F", bound=Factory)

_FACTORIES: dict[str, Factory] = {}
_DESCRIPTIONS: dict[str, str] = {}


def register(name: str, description: str = "") -> Callable[[F], F]:
    """Register a factory under a name, or under a scheme when the name ends with ':'."""

    def decorator(factory: F) -> F:
        if name in _FACTORIES:
            raise ValueError(f"model source {name!r} is registered twice")
        _FACTORIES[name] = factory
        _DESCRIPTIONS[name] = description or (factory.__doc__ or "").strip().split("\n")[0]
        return factory

    return decorator


def list_models() -> dict[str, str]:
    """Registered names and schemes with a one-line description each."""
    _import_backends()
    return dict(sorted(_DESCRIPTIONS.items()))


def create_model(model_id: str, source: str) -> Model:
    """Build (not load) the model a source names."""
    _import_backends()
    scheme, sep, argument = source.partition(":")
    key = scheme + ":" if sep else source
    factory = _FACTORIES.get(key)
    if factory is None:
        known = ", ".join(list_models())
        raise ConfigError(f"model {model_id!r}: unknown source {source!r}; known: {known}")
    return factory(model_id, argument)


def _import_backends() -> None:
    # Imported here, not at package import, so `import mmserve` stays cheap and a backend's
    # optional dependency is only needed when it is used.
    # bridge composes minilm, imagenet and yamnet; hf imports torch and transformers only
    # when one of its models is built.
    from mmserve.models import (  # noqa: F401
        bridge,
        fake,
        hf,
        imagenet,
        ocr,
        onnx_text,
        upstream,
        whisper,
        yamnet,
    )
