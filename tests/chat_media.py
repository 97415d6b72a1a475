"""Media for the chat tests: a real photo with a sign drawn on it, a spoken clip."""

from __future__ import annotations

import base64
import io
from functools import cache

from PIL import ImageDraw, ImageFont

from tests.audio_models import speech_wav
from tests.vision_models import photo

SIGN_TEXT = "NO PARKING"
SPOKEN = "Please call me tomorrow morning before the meeting starts."


@cache
def sign_photo_png() -> bytes:
    """scikit-image's coffee cup with a white sign reading SIGN_TEXT in its top-left corner."""
    image = photo("coffee").copy()
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=40)
    draw.rectangle((20, 20, 320, 90), fill="white", outline="black", width=3)
    draw.text((35, 30), SIGN_TEXT, fill="black", font=font)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def image_part(data: bytes) -> dict:
    return {"type": "image_url", "image_url": {"url": data_uri(data)}}


@cache
def spoken_wav() -> bytes:
    return speech_wav(SPOKEN)


def audio_part(data: bytes) -> dict:
    encoded = base64.b64encode(data).decode("ascii")
    return {"type": "input_audio", "input_audio": {"data": encoded, "format": "wav"}}


def ask(*parts: dict | str) -> list[dict]:
    content = [{"type": "text", "text": p} if isinstance(p, str) else p for p in parts]
    return [{"role": "user", "content": content}]
