from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mmserve.app import create_app
from mmserve.config import Config, Limits, ModelConfig
from tests.auth_helpers import make_auth_app  # noqa: F401  (fixture: apps with auth on)


def fake_config(tmp_path: Any, *models: ModelConfig, **limits: Any) -> Config:
    return Config(
        data_dir=tmp_path / "data",
        models=models or (ModelConfig(id="fake", max_wait_ms=1),),
        limits=Limits(**limits),
    )


@pytest.fixture
def make_app(tmp_path: Any) -> Iterator[Callable[..., Flask]]:
    """Build apps served by fake models (stopped after the test)."""
    apps: list[Flask] = []

    def build(*models: ModelConfig, **limits: Any) -> Flask:
        app = create_app(fake_config(tmp_path, *models, **limits), wait_for_models=True)
        app.config["TESTING"] = True
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.extensions["mmserve"].pool.stop()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
