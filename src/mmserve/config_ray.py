"""The [ray] table: where models run when they run on a Ray cluster (`serve --ray`).

Kept apart from config.py so that the Ray settings and their checks live in one place; this
module imports nothing of Ray. TOML shape (every key optional; `address` or `--ray` turns
Ray on):

    [ray]
    address = "auto"            # or "ray://head:10001", "127.0.0.1:6379"; unset: no Ray
    namespace = "mmserve"       # Serve applications are named "<namespace>-<model id>"
    num_cpus = 1.0              # per replica
    num_gpus = 0.0              # per replica; nothing in mmserve needs one
    min_replicas = 1            # min == max: a fixed number of replicas
    max_replicas = 1            # max > min: Serve autoscales between them
    target_ongoing_requests = 2.0   # autoscaling target per replica
    max_ongoing_requests = 32   # requests one replica takes at once (its batcher sees them)
    max_queued_requests = 64    # waiting in each ingress for a replica; past it: 429
    data_concurrency = 2        # Ray Data encoder actors of `mmserve index --ray`
    data_batch_size = 16        # files per Ray Data batch

    [ray.models.bridge]         # per-model overrides of the replica keys above
    num_cpus = 0.5
    max_replicas = 4

MMSERVE_RAY_ADDRESS sets `address` too.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field, fields
from typing import Any

from mmserve.errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class ReplicaSettings:
    """How one model's Serve deployment is sized."""

    num_cpus: float = 1.0
    num_gpus: float = 0.0
    min_replicas: int = 1
    max_replicas: int = 1
    target_ongoing_requests: float = 2.0
    max_ongoing_requests: int = 32
    max_queued_requests: int = 64

    def __post_init__(self) -> None:
        where = "[ray]"
        _check(where, "num_cpus", self.num_cpus, 0, 1024)
        _check(where, "num_gpus", self.num_gpus, 0, 64)
        _check(where, "min_replicas", self.min_replicas, 0, 10_000)
        _check(where, "max_replicas", self.max_replicas, 1, 10_000)
        _check(where, "target_ongoing_requests", self.target_ongoing_requests, 0.1, 10_000)
        _check(where, "max_ongoing_requests", self.max_ongoing_requests, 1, 100_000)
        _check(where, "max_queued_requests", self.max_queued_requests, 1, 1_000_000)
        if self.min_replicas > self.max_replicas:
            raise ConfigError(
                f"[ray]: min_replicas ({self.min_replicas}) is above max_replicas "
                f"({self.max_replicas}); raise max_replicas"
            )

    def deployment_options(self) -> dict[str, Any]:
        """Keyword arguments of `serve.deployment(...).options()`."""
        options: dict[str, Any] = {
            "ray_actor_options": {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus},
            "max_ongoing_requests": self.max_ongoing_requests,
            "max_queued_requests": self.max_queued_requests,
        }
        if self.min_replicas == self.max_replicas:
            options["num_replicas"] = self.max_replicas
        else:
            options["autoscaling_config"] = {
                "min_replicas": self.min_replicas,
                "max_replicas": self.max_replicas,
                "target_ongoing_requests": self.target_ongoing_requests,
            }
        return options


@dataclass(frozen=True, kw_only=True)
class RayConfig:
    address: str | None = None  # None: models run in this process, and Ray is not imported
    namespace: str = "mmserve"
    replicas: ReplicaSettings = field(default_factory=ReplicaSettings)
    per_model: dict[str, ReplicaSettings] = field(default_factory=dict)
    data_concurrency: int = 2
    data_batch_size: int = 16

    def __post_init__(self) -> None:
        _check("[ray]", "data_concurrency", self.data_concurrency, 1, 10_000)
        _check("[ray]", "data_batch_size", self.data_batch_size, 1, 4096)
        if not self.namespace or not self.namespace.replace("-", "").isalnum():
            raise ConfigError(f"[ray]: namespace {self.namespace!r} must be letters, digits, '-'")

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def for_model(self, model_id: str) -> ReplicaSettings:
        return self.per_model.get(model_id, self.replicas)

    def app_name(self, model_id: str) -> str:
        return f"{self.namespace}-{model_id}"


_TYPES = {"int": int, "float": float}
_REPLICA_KEYS = {f.name: _TYPES[str(f.type)] for f in fields(ReplicaSettings)}
_TOP_KEYS = {"address": str, "namespace": str, "data_concurrency": int, "data_batch_size": int}


def ray_config(table: Any, address: str | None = None) -> RayConfig:
    """The [ray] table read and checked; `address` (environment or --ray) wins over the file's."""
    if not isinstance(table, dict):
        raise ConfigError("[ray] must be a table")
    table = dict(table)
    models = table.pop("models", {})
    unknown = set(table) - set(_REPLICA_KEYS) - set(_TOP_KEYS)
    if unknown:
        known = ", ".join([*_TOP_KEYS, *_REPLICA_KEYS, "models"])
        raise ConfigError(f"unknown key(s) in [ray]: {', '.join(sorted(unknown))}; known: {known}")
    top = {k: _coerce(k, table[k]) for k in _TOP_KEYS if k in table}
    base = {k: _coerce(k, table[k]) for k in _REPLICA_KEYS if k in table}
    if address:
        top["address"] = address
    if not isinstance(models, dict):
        raise ConfigError("[ray.models] must hold one table per model id: [ray.models.minilm]")
    per_model = {}
    for model_id, overrides in models.items():
        if not isinstance(overrides, dict) or set(overrides) - set(_REPLICA_KEYS):
            raise ConfigError(
                f"[ray.models.{model_id}] takes only {', '.join(_REPLICA_KEYS)}; got {overrides!r}"
            )
        per_model[model_id] = ReplicaSettings(
            **(base | {k: _coerce(k, v) for k, v in overrides.items()})
        )
    return RayConfig(**top, replicas=ReplicaSettings(**base), per_model=per_model)


def require_ray() -> None:
    """Fail at start, naming the extra, when Ray is configured but not installed."""
    if importlib.util.find_spec("ray") is None:
        raise ConfigError("Ray is configured but not installed: pip install 'mmserve[ray]'")


def _coerce(key: str, value: Any) -> Any:
    kind = (_REPLICA_KEYS | _TOP_KEYS)[key]
    if isinstance(value, bool) or (kind is int and isinstance(value, float)):
        raise ConfigError(f"[ray] {key}: expected {kind.__name__}, got {value!r}")
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"[ray] {key}: expected {kind.__name__}, got {value!r}") from None


def _check(where: str, name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ConfigError(f"{where}: {name} = {value} is out of range; use {low} to {high}")
