"""Fusion models over HTTP: the registry (/v1/fusion/models) and predictions (/v1/predict,
and the tutorial shape /predict). The serving itself (runners kept in step with the registry)
is services/fusion.py.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify, request

from mmserve.api.common import parse_body, services
from mmserve.api.media_input import (
    UPLOAD_FIELD,
    media_sent,
    request_audio,
    request_image,
    request_options,
)
from mmserve.api.openapi import operation
from mmserve.api.schemas.fusion import (
    FusionActivate,
    FusionModelList,
    FusionModelOut,
    FusionRegister,
    PredictRequest,
    PredictResponse,
)
from mmserve.errors import InvalidRequest
from mmserve.media import SAMPLE_RATE
from mmserve.models.base import Waveform
from mmserve.services.fusion import PREFIX, FusionServing

bp = Blueprint("fusion", __name__)
ERRORS = (400, 404, 413, 422, 429, 500, 503, 504)


def fusion() -> FusionServing:
    return services().fusion


@bp.post("/v1/fusion/models")
@operation(
    "Register a trained fusion model",
    tags=["fusion"],
    request=FusionRegister,
    response=FusionModelOut,
    errors=(400, 404, 422),
    status=201,
)
def register_model() -> Any:
    """Copies the directory into the registry as the next version (active by default);
    served from the next request on, no restart."""
    body = parse_body(FusionRegister)
    svc = services()
    entry = svc.fusion.register(body.path, body.name, activate=body.activate, config=svc.config)
    return jsonify(entry.as_dict()), 201


@bp.get("/v1/fusion/models")
@operation("List fusion models", tags=["fusion"], response=FusionModelList)
def list_fusion_models() -> Any:
    entries = fusion().entries().values()
    return jsonify(object="list", data=[e.as_dict() for e in entries])


@bp.get("/v1/fusion/models/<name>")
@operation("One fusion model", tags=["fusion"], response=FusionModelOut, errors=(404,))
def get_fusion_model(name: str) -> Any:
    return jsonify(fusion().registry.get(name).as_dict())


@bp.post("/v1/fusion/models/<name>/activate")
@operation(
    "Serve another version",
    tags=["fusion"],
    request=FusionActivate,
    response=FusionModelOut,
    errors=(404, 422),
)
def activate(name: str) -> Any:
    body = parse_body(FusionActivate)
    return jsonify(fusion().registry.activate(name, body.version).as_dict())


@bp.post("/v1/fusion/models/<name>/rollback")
@operation(
    "Serve the version active before", tags=["fusion"], response=FusionModelOut, errors=(400, 404)
)
def rollback(name: str) -> Any:
    return jsonify(fusion().registry.rollback(name).as_dict())


@bp.delete("/v1/fusion/models/<name>")
@operation("Unregister a fusion model", tags=["fusion"], errors=(404,))
def remove(name: str) -> Any:
    fusion().registry.remove(name)
    return jsonify(object="fusion_model", id=f"{PREFIX}{name}", deleted=True)


@bp.post("/v1/predict")
@operation(
    "Predict with a fusion model",
    tags=["fusion"],
    request=PredictRequest,
    response=PredictResponse,
    errors=ERRORS,
)
def predict() -> Any:
    """Any subset of text, image and audio the model takes; the others are masked. JSON, or
    multipart with form fields and files named after their field (-F image=@cat.jpg)."""
    return _predict()


@bp.post("/predict")
@operation(
    "Predict with the default fusion model",
    tags=["fusion"],
    request=PredictRequest,
    response=PredictResponse,
    errors=ERRORS,
)
def predict_default() -> Any:
    """The tutorial shape: {"text": ..., "image": ...} against the only registered fusion
    model, or the one named 'default'."""
    return _predict()


def _predict() -> Any:
    body = request_options(PredictRequest)  # the JSON body, or a multipart form's fields
    if UPLOAD_FIELD in request.files:
        raise InvalidRequest(
            "a prediction may take an image and an audio clip: name each upload after its "
            "field (-F image=@photo.jpg -F audio=@clip.wav), not 'file'",
            param=UPLOAD_FIELD,
        )
    name = fusion().model_name(body.model)
    runner, version = fusion().runner(name)
    item: dict[str, Any] = {"text": body.text}
    if media_sent("image"):
        item["image"] = request_image("image")
    if media_sent("audio"):
        item["audio"] = Waveform(request_audio("audio", SAMPLE_RATE), SAMPLE_RATE)
    payload = runner.model.preprocess(item)
    timeout = services().config.limits.request_timeout_s
    [out] = runner.infer([payload], timeout, g.get("request_id"))
    return jsonify({"object": "prediction", "model": f"{PREFIX}{name}", "version": version, **out})
