"""Serving the registered aligned models: `aligned/NAME` resolves to a ModelRunner over the
registry's active version of NAME (store/fusion_models.py, kind "aligned").

The registry file's stat is checked on each resolution (one syscall) and re-read only when
it changed, so `mmserve align register/activate/rollback` take effect on a running server at
its next request. `aligned/NAME@V` names version V whatever is active: a collection's
stored vectors stay comparable with its queries only if both come from one version.
A runner whose version is no longer active is stopped once requests that
may still be queued on it have timed out. Registered on the ModelPool as a resolver, so every
route that takes a model id (embeddings, classifications, label sets, collections) serves
aligned models without knowing about them.
"""

from __future__ import annotations

import threading
from typing import Any

from mmserve.batching.pool import ModelPool
from mmserve.batching.runner import ModelRunner
from mmserve.config import Config, ModelConfig
from mmserve.errors import ConfigError, InvalidRequest, NotFound
from mmserve.fusion.aligned import check_aligned
from mmserve.fusion.aligned_serving import AlignedServingModel
from mmserve.fusion.encoders import EncoderSet
from mmserve.fusion.pipeline import allowed_path
from mmserve.metrics import Metrics
from mmserve.store.fusion_models import FusionEntry, FusionRegistry

PREFIX = "aligned/"
KIND = "aligned"
PIN = "@"  # aligned/NAME@3: version 3, whichever is active


class AlignedServing:
    def __init__(
        self,
        registry: FusionRegistry,
        metrics: Metrics,
        timeout_s: float,
        encoders: EncoderSet | None = None,
    ):
        self.registry = registry
        self.metrics = metrics
        self.timeout_s = timeout_s
        self.encoders = encoders or EncoderSet()
        self._runners: dict[str, tuple[int, ModelRunner]] = {}  # name -> (version, runner)
        self._entries: dict[str, FusionEntry] = {}
        self._stamp: Any = "unread"
        self._lock = threading.Lock()

    @classmethod
    def attach(
        cls,
        pool: ModelPool,
        config: Config,
        metrics: Metrics,
        encoders: EncoderSet | None = None,
    ) -> AlignedServing:
        """Serving over the data directory's aligned registry, resolving `aligned/...` ids
        for `pool`; `encoders`: share fusion's, one copy of each encoder per app."""
        registry = FusionRegistry(config.data_dir, KIND)
        serving = cls(registry, metrics, config.limits.request_timeout_s, encoders)
        pool.resolvers[PREFIX] = serving.runner
        return serving

    def register(self, raw_path: str, name: str, *, activate: bool, config: Config) -> FusionEntry:
        """Copy a directory inside the data dir or media root in as NAME's next version,
        after checking that it is an aligned model the server can load."""
        path = allowed_path(raw_path, config.data_dir, config.media.media_root, param="path")
        try:
            summary = check_aligned(path)
        except ConfigError as e:
            raise InvalidRequest(str(e), param="path", code="not_servable") from None
        self.registry.register(name, path, activate=activate, summary=summary)
        return self.registry.get(name)

    def entries(self) -> dict[str, FusionEntry]:
        stamp = self.registry.stamp()
        if stamp != self._stamp:
            with self._lock:
                self._entries = {e.name: e for e in self.registry.entries()}
                self._stamp = stamp
        return self._entries

    def runner(self, model_id: str) -> ModelRunner:
        """`aligned/NAME`: the active version (follows activate and rollback);
        `aligned/NAME@V`: version V, pinned (what a collection's stored vectors need)."""
        name, pinned = self._parse(model_id)
        entry = self.entries().get(name) or self.registry.get(name)  # the latter: 404
        version = entry.version(pinned) if pinned else entry.active_version
        if version is None:
            raise NotFound(f"aligned model {name!r} has no active version", param="model")
        with self._lock:
            current = self._runners.get(model_id)
            if current and current[0] == version.version:
                return current[1]
            model = AlignedServingModel(model_id, version.path, self.encoders, version.version)
            runner_id = f"aligned-{name}-v{version.version}"
            runner = ModelRunner(model, ModelConfig(id=runner_id), self.metrics)
            runner.start(wait=True)  # heads load in milliseconds; encoders once per app
            self._runners[model_id] = (version.version, runner)
        if current:  # requests already queued on the old version may still finish
            retire = threading.Timer(self.timeout_s, current[1].stop)
            retire.daemon = True
            retire.start()
        return runner

    @staticmethod
    def _parse(model_id: str) -> tuple[str, int | None]:
        name, sep, version = model_id[len(PREFIX) :].partition(PIN)
        if not sep:
            return name, None
        if not version.isdigit():
            raise NotFound(
                f"model {model_id!r}: write aligned/NAME or aligned/NAME{PIN}VERSION (a number)",
                param="model",
                code="model_not_found",
            )
        return name, int(version)

    def stop(self) -> None:
        for _, runner in self._runners.values():
            runner.stop()
