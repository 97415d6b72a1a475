"""All the served models of one app, by id: those configured at start, and those a
resolver builds on first use from a prefix (`aligned/NAME`: the registry's active version,
so a model registered while the server runs is served without a restart)."""

from __future__ import annotations

from collections.abc import Callable

from mmserve.batching.runner import ModelRunner, ModelState
from mmserve.config import Config
from mmserve.errors import NotFound, UnsupportedCapability
from mmserve.metrics import Metrics
from mmserve.models.registry import create_model


class ModelPool:
    def __init__(self, runners: dict[str, ModelRunner]):
        self.runners = runners
        # prefix -> (id -> runner, or NotFound): models served from a registry
        self.resolvers: dict[str, Callable[[str], ModelRunner]] = {}

    @classmethod
    def from_config(cls, config: Config, metrics: Metrics) -> ModelPool:
        """Build every configured model (not loaded yet): a bad source fails here, at start."""
        return cls(
            {m.id: ModelRunner(create_model(m.id, m.source), m, metrics) for m in config.models}
        )

    def start(self, wait: bool = False) -> None:
        for runner in self.runners.values():
            runner.start(wait=wait)

    def stop(self) -> None:
        for runner in self.runners.values():
            runner.stop()

    def find(self, model_id: str) -> ModelRunner | None:
        """The runner of a configured or resolvable model; None if neither."""
        runner = self.runners.get(model_id)
        if runner is None:
            prefix = next((p for p in self.resolvers if model_id.startswith(p)), None)
            runner = self.resolvers[prefix](model_id) if prefix else None
        return runner

    def get(self, model_id: str, capability: str | None = None) -> ModelRunner:
        runner = self.find(model_id)
        if runner is None:
            raise NotFound(
                f"model {model_id!r} is not served here; served: {', '.join(self.runners)}. "
                "GET /v1/models lists them",
                param="model",
                code="model_not_found",
            )
        if capability and capability not in runner.model.capabilities:
            able = self.with_capability(capability)
            raise UnsupportedCapability(
                f"model {model_id!r} cannot {capability.replace('_', ' ')}; "
                f"models that can: {', '.join(able) or 'none served'}",
                param="model",
            )
        return runner

    def with_capability(self, capability: str) -> list[str]:
        return [i for i, r in self.runners.items() if capability in r.model.capabilities]

    def default_for(self, capability: str) -> ModelRunner:
        able = self.with_capability(capability)
        if not able:
            raise UnsupportedCapability(
                f"no served model can {capability.replace('_', ' ')}; start the server with one",
                param="model",
            )
        return self.runners[able[0]]

    def ready(self) -> bool:
        return all(r.state is ModelState.READY for r in self.runners.values())
