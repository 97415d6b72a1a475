"""Fusion models over HTTP: the registry (/v1/fusion/models) and predictions (/v1/predict,
and the tutorial shape /predict).

The registry lives in the data directory (store/fusion_models.py), shared with the CLI.
Each request looks at the registry file's stat (one syscall) and re-reads it only when it
changed, so `mmserve fusion register/activate/rollback` take effect on a running server at
its next request. Each active fusion model gets a ModelRunner on first use (its encoders +
ONNX head, batched like every other model); a runner whose version is no longer active is
stopped once requests that may still be queued on it have timed out.
"""

from __future__ import annotations

import threading
import weakref
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, current_app, g, jsonify, request

from mmserve.api.common import parse_body, services
from mmserve.api.fusion_schemas import (
    FusionActivate,
    FusionModelList,
    FusionModelOut,
    FusionRegister,
    PredictRequest,
    PredictResponse,
)
from mmserve.api.media_input import (
    UPLOAD_FIELD,
    media_sent,
    request_audio,
    request_image,
    request_options,
)
from mmserve.api.openapi import operation
from mmserve.batching.runner import ModelRunner
from mmserve.config import ModelConfig
from mmserve.errors import ConfigError, InvalidRequest, NotFound
from mmserve.fusion.encoders import EncoderSet
from mmserve.fusion.pipeline import allowed_path, check_servable
from mmserve.fusion.serving import FusionServingModel
from mmserve.media import SAMPLE_RATE
from mmserve.metrics import Metrics
from mmserve.models.base import Waveform
from mmserve.store.fusion_models import FusionEntry, FusionRegistry

bp = Blueprint("fusion", __name__)
EXTENSION = "mmserve_fusion"
PREFIX = "fusion/"
DEFAULT_NAME = "default"  # with several fusion models, /predict uses the one named so
ERRORS = (400, 404, 413, 422, 429, 500, 503, 504)


class FusionServing:
    """Runners of the active fusion models of one app, kept in step with the registry."""

    def __init__(self, registry: FusionRegistry, metrics: Metrics, timeout_s: float):
        self.registry = registry
        self.metrics = metrics
        self.timeout_s = timeout_s
        self.encoders = EncoderSet()
        self._runners: dict[str, tuple[int, ModelRunner]] = {}  # name -> (version, runner)
        self._entries: dict[str, FusionEntry] = {}
        self._stamp: Any = "unread"
        self._lock = threading.Lock()

    def entries(self) -> dict[str, FusionEntry]:
        stamp = self.registry.stamp()
        if stamp != self._stamp:
            with self._lock:
                self._entries = {e.name: e for e in self.registry.entries()}
                self._stamp = stamp
        return self._entries

    def runner(self, name: str) -> tuple[ModelRunner, int]:
        entry = self.entries().get(name) or self.registry.get(name)  # the latter: 404
        version = entry.active_version
        if version is None:
            raise NotFound(f"fusion model {name!r} has no active version", param="model")
        with self._lock:
            current = self._runners.get(name)
            if current and current[0] == version.version:
                return current[1], version.version
            model = FusionServingModel(
                f"{PREFIX}{name}", version.path, self.encoders, version.version
            )
            runner = ModelRunner(model, ModelConfig(id=f"fusion-{name}"), self.metrics)
            runner.start(wait=True)  # the head loads in milliseconds; encoders once per app
            self._runners[name] = (version.version, runner)
        if current:  # requests already queued on the old version may still finish
            retire = threading.Timer(self.timeout_s, current[1].stop)
            retire.daemon = True  # must not hold a stopping server up
            retire.start()
        return runner, version.version

    def stop(self) -> None:
        for _, runner in self._runners.values():
            runner.stop()


def init_app(app: Flask) -> None:
    svc = app.extensions["mmserve"]
    serving = FusionServing(
        FusionRegistry(svc.config.data_dir), svc.metrics, svc.config.limits.request_timeout_s
    )
    app.extensions[EXTENSION] = serving
    weakref.finalize(app, serving.stop)
    app.register_blueprint(bp)


def fusion() -> FusionServing:
    found: FusionServing = current_app.extensions[EXTENSION]
    return found


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
    path = _allowed_path(body.path)
    summary = check_artifact(path, param="path")
    fusion().registry.register(body.name, path, activate=body.activate, summary=summary)
    return jsonify(fusion().registry.get(body.name).as_dict()), 201


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
    name = _model_name(body.model)
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


def _model_name(model: str | None) -> str:
    if model is not None:
        if not model.startswith(PREFIX) or len(model) == len(PREFIX):
            raise NotFound(
                f"model {model!r}: fusion models are named fusion/<name>; "
                "GET /v1/fusion/models lists them",
                param="model",
                code="model_not_found",
            )
        return model[len(PREFIX) :]
    names = list(fusion().entries())
    if len(names) == 1:
        return names[0]
    if DEFAULT_NAME in names:
        return DEFAULT_NAME
    raise InvalidRequest(
        "no default fusion model: "
        + (
            f"several are registered ({', '.join(names)}); name one as model, or register "
            f"one as {DEFAULT_NAME!r}"
            if names
            else "none is registered; mmserve fusion register DIR --name N"
        ),
        param="model",
        code="no_default_model",
    )


def _allowed_path(raw: str) -> Path:
    config = services().config
    return allowed_path(raw, config.data_dir, config.media.media_root, param="path")


def check_artifact(path: Path, *, param: str) -> dict[str, Any]:
    """The registry summary of a servable artifact dir, or a 400 saying what is wrong."""
    try:
        return check_servable(path)
    except ConfigError as e:
        raise InvalidRequest(str(e), param=param, code="not_servable") from None
