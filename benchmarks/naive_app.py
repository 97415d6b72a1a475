"""The baseline: the embeddings endpoint a tutorial shows, one model call per request.

Same model, same response shape and the same HTTP server setup as mmserve (server.run_wsgi:
granian, one process, the default thread count), but no batcher: each request thread
tokenises its text and runs a batch of 1. Run it as

    .venv/bin/python benchmarks/naive_app.py --port 8001
"""

from __future__ import annotations

import argparse
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, request
from workload import MODEL_ID

from mmserve.config import load_config

WARMUP_TEXT = "warm-up sentence"

bp = Blueprint("naive", __name__)


@bp.post("/v1/embeddings")
def embeddings() -> Any:
    model = current_app.extensions["naive_model"]
    text = request.get_json()["input"]
    tokens = model.preprocess(text)
    vector = model.forward([tokens])[0]
    return jsonify(
        {
            "object": "list",
            "data": [{"object": "embedding", "index": 0, "embedding": vector.tolist()}],
            "model": MODEL_ID,
            "usage": {"prompt_tokens": len(tokens), "total_tokens": len(tokens)},
        }
    )


@bp.get("/readyz")
def readyz() -> Any:
    return jsonify(ready=True)  # the model loads before the app exists


def create_naive_app(source: str = MODEL_ID) -> Flask:
    """The app, on `source`'s model (bench_request_cpu.py passes a fake one)."""
    from mmserve.models.registry import create_model

    model = create_model(MODEL_ID, source)
    model.load()
    model.forward([model.preprocess(WARMUP_TEXT)])
    app = Flask("naive")
    app.extensions["naive_model"] = model
    app.register_blueprint(bp)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    # Imported here: bench_request_cpu imports this module's routes with older trees too.
    from mmserve.server import run_wsgi

    # Built in the worker process, as mmserve's app is
    run_wsgi(load_config(overrides={"host": args.host, "port": args.port}), create_naive_app)


if __name__ == "__main__":
    main()
