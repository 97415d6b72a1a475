"""`mmserve fusion demo-data`: a small data set that only fusion can solve.

Each row is a rendered picture (one coloured shape on a light background, random size and
place) and a caption naming a colour and a shape. The label says whether the caption
matches the picture. Captions and pictures are drawn so that each alone says nothing about
the label: every caption and every picture is as common among matches as among mismatches.
A model must compare the two to beat chance.

With `audio=True` an audio column holds short tones (a random pitch, unrelated to the
label; about a fifth of the rows have none): a modality to show masking and to show that
fusion learns to ignore an input that carries nothing.
"""

from __future__ import annotations

import csv
import math
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

COLOURS = {
    "red": (214, 39, 40),
    "green": (44, 160, 44),
    "blue": (31, 119, 180),
    "yellow": (235, 200, 30),
}
SHAPES = ("circle", "square", "triangle")
TEMPLATES = (
    "a {colour} {shape}",
    "a photo of a {colour} {shape}",
    "there is a {colour} {shape} in the picture",
    "one {colour} {shape} on a plain background",
)
IMAGE_SIZE = 128  # pixels, square
AUDIO_RATE = 16_000  # Hz
AUDIO_SECONDS = 1.0
AUDIO_MISSING = 0.2  # share of rows without audio


@dataclass(frozen=True)
class DemoSummary:
    csv: Path
    rows: int
    matches: int


def make_demo_data(
    out: str | Path, *, rows: int = 400, seed: int = 0, audio: bool = False
) -> DemoSummary:
    """Write OUT/data.csv (text, image, [audio], label) and OUT/images/*.png."""
    from PIL import Image, ImageDraw

    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    if audio:
        (out / "audio").mkdir(exist_ok=True)
    rng = np.random.default_rng(seed)
    colours, shapes = list(COLOURS), list(SHAPES)
    records, matches = [], 0
    for i in range(rows):
        colour, shape = colours[rng.integers(len(colours))], shapes[rng.integers(len(shapes))]
        match = bool(rng.integers(2))
        said_colour, said_shape = colour, shape
        if not match:  # change the colour, the shape, or both
            change = rng.integers(3)
            if change in (0, 2):
                said_colour = _other(colours, colour, rng)
            if change in (1, 2):
                said_shape = _other(shapes, shape, rng)
        template = TEMPLATES[rng.integers(len(TEMPLATES))]
        image = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), _background(rng))
        _draw(ImageDraw.Draw(image), shape, COLOURS[colour], rng)
        name = f"images/{i:05d}.png"
        image.save(out / name)
        record = {
            "text": template.format(colour=said_colour, shape=said_shape),
            "image": name,
            "label": "match" if match else "mismatch",
        }
        if audio:
            record["audio"] = _tone(out, i, rng) if rng.random() >= AUDIO_MISSING else ""
        records.append(record)
        matches += match
    path = out / "data.csv"
    with path.open("w", newline="") as f:
        fields = ["text", "image"] + (["audio"] if audio else []) + ["label"]
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(records)
    return DemoSummary(path, rows, matches)


def _other(options: list[str], current: str, rng: np.random.Generator) -> str:
    rest = [o for o in options if o != current]
    return rest[rng.integers(len(rest))]


def _background(rng: np.random.Generator) -> tuple[int, int, int]:
    grey = int(rng.integers(215, 256))
    return tuple(int(np.clip(grey + rng.integers(-12, 13), 0, 255)) for _ in range(3))  # type: ignore[return-value]


def _draw(draw: object, shape: str, rgb: tuple[int, int, int], rng: np.random.Generator) -> None:
    size = int(rng.integers(IMAGE_SIZE * 3 // 10, IMAGE_SIZE * 7 // 10))
    x = int(rng.integers(4, IMAGE_SIZE - size - 4))
    y = int(rng.integers(4, IMAGE_SIZE - size - 4))
    jitter = rng.integers(-20, 21, 3)
    fill = tuple(int(np.clip(c + j, 0, 255)) for c, j in zip(rgb, jitter, strict=True))
    box = (x, y, x + size, y + size)
    if shape == "circle":
        draw.ellipse(box, fill=fill)  # type: ignore[attr-defined]
    elif shape == "square":
        draw.rectangle(box, fill=fill)  # type: ignore[attr-defined]
    else:
        points = [(x + size / 2, y), (x, y + size), (x + size, y + size)]
        draw.polygon(points, fill=fill)  # type: ignore[attr-defined]


def _tone(out: Path, i: int, rng: np.random.Generator) -> str:
    """A 1 s sine at a random pitch with a little noise, 16-bit mono WAV."""
    hz = float(rng.uniform(200, 2000))
    t = np.arange(int(AUDIO_RATE * AUDIO_SECONDS)) / AUDIO_RATE
    samples = 0.4 * np.sin(2 * math.pi * hz * t) + 0.02 * rng.standard_normal(len(t))
    name = f"audio/{i:05d}.wav"
    with wave.open(str(out / name), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(AUDIO_RATE)
        f.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return name
