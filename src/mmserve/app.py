"""The Flask app factory: builds the one Services object, then registers the api on it."""

from __future__ import annotations

import multiprocessing.util
import time
import weakref
from typing import Any

from flask import Flask

from mmserve import api, errors
from mmserve.api import low_priority
from mmserve.api.json_provider import OrjsonProvider
from mmserve.batching.pool import ModelPool
from mmserve.cli.serve import models_command
from mmserve.config import Config, load_config
from mmserve.jobs import JobRunner
from mmserve.metrics import Metrics
from mmserve.services.aligned_models import AlignedServing
from mmserve.services.security import build_security
from mmserve.services.state import (
    Services,
    fusion_serving,
    open_label_sets,
    open_search_store,
)


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
    app.json = OrjsonProvider(app)
    # Batch lines call the app's own routes, after clients' requests (api/low_priority.py)
    services = build_services(config, dispatch=low_priority.init_app(app))
    app.extensions["mmserve"] = services
    # Flask has no "app stopped" hook: close (once) when the app is collected, at interpreter
    # exit, or when the multiprocessing child serving it ends: granian's worker process
    # leaves through os._exit, which skips atexit but runs multiprocessing's exit finalizers
    # after the server has stopped. Closing saves index files with unsaved changes.
    close = weakref.finalize(app, services.close)
    multiprocessing.util.Finalize(app, close, exitpriority=0)
    errors.init_app(app)
    api.init_app(app)
    app.cli.add_command(models_command)  # `flask --app mmserve.app models` works too
    services.security.start()  # flushes usage every [auth] usage_flush_s
    services.jobs.start()  # resumes interrupted jobs; they wait for the models they need
    services.pool.start(wait=wait_for_models)
    return app


def build_services(config: Config, *, dispatch: Any = None) -> Services:
    """Every subsystem of one app, built once, each from the configuration. `dispatch` lets
    jobs (batches) call the app's routes: (method, url, body) -> (status, body, request id)."""
    metrics = Metrics()
    if config.ray.enabled:  # imported only here: without [ray], nothing of Ray is loaded
        from mmserve.batching.ray_pool import ray_pool

        pool = ray_pool(config, metrics)
    else:
        pool = ModelPool.from_config(config, metrics)
    store = open_search_store(config)
    fusion = fusion_serving(config, metrics)
    return Services(
        config=config,
        metrics=metrics,
        pool=pool,
        store=store,
        jobs=JobRunner(store, pool, config, dispatch=dispatch),
        label_sets=open_label_sets(config),
        fusion=fusion,
        # after the pool: it resolves aligned/NAME ids; fusion's encoders, one copy per app
        aligned=AlignedServing.attach(pool, config, metrics, fusion.encoders),
        security=build_security(config, metrics),
    )
