"""Apps with auth on, and keys for them, for the auth tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from mmserve.app import create_app
from mmserve.config import Config, ModelConfig
from mmserve.security_config import AuthConfig


def auth_config(tmp_path: Path, *models: ModelConfig, **auth: Any) -> Config:
    auth.setdefault("mode", "keys")
    return Config(
        data_dir=tmp_path / "data",
        models=models or (ModelConfig(id="fake", max_wait_ms=1),),
        auth=AuthConfig(**auth),
    )


def stop(app: Flask) -> None:
    app.extensions["mmserve"].pool.stop()
    app.extensions["mmserve"].security.close()


@pytest.fixture
def make_auth_app(tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Build apps with auth on (default mode "keys"), closed after the test."""
    apps: list[Flask] = []

    def build(*models: ModelConfig, config: Config | None = None, **auth: Any) -> Flask:
        app = create_app(config or auth_config(tmp_path, *models, **auth), wait_for_models=True)
        app.config["TESTING"] = True
        apps.append(app)
        return app

    yield build
    for app in apps:
        stop(app)


def new_key(app: Flask, name: str, *scopes: str, **options: Any) -> str:
    _, secret = app.extensions["mmserve"].security.keys.create(name, list(scopes), **options)
    return secret


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
