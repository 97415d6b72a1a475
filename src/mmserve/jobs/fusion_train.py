"""The "fusion-train" job: `mmserve fusion train` over HTTP.

    POST /v1/jobs {"type": "fusion-train",
                   "params": {"data": "memes/data.csv", "targets": ["label"],
                              "strategy": "gated", "register_as": "memes"}}

`data` is relative to the data directory (or absolute inside it or the media root).
Progress: features encoded, then epochs (`total` is the epoch limit; early stopping may
end sooner). While it trains, `result` holds the metrics so far (per-epoch losses and
validation score); at the end, the artifact path, test metrics, report and, with
`register_as`, the registered version. With `finetune_image` (N: the image encoder's last N
blocks train too), `result.estimate` says what the run should take before it trains.
Cancel stops it at the next epoch. A resumed job
(the server stopped mid-run) starts over: features come from the cache, so that is cheap.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator

from mmserve.errors import ConfigError, InvalidRequest, NotFound
from mmserve.jobs.registry import job_type
from mmserve.jobs.runner import JobContext
from mmserve.store.names import FUSION_MODEL, check_name

RUNS = Path("fusion") / "runs"  # under the data directory: one artifact dir per job


class FusionTrainParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: StrictStr = Field(min_length=1, description="CSV/JSONL/Parquet, in the data dir")
    targets: list[StrictStr] = Field(min_length=1, description="Target columns")
    strategy: StrictStr = "attention"
    seed: int = 0
    epochs: int = Field(100, ge=1, le=10_000)
    patience: int = Field(10, ge=1, le=10_000, description="Epochs without improvement")
    hidden: int | None = Field(None, ge=4, le=4096)
    split_column: StrictStr | None = None
    encoders: dict[str, StrictStr] = Field(default_factory=dict, description="modality -> id")
    register_as: StrictStr | None = Field(None, description="Register the model as this name")
    finetune_image: int | None = Field(
        None,
        ge=1,
        le=16,
        description="Also fine-tune the image encoder's last N blocks (docs/training.md)",
    )

    @field_validator("strategy")
    @classmethod
    def _known(cls, value: str) -> str:
        from mmserve.fusion.strategies import STRATEGIES

        if value not in STRATEGIES:
            raise ValueError(f"unknown strategy; known: {', '.join(STRATEGIES)}")
        return value


def _data_file(params: FusionTrainParams, config: Any) -> Path:
    from mmserve.fusion.pipeline import allowed_path

    path = allowed_path(params.data, config.data_dir, config.media.media_root, param="params.data")
    if not path.is_file():
        raise NotFound(f"params.data {params.data!r} is not a file", param="params.data")
    return path


def _check(params: FusionTrainParams, config: Any) -> None:
    _data_file(params, config)
    if params.register_as is not None:
        check_name(params.register_as, FUSION_MODEL, "params.register_as")


@job_type("fusion-train", params=FusionTrainParams, check=_check)
def fusion_train(ctx: JobContext, params: FusionTrainParams) -> dict[str, Any]:
    """Train a fusion model from a data file; optionally register it."""
    from mmserve.fusion.pipeline import DataOptions, check_servable, load_data, train_model
    from mmserve.fusion.train import TrainConfig
    from mmserve.store.fusion_models import FusionRegistry

    config = ctx.config
    options = DataOptions(
        path=_data_file(params, config),
        targets=tuple(params.targets),
        data_dir=config.data_dir,
        split_column=params.split_column,
        encoders=params.encoders,
        finetune_image=params.finetune_image or 0,
    )
    history: list[dict[str, Any]] = []
    estimate: dict[str, Any] = {}

    def encoded(done: int, total: int) -> None:
        ctx.check()  # cancellation between encoder batches, without a write per batch

    def epoch(log: Any) -> None:
        history.append(asdict(log))
        result = {"phase": "training", "history": history} | estimate
        ctx.store.jobs.update(ctx.job.id, result=result)
        ctx.progress(log.epoch, params.epochs)

    def estimated(message: str) -> None:  # fine-tuning's cost, known before training
        estimate["estimate"] = message
        ctx.store.jobs.update(ctx.job.id, result={"phase": "training", **estimate})

    try:
        data = load_data(options, policy=config.media, progress=encoded)
        ctx.store.jobs.update(ctx.job.id, result={"phase": "training", "data": _data(data)})
        outcome = train_model(
            data,
            Path(config.data_dir) / RUNS / ctx.job.id,
            strategy=params.strategy,
            train_config=TrainConfig(
                seed=params.seed, epochs=params.epochs, patience=params.patience, progress=False
            ),
            options={"hidden": params.hidden} if params.hidden else {},
            on_epoch=epoch,
            overwrite=True,  # a resumed job starts over in its own directory
            notify=estimated,
        )
    except ConfigError as e:  # a bad file or column: the job fails with the reason
        raise InvalidRequest(str(e), param="params") from None
    result: dict[str, Any] = {
        "phase": "done",
        "artifact": str(outcome.artifact),
        "report": str(outcome.report_html),
        "test": outcome.test,
        "int8": outcome.int8,
        "data": _data(data),
        "history": history,
    } | estimate
    if params.register_as:
        summary = check_servable(outcome.artifact)
        version = FusionRegistry(config.data_dir).register(
            params.register_as, outcome.artifact, summary=summary
        )
        result["registered"] = {"model": f"fusion/{params.register_as}", "version": version.version}
    return result


def _data(data: Any) -> dict[str, Any]:
    report: dict[str, Any] = data.table.report.as_dict()
    report["features"] = {"cached": data.cache.hits, "encoded": data.cache.misses}
    return report
