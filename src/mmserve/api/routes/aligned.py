"""Aligned embedding models over HTTP: the registry (/v1/aligned/models). Serving needs no
route of its own: `aligned/NAME` is a model id every embedding route takes (the ModelPool
resolves it through services/aligned_models.py)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from mmserve.api.common import parse_body, services
from mmserve.api.openapi import operation
from mmserve.api.schemas.aligned import (
    AlignedActivate,
    AlignedModelList,
    AlignedModelOut,
    AlignedRegister,
)
from mmserve.services.aligned_models import PREFIX, AlignedServing

bp = Blueprint("aligned", __name__)


def aligned() -> AlignedServing:
    return services().aligned


@bp.post("/v1/aligned/models")
@operation(
    "Register an aligned model (mmserve align output)",
    tags=["aligned"],
    request=AlignedRegister,
    response=AlignedModelOut,
    errors=(400, 404, 422),
    status=201,
)
def register_model() -> Any:
    """Copies the directory in as the next version (active by default); served as
    aligned/<name> from the next request on, no restart."""
    body = parse_body(AlignedRegister)
    svc = services()
    entry = svc.aligned.register(body.path, body.name, activate=body.activate, config=svc.config)
    return jsonify(entry.as_dict()), 201


@bp.get("/v1/aligned/models")
@operation("List aligned models", tags=["aligned"], response=AlignedModelList)
def list_models() -> Any:
    return jsonify(object="list", data=[e.as_dict() for e in aligned().entries().values()])


@bp.get("/v1/aligned/models/<name>")
@operation("One aligned model", tags=["aligned"], response=AlignedModelOut, errors=(404,))
def get_model(name: str) -> Any:
    return jsonify(aligned().registry.get(name).as_dict())


@bp.post("/v1/aligned/models/<name>/activate")
@operation(
    "Serve another version",
    tags=["aligned"],
    request=AlignedActivate,
    response=AlignedModelOut,
    errors=(404, 422),
)
def activate(name: str) -> Any:
    body = parse_body(AlignedActivate)
    return jsonify(aligned().registry.activate(name, body.version).as_dict())


@bp.post("/v1/aligned/models/<name>/rollback")
@operation(
    "Serve the version active before",
    tags=["aligned"],
    response=AlignedModelOut,
    errors=(400, 404),
)
def rollback(name: str) -> Any:
    return jsonify(aligned().registry.rollback(name).as_dict())


@bp.delete("/v1/aligned/models/<name>")
@operation("Unregister an aligned model", tags=["aligned"], errors=(404,))
def remove(name: str) -> Any:
    aligned().registry.remove(name)
    return jsonify(object="aligned_model", id=f"{PREFIX}{name}", deleted=True)
