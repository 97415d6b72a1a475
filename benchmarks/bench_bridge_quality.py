"""Retrieval quality of the `bridge` model's variants, side by side, on real inputs.

Images: scikit-image's bundled photos (no download), each with a descriptive text query and
a short label. Audio: clips synthesised here (espeak-ng speech when installed, tones, noise,
a siren sweep, clicks). For every variant of BridgeSpec it prints:

  t2i@1    text -> image: the query's own photo ranks first among all photos
  zs@1     zero-shot: the photo's own label ranks first among all labels (plain label text)
  mrr      mean reciprocal rank of text -> image
  margin   mean over queries of (own photo's cosine - best other photo's cosine)
  t2a@1    text -> audio, zs-a@1 zero-shot audio, over the synthetic clips

The classifiers run once per input; variants only re-weight their probabilities, so the
comparison is exact, not noisy. Run: .venv/bin/python benchmarks/bench_bridge_quality.py
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from mmserve.models.base import Waveform
from mmserve.models.bridge import Bridge, BridgeSpec, clip_scores, mix

RATE = 16_000  # Hz

# (skimage.data function, query, label)
PHOTOS = [
    ("astronaut", "an astronaut in a space suit", "astronaut"),
    ("chelsea", "a cat lying down", "cat"),
    ("coffee", "a cup of coffee", "coffee"),
    ("rocket", "a rocket on the launch pad", "rocket"),
    ("stereo_motorcycle", "a motorcycle", "motorcycle"),
    ("page", "a page of printed text", "text document"),
    ("camera", "a photographer with a camera", "cameraman"),
    ("horse", "the silhouette of a horse", "horse"),
    ("coins", "a collection of old coins", "coins"),
    ("clock", "a clock on the wall", "clock"),
    ("moon", "the surface of the moon", "moon"),
    ("brick", "a brick wall", "brick wall"),
    ("grass", "a lawn of grass", "grass"),
    ("gravel", "a heap of gravel stones", "gravel"),
    ("hubble_deep_field", "galaxies in deep space", "galaxy"),
    ("immunohistochemistry", "cells under a microscope", "microscopy"),
]

# (name, query, label); clips made by `audio_clips`
SOUNDS = [
    ("speech", "a person speaking", "speech"),
    ("tone", "a steady beep", "beep"),
    ("noise", "white noise static", "noise"),
    ("siren", "a siren wailing", "siren"),
    ("clicks", "a clock ticking", "ticking"),
    ("chord", "music playing", "music"),
]

IMAGE_ENSEMBLE = ("a photo of a {}.", "a {}.", "a close-up photo of a {}.", "a picture of {}.")
AUDIO_ENSEMBLE = ("the sound of {}.", "{}.", "a recording of {}.", "you can hear {}.")


def photos() -> list[np.ndarray]:
    import skimage.data

    out = []
    for name, _, _ in PHOTOS:
        image = getattr(skimage.data, name)()
        image = image[0] if isinstance(image, tuple) else image  # stereo pair: the left view
        if image.dtype == bool:  # the horse is a binary mask: black horse on white
            image = np.where(image, 0, 255).astype(np.uint8)
        if image.ndim == 2:
            image = np.stack([image] * 3, axis=-1)
        out.append(image[..., :3])
    return out


def audio_clips() -> list[np.ndarray]:
    t = np.arange(2 * RATE) / RATE  # 2 s
    rng = np.random.default_rng(0)
    sweep = np.sin(2 * np.pi * np.cumsum(900 + 400 * np.sin(2 * np.pi * 0.5 * t)) / RATE)
    clicks = np.zeros_like(t)
    clicks[:: RATE // 2] = 1.0  # a click every 0.5 s
    clicks = np.convolve(clicks, np.hanning(80), mode="same")
    chord = sum(np.sin(2 * np.pi * f * t) for f in (261.6, 329.6, 392.0)) / 3
    return [
        speech("the quick brown fox jumps over the lazy dog near the river bank"),
        0.5 * np.sin(2 * np.pi * 1000 * t),
        0.3 * rng.normal(size=len(t)),
        0.5 * sweep,
        0.8 * clicks,
        0.5 * chord * (1 - np.exp(-t * 20)),
    ]


def speech(text: str) -> np.ndarray:
    """espeak-ng's voice at 16 kHz (installed by `make install`)."""
    if shutil.which("espeak-ng") is None:
        raise SystemExit("the speech clip needs espeak-ng: apt-get install espeak-ng")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "speech.wav"
        subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
        from mmserve.media import decode_audio

        return decode_audio(path.read_bytes())


