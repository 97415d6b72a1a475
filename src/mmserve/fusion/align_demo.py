"""`mmserve align demo-data`: pairs whose meaning ImageNet's and AudioSet's labels cannot see.

Each row is a rendered scene of two coloured shapes, one left of or above the other, and a
caption that says which ("a red circle left of a blue square"); with `speech`, the caption
spoken by espeak-ng as well. No ImageNet class is "red", "triangle" or "left of", so the
label-anchor `bridge` embeds these pictures near each other whatever they show; an aligned
model learns colours, shapes and (as far as pooled CNN features keep it) their placement.

    OUT/pairs.csv      text, image[, audio]
    OUT/images/*.png   128x128 RGB
    OUT/audio/*.wav    espeak-ng, 22.05 kHz mono (only with speech)
"""

from __future__ import annotations

import csv
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmserve.errors import ConfigError
from mmserve.fusion.demo import COLOURS, IMAGE_SIZE, SHAPES, _background

RELATIONS = ("left of", "above")
SPEECH_TIMEOUT_S = 10  # one caption takes ~50 ms to speak


@dataclass(frozen=True)
class Scene:
    first: tuple[str, str]  # (colour, shape)
    second: tuple[str, str]
    relation: str  # first <relation> second

    @property
    def caption(self) -> str:
        (c1, s1), (c2, s2) = self.first, self.second
        return f"a {c1} {s1} {self.relation} a {c2} {s2}"


@dataclass(frozen=True)
class AlignDemoSummary:
    csv: Path
    rows: int
    speech: bool


def espeak() -> str | None:
    return shutil.which("espeak-ng")


def make_align_demo(
    out: str | Path, *, rows: int = 800, seed: int = 0, speech: bool | None = None
) -> AlignDemoSummary:
    """Write the scenes; `speech` None: spoken captions when espeak-ng is installed."""
    from PIL import Image, ImageDraw

    if speech and espeak() is None:
        raise ConfigError("spoken captions need espeak-ng (apt-get install espeak-ng)")
    speech = bool(espeak()) if speech is None else speech
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    if speech:
        (out / "audio").mkdir(exist_ok=True)
    rng = np.random.default_rng(seed)
    records = []
    for i in range(rows):
        scene = random_scene(rng)
        image = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), _background(rng))
        draw_scene(ImageDraw.Draw(image), scene, rng)
        record = {"text": scene.caption, "image": f"images/{i:05d}.png"}
        image.save(out / record["image"])
        if speech:
            record["audio"] = f"audio/{i:05d}.wav"
            _speak(scene.caption, out / record["audio"])
        records.append(record)
    path = out / "pairs.csv"
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    return AlignDemoSummary(path, rows, speech)


def random_scene(rng: np.random.Generator) -> Scene:
    colours, shapes = list(COLOURS), list(SHAPES)
    first = (colours[rng.integers(4)], shapes[rng.integers(3)])
    while True:  # two different objects, so the caption pins the order down
        second = (colours[rng.integers(4)], shapes[rng.integers(3)])
        if second != first:
            break
    return Scene(first, second, RELATIONS[rng.integers(len(RELATIONS))])


def draw_scene(draw: object, scene: Scene, rng: np.random.Generator) -> None:
    """The first object in the left (or top) half, the second in the other half."""
    half = IMAGE_SIZE // 2
    for k, (colour, shape) in enumerate((scene.first, scene.second)):
        size = int(rng.integers(half * 5 // 10, half * 9 // 10))
        along = k * half + int(rng.integers(2, half - size - 1))  # across the relation's axis
        across = int(rng.integers(4, IMAGE_SIZE - size - 4))
        x, y = (along, across) if scene.relation == "left of" else (across, along)
        _shape(draw, shape, COLOURS[colour], (x, y, x + size, y + size), rng)


def _shape(
    draw: object, shape: str, rgb: tuple[int, int, int], box: tuple[int, ...], rng: object
) -> None:
    jitter = rng.integers(-20, 21, 3)  # type: ignore[attr-defined]
    fill = tuple(int(np.clip(c + j, 0, 255)) for c, j in zip(rgb, jitter, strict=True))
    x0, y0, x1, y1 = box
    if shape == "circle":
        draw.ellipse(box, fill=fill)  # type: ignore[attr-defined]
    elif shape == "square":
        draw.rectangle(box, fill=fill)  # type: ignore[attr-defined]
    else:
        draw.polygon([((x0 + x1) / 2, y0), (x0, y1), (x1, y1)], fill=fill)  # type: ignore[attr-defined]


def _speak(text: str, path: Path) -> None:
    binary = espeak()
    if binary is None:
        raise ConfigError("spoken captions need espeak-ng (apt-get install espeak-ng)")
    subprocess.run(
        [binary, "-v", "en", "-w", str(path), text],
        check=True,
        capture_output=True,
        timeout=SPEECH_TIMEOUT_S,
    )
