"""GET /v1/models in the OpenAI list shape, plus modality, capabilities, state, batching."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify

from mmserve.api.common import services
from mmserve.api.openapi import operation
from mmserve.api.schemas.models import ModelCard, ModelList
from mmserve.batching.runner import ModelRunner
from mmserve.services.chat import GROUNDED

bp = Blueprint("models", __name__)


def model_card(runner: ModelRunner, created: int) -> dict[str, Any]:
    model = runner.model
    status = runner.status()
    return {
        "id": model.id,
        "object": "model",
        "created": created,
        "owned_by": "mmserve",
        "source": runner.config.source,
        "modality": model.modality,
        "capabilities": sorted(model.capabilities),
        "state": status["state"],
        "error": status["error"],
        "queue_depth": status["queue_depth"],
        "batching": status["batching"],
        "details": model.describe() if status["state"] != "failed" else {},
    }


def grounded_card(created: int) -> dict[str, Any]:
    """`grounded` is always served but is no pool model: it composes the pool's models, so it
    has no batcher and no source of its own; its card lets clients (and the playground) see it."""
    return {
        "id": GROUNDED,
        "object": "model",
        "created": created,
        "owned_by": "mmserve",
        "source": "builtin:grounded",
        "modality": "multimodal",
        "capabilities": ["chat"],
        "state": "ready",
        "error": None,
        "queue_depth": 0,
        "batching": None,
        "details": {"answers_from": "evidence of the served models (see docs/chat.md)"},
    }


@bp.get("/v1/models")
@operation("List served models", tags=["models"], response=ModelList)
def list_models() -> Any:
    created = current_app.config["MMSERVE_STARTED_AT"]
    cards = [model_card(r, created) for r in services().pool.runners.values()]
    if GROUNDED not in services().pool.runners:
        cards.append(grounded_card(created))
    return jsonify(object="list", data=cards)


@bp.get("/v1/models/<path:model_id>")
@operation("One served model", tags=["models"], response=ModelCard, errors=(404,))
def get_model(model_id: str) -> Any:
    created = current_app.config["MMSERVE_STARTED_AT"]
    if model_id == GROUNDED and GROUNDED not in services().pool.runners:
        return jsonify(grounded_card(created))
    runner = services().pool.get(model_id)
    return jsonify(model_card(runner, created))


@bp.post("/v1/models/<path:model_id>/reload")
@operation(
    "Load again a model that failed to load",
    tags=["models"],
    response=ModelCard,
    errors=(404, 409),
    status=202,
)
def reload_model(model_id: str) -> Any:
    """For a model whose load failed (its state `failed`, the error listed): load it again
    in the background, as at start, once the cause is fixed. Answers at once with the model
    `loading`; GET /readyz or /v1/models/{id} shows when it is ready. 409 for a model that
    is loading or loaded. Needs the `admin` scope."""
    runner = services().pool.get(model_id)
    runner.reload()
    return jsonify(model_card(runner, current_app.config["MMSERVE_STARTED_AT"])), 202
