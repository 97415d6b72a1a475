"""Apps with the search store and job runner, closed after each test (fixtures for the
collection, search, jobs and CLI tests)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask import Flask

from mmserve.app import create_app
from mmserve.config import Config, Limits, ModelConfig
from mmserve.media import MediaPolicy
from mmserve.models.base import EMBED_AUDIO, EMBED_IMAGE, EMBED_TEXT, Model, Waveform
from mmserve.models.registry import register

FAKE = ModelConfig(id="fake", max_wait_ms=1)


def with_media_root(config: Config, root: Path) -> Config:
    return dataclasses.replace(config, media=MediaPolicy(media_root=root))


def close_app(app: Flask) -> None:
    services = app.extensions["mmserve"]
    services.jobs.stop()
    services.pool.stop()
    services.store.close()


@pytest.fixture
def make_search_app(tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    apps: list[Flask] = []

    def build(
        *models: ModelConfig,
        data_dir: Path | None = None,
        media_root: Path | None = None,
        **limits: Any,
    ) -> Flask:
        config = Config(
            data_dir=data_dir or tmp_path / "data",
            models=models or (FAKE,),
            limits=Limits(**limits),
        )
        if media_root is not None:
            config = with_media_root(config, media_root)
        app = create_app(config, wait_for_models=True)
        app.config["TESTING"] = True
        apps.append(app)
        return app

    yield build
    for app in apps:
        close_app(app)


def wait_for_job(client: Any, job_id: str, states: tuple[str, ...], timeout_s: float = 30) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").get_json()
        if job["state"] in states:
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} never reached {states}: {job}")


class ColourAndSoundEmbedder(Model):
    """A fake model for weights that embeds all three modalities by hand-computable rules:
    an image -> its mean (R, G, B, 0); audio -> (0, 0, 0, 1) scaled by its RMS;
    a text -> (len(text), 0, 0, 1)."""

    capabilities = frozenset({EMBED_TEXT, EMBED_IMAGE, EMBED_AUDIO})
    modality = "multimodal"

    def __init__(self, model_id: str):
        super().__init__(model_id)
        self.seen: list[str] = []  # the kind of every item forward received

    def load(self) -> None:
        pass

    def preprocess(self, item: Any) -> Any:
        if isinstance(item, str | Waveform):
            return item
        return np.asarray(item, dtype=np.float32).reshape(-1, 3).mean(axis=0)  # PIL RGB

    def forward(self, batch: list[Any]) -> list[np.ndarray]:
        out = []
        for item in batch:
            if isinstance(item, str):
                self.seen.append("text")
                out.append(np.array([len(item), 0, 0, 1], dtype=np.float32))
            elif isinstance(item, Waveform):
                self.seen.append("audio")
                rms = float(np.sqrt(np.mean(item.samples**2))) + 1e-3
                out.append(np.array([0, 0, 0, rms], dtype=np.float32))
            else:
                self.seen.append("image")
                out.append(np.array([*item, 0], dtype=np.float32) + 1e-3)
        return out

    def warmup_inputs(self) -> list[Any]:
        return ["warm up"]

    def describe(self) -> dict[str, Any]:
        return {"dimensions": 4}


@register("test-multimodal", "test double: images by colour, audio by loudness")
def colour_and_sound(model_id: str, options: str) -> ColourAndSoundEmbedder:
    return ColourAndSoundEmbedder(model_id)
