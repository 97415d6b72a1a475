"""Real vision models and real photos for tests, each loaded once per test session.

A functools.cache rather than a session fixture in conftest.py, so unit and API tests share
one instance without touching the shared conftest.
"""

from __future__ import annotations

import base64
import io
from functools import cache

import numpy as np
from PIL import Image

from mmserve.models.registry import create_model


@cache
def loaded(source: str):
    model = create_model(source, source)
    model.load()
    return model


def photo(name: str) -> Image.Image:
    """A scikit-image sample as an RGB PIL image: chelsea, coffee, rocket, astronaut, page..."""
    import skimage.data

    if name == "motorcycle":
        array = skimage.data.stereo_motorcycle()[0]
    else:
        array = getattr(skimage.data, name)()
    return Image.fromarray(np.asarray(array)).convert("RGB")


def encoded(name: str, fmt: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    photo(name).save(buffer, format=fmt, quality=92) if fmt == "JPEG" else photo(name).save(
        buffer, format=fmt
    )
    return buffer.getvalue()


def b64(name: str, fmt: str = "JPEG") -> str:
    return base64.b64encode(encoded(name, fmt)).decode("ascii")
