"""mmserve: multimodal models behind one dependable HTTP API."""

__version__ = "0.1.0"

from mmserve.app import create_app  # noqa: E402

__all__ = ["__version__", "create_app"]
