"""The Flask app factory."""

from __future__ import annotations

import time

from flask import Flask

from mmserve import api, errors
from mmserve.api.common import Services
from mmserve.batching.pool import ModelPool
from mmserve.cli import models_command
from mmserve.config import Config, load_config
from mmserve.metrics import Metrics


def create_app(config: Config | None = None, *, wait_for_models: bool = False) -> Flask:
    """Build the app and start loading its models in the background.

    With `wait_for_models`, return only once every model has loaded (or failed to):
    tests and scripts use it; the server answers /readyz 503 while models load instead.
    """
    config = config or load_config()
    config.data_dir.mkdir(parents=True, exist_ok=True)
    app = Flask("mmserve")
    app.config["MAX_CONTENT_LENGTH"] = config.limits.max_body_bytes
    app.config["MMSERVE_STARTED_AT"] = int(time.time())
    app.json.sort_keys = False  # type: ignore[attr-defined]
    metrics = Metrics()
    pool = ModelPool.from_config(config, metrics)
    app.extensions["mmserve"] = Services(config=config, pool=pool, metrics=metrics)
    errors.init_app(app)
    api.init_app(app)
    app.cli.add_command(models_command)  # `flask --app mmserve.app models` works too
    pool.start(wait=wait_for_models)
    return app
