"""Job types: what `POST /v1/jobs {"type": ..., "params": {...}}` can run.

A job type is a function and a pydantic model of its params, registered by name:

    from pydantic import BaseModel, ConfigDict
    from mmserve.jobs import JobContext, job_type

    class TrainParams(BaseModel):
        model_config = ConfigDict(extra="forbid")
        dataset: str
        epochs: int = 10

    @job_type("fusion-train", params=TrainParams, description="Train a fusion model")
    def fusion_train(ctx: JobContext, params: TrainParams) -> dict:
        for epoch in range(params.epochs):
            ...                                    # one step of work
            ctx.progress(epoch + 1, params.epochs) # saves progress; raises JobStopped when the
                                                   # job was cancelled or the server is stopping
        return {"artifact": "..."}                 # JSON: the job's result

Then add the module's dotted name to JOB_MODULES below: the runner imports them before it
starts, so the server, the CLI and tests see the same types. Params are validated when the
job is created (a 422 naming `params.<field>`), and again when it runs.

What the function may rely on:
- `ctx.resumed` is True when the job was interrupted (the server stopped or died) and is
  running again: `ctx.job.done` holds the progress saved last; pick up from there, or start
  over if the work is idempotent. Raise nothing special: a resumed job runs the same function.
- `ctx.progress(done, total)` persists progress (a durable write: call it per batch of work,
  not per item) and is the cancellation point; `ctx.check()` is the point without a write.
- A ClientError raised (e.g. InvalidRequest) fails the job with its message; any other
  exception fails it with an opaque "internal error" and a traceback in the server log.
- `ctx.store` (SearchStore), `ctx.pool` (ModelPool: models to run), `ctx.config` (Config).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from mmserve.errors import InvalidRequest, SchemaError

# Modules that register job types; importing each runs its @job_type decorators.
JOB_MODULES = ("mmserve.jobs.index", "mmserve.jobs.fusion_train", "mmserve.jobs.batches")


@dataclass(frozen=True)
class JobType:
    name: str
    run: Callable[..., Any]  # (ctx: JobContext, params: BaseModel) -> JSON result
    params: type[BaseModel]
    description: str
    # (params, config) -> None: checks that need the server's settings (paths inside the
    # media root...), run when the job is created so a bad request is a 4xx, not a failed job
    check: Callable[[Any, Any], None] | None = None


_TYPES: dict[str, JobType] = {}


def job_type(
    name: str,
    *,
    params: type[BaseModel],
    description: str = "",
    check: Callable[[Any, Any], None] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register `run(ctx, params)` as the job type `name`; `check(params, config)` optional."""

    def decorator(run: Callable[..., Any]) -> Callable[..., Any]:
        if name in _TYPES and _TYPES[name].run is not run:
            raise ValueError(f"job type {name!r} is registered twice")
        doc = description or (run.__doc__ or "").strip()
        _TYPES[name] = JobType(name, run, params, doc, check)
        return run

    return decorator


def job_types() -> dict[str, JobType]:
    for module in JOB_MODULES:
        importlib.import_module(module)
    return dict(_TYPES)


def get_job_type(name: str) -> JobType:
    types = job_types()
    if name not in types:
        raise InvalidRequest(
            f"unknown job type {name!r}; known: {', '.join(sorted(types))}",
            param="type",
            code="unknown_job_type",
        )
    return types[name]


def parse_params(kind: JobType, params: dict[str, Any]) -> BaseModel:
    """The params as the type's model, or a 422 naming `params.<field>`."""
    try:
        return kind.params.model_validate(params)
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        field = ".".join(str(part) for part in first["loc"])
        param = f"params.{field}" if field else "params"
        raise SchemaError(f"{param}: {first['msg']}", param=param) from None
