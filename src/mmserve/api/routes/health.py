"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from mmserve.api.common import services
from mmserve.api.openapi import operation
from mmserve.api.schemas.health import Health, Readiness

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@operation("Liveness: the process answers", tags=["operations"], response=Health)
def healthz() -> Any:
    return jsonify(status="ok")


@bp.get("/readyz")
@operation(
    "Readiness: every model loaded, warm, last batch fine",
    tags=["operations"],
    response=Readiness,
    errors=(503,),
)
def readyz() -> Any:
    """200 only when every configured model is loaded and warm and its last batch did not
    fail on every item; otherwise 503 with each model's state."""
    pool = services().pool
    body = {"ready": pool.ready(), "models": {i: r.status() for i, r in pool.runners.items()}}
    return jsonify(body), 200 if body["ready"] else 503


@bp.get("/metrics")
@operation("Prometheus metrics", tags=["operations"], content_type=CONTENT_TYPE_LATEST)
def metrics() -> Response:
    return Response(generate_latest(services().metrics.registry), mimetype=CONTENT_TYPE_LATEST)