def rank_metrics(queries: np.ndarray, items: np.ndarray) -> tuple[float, float, float]:
    """queries[i] belongs with items[i]: (top-1 rate, mean reciprocal rank, mean margin)."""
    sims = queries @ items.T  # (n, n)
    own = np.diag(sims)
    ranks = (sims > own[:, None]).sum(axis=1) + 1
    others = np.where(np.eye(len(sims), dtype=bool), -np.inf, sims).max(axis=1)
    return float((ranks == 1).mean()), float((1 / ranks).mean()), float((own - others).mean())


def zero_shot(labels: np.ndarray, items: np.ndarray) -> float:
    return float(((items @ labels.T).argmax(axis=1) == np.arange(len(items))).mean())


def main() -> None:
    from PIL import Image

    started = time.perf_counter()
    bridge = Bridge("bridge")
    bridge.load()
    print(f"loaded in {time.perf_counter() - started:.1f} s")
    image_probs = [
        bridge.image.postprocess(
            bridge.image.forward([bridge.image.preprocess(Image.fromarray(p))])[0]
        )
        for p in photos()
    ]
    clip_probs = [
        clip_scores(
            bridge.audio.postprocess(
                bridge.audio.forward([bridge.audio.preprocess(Waveform(c.astype(np.float32)))])[0]
            )
        )
        for c in audio_clips()
    ]
    image_queries = bridge.embed_texts([q for _, q, _ in PHOTOS])
    image_labels = bridge.embed_texts([lab for _, _, lab in PHOTOS])
    sound_queries = bridge.embed_texts([q for _, q, _ in SOUNDS])
    sound_labels = bridge.embed_texts([lab for _, _, lab in SOUNDS])
    for (name, _, _), probs in zip(PHOTOS, image_probs, strict=True):
        top = np.argsort(probs)[::-1][:3]
        print(
            f"  {name:22s}", ", ".join(f"{bridge.image.class_names[i]} {probs[i]:.2f}" for i in top)
        )
    for (name, _, _), probs in zip(SOUNDS, clip_probs, strict=True):
        top = np.argsort(probs)[::-1][:3]
        print(
            f"  {name:22s}", ", ".join(f"{bridge.audio.class_names[i]} {probs[i]:.2f}" for i in top)
        )

    base = BridgeSpec(top_k=0, temperature=1.0, centre=False)
    ensemble = {"image_prompts": IMAGE_ENSEMBLE, "audio_prompts": AUDIO_ENSEMBLE}
    variants = {
        "all classes, T=1 (MODELS.md recipe)": base,
        "top-1": replace(base, top_k=1),
        "top-5": replace(base, top_k=5),
        "top-10": replace(base, top_k=10),
        "top-20": replace(base, top_k=20),
        "top-50": replace(base, top_k=50),
        "all, T=0.5": replace(base, temperature=0.5),
        "all, T=2": replace(base, temperature=2.0),
        "top-20, T=2": replace(base, top_k=20, temperature=2.0),
        "4-prompt ensemble, all": replace(base, **ensemble),
        "4-prompt ensemble, top-20, T=2": replace(base, top_k=20, temperature=2.0, **ensemble),
        "bare class name prompt, all": replace(base, image_prompts=("{}",), audio_prompts=("{}",)),
        "centred anchors, all": replace(base, centre=True),
        "centred, top-10, T=2": replace(base, centre=True, top_k=10, temperature=2.0),
        "centred, ensemble, top-20, T=2": replace(
            base, centre=True, top_k=20, temperature=2.0, **ensemble
        ),
        "centred, top-20, T=2 (default)": BridgeSpec(),
    }
    print(f"\n{len(PHOTOS)} photos, {len(SOUNDS)} sounds")
    print(
        "| variant | t2i@1 | zs@1 | mrr | margin | t2a@1 | zs-a@1 |\n|---|---|---|---|---|---|---|"
    )
    for label, spec in variants.items():
        bridge.spec = spec
        image_anchors = bridge.mixing_anchors(bridge.image.class_names, spec.image_prompts)
        audio_anchors = bridge.mixing_anchors(bridge.audio.class_names, spec.audio_prompts)
        images = np.stack([mix(p, image_anchors, spec) for p in image_probs])
        sounds = np.stack([mix(p, audio_anchors, spec) for p in clip_probs])
        t2i, mrr, margin = rank_metrics(image_queries, images)
        t2a, _, _ = rank_metrics(sound_queries, sounds)
        print(
            f"| {label} | {t2i:.2f} | {zero_shot(image_labels, images):.2f} | {mrr:.2f} | "
            f"{margin:+.3f} | {t2a:.2f} | {zero_shot(sound_labels, sounds):.2f} |"
        )


if __name__ == "__main__":
    main()
