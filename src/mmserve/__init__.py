"""mmserve: multimodal models behind one dependable HTTP API."""

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "create_app"]


def __getattr__(name: str) -> Any:
    # `from mmserve import create_app` works, yet importing mmserve (or mmserve.client,
    # which needs only httpx2) loads no Flask app, numpy or model runtime.
    if name == "create_app":
        from mmserve.app import create_app

        return create_app
    raise AttributeError(f"module 'mmserve' has no attribute {name!r}")
