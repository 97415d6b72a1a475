"""Aligned embedding models over HTTP: the registry (/v1/aligned/models). Serving needs no
route of its own: `aligned/NAME` is a model id every embedding route takes (the ModelPool
resolves it through services/aligned_models.py)."""

from __future__ import annotations

import weakref
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify

from mmserve.api.common import parse_body, services
from mmserve.api.fusion_schemas import FusionActivate, FusionModelList, FusionModelOut
from mmserve.api.fusion_schemas import FusionRegister as AlignedRegister
from mmserve.api.openapi import operation
from mmserve.errors import ConfigError, InvalidRequest
from mmserve.fusion.aligned import check_aligned
from mmserve.fusion.pipeline import allowed_path
from mmserve.services.aligned_models import PREFIX, AlignedServing

bp = Blueprint("aligned", __name__)
EXTENSION = "mmserve_aligned"


def init_app(app: Flask) -> None:
    svc = app.extensions["mmserve"]
    serving = AlignedServing.attach(
        svc.pool, svc.config.data_dir, svc.metrics, svc.config.limits.request_timeout_s
    )
    fusion = app.extensions.get("mmserve_fusion")
    if fusion is not None:  # one copy of each encoder for fusion and aligned models
        serving.encoders = fusion.encoders
    app.extensions[EXTENSION] = serving
    weakref.finalize(app, serving.stop)
    app.register_blueprint(bp)


def aligned() -> AlignedServing:
    found: AlignedServing = current_app.extensions[EXTENSION]
    return found


@bp.post("/v1/aligned/models")
@operation(
    "Register an aligned model (mmserve align output)",
    tags=["aligned"],
    request=AlignedRegister,
    response=FusionModelOut,
    errors=(400, 404, 422),
    status=201,
)
def register_model() -> Any:
    """Copies the directory in as the next version (active by default); served as
    aligned/<name> from the next request on, no restart."""
    body = parse_body(AlignedRegister)
    config = services().config
    path = allowed_path(body.path, config.data_dir, config.media.media_root, param="path")
    try:
        summary = check_aligned(path)
    except ConfigError as e:
        raise InvalidRequest(str(e), param="path", code="not_servable") from None
    aligned().registry.register(body.name, path, activate=body.activate, summary=summary)
    return jsonify(aligned().registry.get(body.name).as_dict()), 201


@bp.get("/v1/aligned/models")
@operation("List aligned models", tags=["aligned"], response=FusionModelList)
def list_models() -> Any:
    return jsonify(object="list", data=[e.as_dict() for e in aligned().entries().values()])


@bp.get("/v1/aligned/models/<name>")
@operation("One aligned model", tags=["aligned"], response=FusionModelOut, errors=(404,))
def get_model(name: str) -> Any:
    return jsonify(aligned().registry.get(name).as_dict())


@bp.post("/v1/aligned/models/<name>/activate")
@operation(
    "Serve another version",
    tags=["aligned"],
    request=FusionActivate,
    response=FusionModelOut,
    errors=(404, 422),
)
def activate(name: str) -> Any:
    body = parse_body(FusionActivate)
    return jsonify(aligned().registry.activate(name, body.version).as_dict())


@bp.post("/v1/aligned/models/<name>/rollback")
@operation(
    "Serve the version active before", tags=["aligned"], response=FusionModelOut, errors=(400, 404)
)
def rollback(name: str) -> Any:
    return jsonify(aligned().registry.rollback(name).as_dict())


@bp.delete("/v1/aligned/models/<name>")
@operation("Unregister an aligned model", tags=["aligned"], errors=(404,))
def remove(name: str) -> Any:
    aligned().registry.remove(name)
    return jsonify(object="aligned_model", id=f"{PREFIX}{name}", deleted=True)
