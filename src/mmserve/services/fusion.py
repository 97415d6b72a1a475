"""Serving fusion models: the registry's active versions kept in step with their runners.
No Flask here: api/routes/fusion.py is the HTTP side (/v1/fusion/models, /v1/predict).

The registry lives in the data directory (store/fusion_models.py), shared with the CLI.
Each request looks at the registry file's stat (one syscall) and re-reads it only when it
changed, so `mmserve fusion register/activate/rollback` take effect on a running server at
its next request. Each active fusion model gets a ModelRunner on first use (its encoders +
ONNX head, batched like every other model); a runner whose version is no longer active is
stopped once requests that may still be queued on it have timed out.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from mmserve.batching.runner import ModelRunner
from mmserve.config import Config, ModelConfig
from mmserve.errors import ConfigError, InvalidRequest, NotFound
from mmserve.fusion.encoders import EncoderSet
from mmserve.fusion.pipeline import allowed_path, check_servable
from mmserve.fusion.serving import FusionServingModel
from mmserve.metrics import Metrics
from mmserve.store.fusion_models import FusionEntry, FusionRegistry

PREFIX = "fusion/"
DEFAULT_NAME = "default"  # with several fusion models, /predict uses the one named so


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

    def model_name(self, model: str | None) -> str:
        """The registry name a request means: `fusion/<name>`, or with no model the only
        registered one, or the one named DEFAULT_NAME; 404/400 saying what to send."""
        if model is not None:
            if not model.startswith(PREFIX) or len(model) == len(PREFIX):
                raise NotFound(
                    f"model {model!r}: fusion models are named fusion/<name>; "
                    "GET /v1/fusion/models lists them",
                    param="model",
                    code="model_not_found",
                )
            return model[len(PREFIX) :]
        names = list(self.entries())
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

    def register(self, raw_path: str, name: str, *, activate: bool, config: Config) -> FusionEntry:
        """Register the artifact dir a client named (inside the data directory or the media
        root) as NAME's next version; 400 naming `path` if it cannot be served."""
        path = allowed_path(raw_path, config.data_dir, config.media.media_root, param="path")
        summary = check_artifact(path, param="path")
        self.registry.register(name, path, activate=activate, summary=summary)
        return self.registry.get(name)


def check_artifact(path: Path, *, param: str) -> dict[str, Any]:
    """The registry summary of a servable artifact dir, or a 400 saying what is wrong."""
    try:
        return check_servable(path)
    except ConfigError as e:
        raise InvalidRequest(str(e), param=param, code="not_servable") from None
