"""Job types for training beyond a fusion head: `align`, `fusion-pretrain`,
`fusion-distill`. Each runs the same pipeline as its CLI command; progress counts epochs
(`total` is the epoch limit; early stopping may end sooner), `result` holds the metrics so
far while it trains, cancel stops it at the next epoch (or encoder batch), and `register_as`
registers what it made. Paths are relative to the data directory (or absolute inside it or
the media root). Bad rows are listed by line in the result; too few pairs, no rows with two
modalities or a single class fail the job with the reason before training starts.

    POST /v1/jobs {"type": "align", "params": {"data": "shapes/pairs.csv",
                                               "register_as": "shapes"}}
    POST /v1/jobs {"type": "fusion-pretrain", "params": {"data": "memes/data.csv"}}
    POST /v1/jobs {"type": "fusion-distill", "params": {"teacher": "fusion/runs/<job id>",
                   "student": "strategy=early,hidden=32,modalities=text+image"}}
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr, model_validator

from mmserve.errors import ConfigError, InvalidRequest, NotFound
from mmserve.jobs.registry import job_type
from mmserve.jobs.runner import JobContext
from mmserve.store.names import NAME_RULES, check_name

RUNS = {
    "align": Path("aligned") / "runs",
    "pretrain": Path("fusion") / "trunks",
    "distill": Path("fusion") / "runs",
}


class AlignParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: StrictStr = Field(min_length=1, description="Pairs (CSV/JSONL/Parquet), in the data dir")
    dim: int = Field(256, ge=2, le=4096)
    hidden: int = Field(512, ge=0, le=8192)
    epochs: int = Field(200, ge=1, le=10_000)
    patience: int = Field(15, ge=1, le=10_000)
    batch_size: int = Field(128, ge=2, le=65_536)
    hard_negatives: float = Field(0.0, ge=0, le=20, description="beta; 0: negatives alike")
    mine_negatives: int = Field(0, ge=0, le=64, description="K mined negatives per row; 0: off")
    seed: int = 0
    encoders: dict[str, StrictStr] = Field(default_factory=dict, description="modality -> id")
    register_as: StrictStr | None = Field(None, description="Register as aligned/<name>")

    @model_validator(mode="after")
    def _one_kind_of_hard_negatives(self) -> AlignParams:
        if self.hard_negatives and self.mine_negatives:
            raise ValueError("give hard_negatives or mine_negatives, not both")
        return self


class PretrainParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: StrictStr = Field(min_length=1, description="Rows (labels ignored), in the data dir")
    strategy: StrictStr = "attention"
    hidden: int | None = Field(None, ge=4, le=4096)
    epochs: int = Field(100, ge=1, le=10_000)
    seed: int = 0
    encoders: dict[str, StrictStr] = Field(default_factory=dict, description="modality -> id")


class DistillParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    teacher: StrictStr = Field(min_length=1, description="A fusion model dir, in the data dir")
    student: StrictStr = "strategy=early,hidden=32,trunk=32"
    data: StrictStr | None = Field(None, description="Labelled data (default: the teacher's)")
    unlabeled: StrictStr | None = None
    temperature: float = Field(4.0, gt=0, le=100)
    alpha: float = Field(0.7, ge=0, le=1)
    epochs: int = Field(100, ge=1, le=10_000)
    register_as: StrictStr | None = Field(None, description="Register as fusion/<name>")


def _path(raw: str, config: Any, param: str, *, directory: bool = False) -> Path:
    from mmserve.fusion.pipeline import allowed_path

    path = allowed_path(raw, config.data_dir, config.media.media_root, param=param)
    if not (path.is_dir() if directory else path.is_file()):
        kind = "a directory" if directory else "a file"
        raise NotFound(f"{param} {raw!r} is not {kind}", param=param)
    return path


def _check_name(name: str | None, kind: str = "fusion") -> None:
    if name is not None:
        check_name(name, NAME_RULES[kind], "params.register_as")


def _check_align(params: AlignParams, config: Any) -> None:
    _path(params.data, config, "params.data")
    _check_name(params.register_as, "aligned")


def _check_pretrain(params: PretrainParams, config: Any) -> None:
    _path(params.data, config, "params.data")


def _check_distill(params: DistillParams, config: Any) -> None:
    from mmserve.fusion.distill import StudentSpec

    _path(params.teacher, config, "params.teacher", directory=True)
    for name in ("data", "unlabeled"):
        if getattr(params, name) is not None:
            _path(getattr(params, name), config, f"params.{name}")
    try:
        StudentSpec.parse(params.student)
    except ConfigError as e:
        raise InvalidRequest(str(e), param="params.student") from None
    _check_name(params.register_as)


def _teacher_data(teacher: Path, config: Any) -> Path:
    """The file the teacher was trained on, held to the same roots as a named one."""
    from mmserve.fusion.artifact import read_manifest

    recorded = read_manifest(teacher).training.get("data")
    try:
        return _path(str(recorded), config, "params.data")
    except (InvalidRequest, NotFound):
        raise InvalidRequest(
            f"params.data: the teacher was trained on {recorded!r}, which is not a file in "
            "the data directory or the media root; name the labelled data",
            param="params.data",
        ) from None


class _Progress:
    """Per-epoch history in the job's result and progress; cancellation between encoder
    batches without a write per batch."""

    def __init__(self, ctx: JobContext, total: int):
        self.ctx, self.total = ctx, total
        self.history: list[dict[str, Any]] = []

    def encoded(self, done: int, total: int) -> None:
        self.ctx.check()

    def epoch(self, log: Any) -> None:
        self.history.append(asdict(log))
        self.ctx.store.jobs.update(
            self.ctx.job.id, result={"phase": "training", "history": self.history}
        )
        self.ctx.progress(log.epoch, self.total)


@job_type("align", params=AlignParams, check=_check_align)
def align_job(ctx: JobContext, params: AlignParams) -> dict[str, Any]:
    """Align the modalities of a pairs file (mmserve align); optionally register it."""
    from mmserve.fusion.align import AlignTrainConfig
    from mmserve.fusion.align_pipeline import PairOptions, align_model, load_pairs
    from mmserve.fusion.aligned import check_aligned
    from mmserve.store.fusion_models import FusionRegistry

    config, progress = ctx.config, _Progress(ctx, params.epochs)
    options = PairOptions(
        path=_path(params.data, config, "params.data"),
        data_dir=config.data_dir,
        encoders=params.encoders,
    )
    tc = AlignTrainConfig(
        seed=params.seed,
        epochs=params.epochs,
        patience=params.patience,
        batch_size=params.batch_size,
        hard_negatives=params.hard_negatives,
        mine_negatives=params.mine_negatives,
        progress=False,
    )
    try:
        pairs = load_pairs(options, policy=config.media, progress=progress.encoded)
        outcome = align_model(
            pairs,
            Path(config.data_dir) / RUNS["align"] / ctx.job.id,
            options={"dim": params.dim, "hidden": params.hidden},
            train_config=tc,
            on_epoch=progress.epoch,
            overwrite=True,  # a resumed job starts over in its own directory
        )
    except ConfigError as e:
        raise InvalidRequest(str(e), param="params") from None
    result: dict[str, Any] = {
        "phase": "done",
        "artifact": str(outcome.artifact),
        "report": str(outcome.report_html),
        "test": outcome.test,
        "data": pairs.report(),
        "history": progress.history,
    }
    if params.register_as:
        summary = check_aligned(outcome.artifact)
        registry = FusionRegistry(config.data_dir, "aligned")
        version = registry.register(params.register_as, outcome.artifact, summary=summary)
        result["registered"] = {
            "model": f"aligned/{params.register_as}",
            "version": version.version,
        }
    return result


@job_type("fusion-pretrain", params=PretrainParams, check=_check_pretrain)
def pretrain_job(ctx: JobContext, params: PretrainParams) -> dict[str, Any]:
    """Pretrain a fusion trunk without labels (mmserve fusion pretrain)."""
    from mmserve.fusion.pretrain import load_unlabeled, pretrain_model
    from mmserve.fusion.train import TrainConfig

    config, progress = ctx.config, _Progress(ctx, params.epochs)
    try:
        data = load_unlabeled(
            _path(params.data, config, "params.data"),
            config.data_dir,
            encoders=params.encoders,
            policy=config.media,
            progress=progress.encoded,
        )
        outcome = pretrain_model(
            data,
            Path(config.data_dir) / RUNS["pretrain"] / ctx.job.id,
            strategy=params.strategy,
            options={"hidden": params.hidden} if params.hidden else {},
            train_config=TrainConfig(seed=params.seed, epochs=params.epochs, progress=False),
            on_epoch=progress.epoch,
            overwrite=True,
        )
    except ConfigError as e:
        raise InvalidRequest(str(e), param="params") from None
    return {
        "phase": "done",
        "artifact": str(outcome.artifact),
        "test": outcome.test,
        "data": data.report(),
        "history": progress.history,
    }


@job_type("fusion-distill", params=DistillParams, check=_check_distill)
def distill_job(ctx: JobContext, params: DistillParams) -> dict[str, Any]:
    """Distil a fusion model into a smaller student (mmserve fusion distill)."""
    from mmserve.fusion.distill import DistillConfig, StudentSpec
    from mmserve.fusion.distill_pipeline import distill_model
    from mmserve.fusion.pipeline import check_servable
    from mmserve.fusion.train import TrainConfig
    from mmserve.store.fusion_models import FusionRegistry

    config, progress = ctx.config, _Progress(ctx, params.epochs)
    teacher = _path(params.teacher, config, "params.teacher", directory=True)
    optional = {
        name: _path(getattr(params, name), config, f"params.{name}")
        for name in ("data", "unlabeled")
        if getattr(params, name) is not None
    }
    if "data" not in optional:  # the teacher's own data, if a client may name it
        optional["data"] = _teacher_data(teacher, config)
    try:
        outcome = distill_model(
            teacher,
            Path(config.data_dir) / RUNS["distill"] / ctx.job.id,
            StudentSpec.parse(params.student),
            config.data_dir,
            config=DistillConfig(temperature=params.temperature, alpha=params.alpha),
            train_config=TrainConfig(epochs=params.epochs, progress=False),
            policy=config.media,
            on_epoch=progress.epoch,
            overwrite=True,
            **optional,
        )
    except ConfigError as e:
        raise InvalidRequest(str(e), param="params") from None
    result: dict[str, Any] = {
        "phase": "done",
        "artifact": str(outcome.artifact),
        "report": str(outcome.report_json),
        "comparison": outcome.comparison,
        "data": outcome.data.table.report.as_dict(),
        "history": progress.history,
    }
    if params.register_as:
        summary = check_servable(outcome.artifact)
        registry = FusionRegistry(config.data_dir)
        version = registry.register(params.register_as, outcome.artifact, summary=summary)
        result["registered"] = {"model": f"fusion/{params.register_as}", "version": version.version}
    return result
