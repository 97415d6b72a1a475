"""From a data file to a trained, exported, reported fusion model: what `mmserve fusion
train` / `compare` and the `fusion-train` job all run, so they cannot drift apart.

    load_data(DataOptions)      read + check the file, features from the cache or encoders
    train_model(data, ...)      train, evaluate on the test split, write the artifact dir
                                (config, weights, ONNX fp32 + int8) and report/ inside it
    compare_models(data, ...)   every strategy + single-modality baselines, one report
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmserve.errors import ConfigError
from mmserve.fusion.data import FeatureDataset, Split
from mmserve.fusion.dataset import Table, read_table
from mmserve.fusion.encoders import (
    EncoderSet,
    FeatureCache,
    encode_table,
    encoders_for,
    feature_cache_dir,
)
from mmserve.media import MediaPolicy
from mmserve.media.paths import confined_path

REPORT_DIR = "report"
INT8_REPEATS = 20  # timing pairs for the int8 speed-up in the report


@dataclass(frozen=True, kw_only=True)
class DataOptions:
    path: Path
    targets: tuple[str, ...]  # column names, optionally "name:regression"
    data_dir: Path  # the feature cache lives under it
    split_column: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)  # modality -> column name
    encoders: Mapping[str, str] = field(default_factory=dict)  # modality -> registry id
    finetune_image: int = 0  # > 0: fine-tune the image encoder's last N blocks (finetune.py)


@dataclass
class LoadedData:
    dataset: FeatureDataset
    table: Table
    split: Split | None  # from the split column, if given
    cache: FeatureCache
    tuner: Any = None  # finetune.ImageTuner over the rows' frozen maps, when fine-tuning


@dataclass
class TrainOutcome:
    artifact: Path
    report_json: Path
    report_html: Path
    test: dict[str, Any]  # target -> metrics on the test split
    int8: dict[str, Any] | None
    result: Any  # train.TrainResult


def load_data(
    options: DataOptions,
    *,
    encoder_set: EncoderSet | None = None,
    policy: MediaPolicy | None = None,
    progress: Callable[[int, int], None] | None = None,
    cluster: Any = None,
) -> LoadedData:
    """`cluster`: a Config whose [ray] is on: the features the cache lacks are encoded there
    first (fusion/ray_features.py), then read from the cache like any other."""
    table = read_table(
        options.path, options.targets, columns=options.columns, split_column=options.split_column
    )
    cache = FeatureCache(feature_cache_dir(options.data_dir))
    if cluster is not None and cluster.ray.enabled:  # imported only here: Ray is optional
        from mmserve.fusion.ray_features import fill_feature_cache

        fill_feature_cache(table, options.encoders, cache, cluster)
    if options.finetune_image:
        from mmserve.fusion.finetune import load_for_finetuning

        dataset, split, tuner = load_for_finetuning(
            table, options, cache, encoder_set=encoder_set, policy=policy, progress=progress
        )
        return LoadedData(dataset, table, split, cache, tuner)
    encoders = encoders_for(table, options.encoders, encoder_set)
    dataset, split = encode_table(table, encoders, cache, policy=policy, progress=progress)
    return LoadedData(dataset, table, split, cache)


def train_model(
    data: LoadedData,
    out: str | Path,
    *,
    strategy: str = "attention",
    train_config: Any = None,
    options: Mapping[str, Any] | None = None,
    on_epoch: Callable[[Any], None] | None = None,
    overwrite: bool = False,
    init_from: str | Path | None = None,
    freeze: bool = False,
    notify: Callable[[str], None] | None = None,
) -> TrainOutcome:
    """`init_from`: a pretrained trunk or a trained fusion model to start from (its
    strategy, options and trunk; fusion/pretrain.py); `freeze`: train the heads alone.
    `notify` hears what the run tells its user before training (the fine-tuning cost
    estimate, when data.tuner fine-tunes the image encoder)."""
    from mmserve.fusion.artifact import ONNX, ONNX_INT8, save_artifact
    from mmserve.fusion.export import compare_int8
    from mmserve.fusion.model import FusionConfig
    from mmserve.fusion.report import build_report, write_report
    from mmserve.fusion.train import TrainConfig, evaluate, train

    tc = train_config or TrainConfig()
    state = None
    if init_from is not None:
        from mmserve.fusion.pretrain import transfer_state

        config, state = transfer_state(init_from, data.dataset)
    else:
        config = FusionConfig.for_dataset(data.dataset, strategy, options=dict(options or {}))
    if freeze and state is None:
        raise ConfigError("freezing the trunk needs a trunk to start from (init_from)")
    tuning: dict[str, Any] = {}
    if data.tuner is not None:
        tuning = _finetuning_estimate(data, config, tc)
        if notify:
            notify(tuning["message"])
    result = train(
        data.dataset,
        config,
        tc,
        split=data.split,
        on_epoch=on_epoch,
        init_state=state,
        freeze=freeze,
        tuner=data.tuner,
    )
    dataset, extra = data.dataset, {}
    if data.tuner is not None:
        from mmserve.fusion.artifact import IMAGE_ENCODER
        from mmserve.fusion.finetune import with_tuned_images

        dataset = with_tuned_images(dataset, data.tuner)
        extra = {IMAGE_ENCODER: data.tuner.export}
        tuning["seconds_per_epoch"] = round(result.seconds / max(1, len(result.history)), 3)
    test_data = dataset.take(result.split.test)
    test = evaluate(result.model, test_data)
    training = {
        **result.summary(),
        "data": str(data.table.path),
        "split": {k: len(v) for k, v in result.split.to_dict().items()},
        "train_config": _plain(tc),
        "init_from": str(init_from) if init_from else None,
        "frozen_trunk": freeze,
        "finetune_image": {k: v for k, v in tuning.items() if k != "message"} or None,
    }
    out = save_artifact(
        out,
        result.model,
        metrics=test,
        training=training,
        onnx=True,
        overwrite=overwrite,
        extra_files=extra,
    )
    int8 = _int8_summary(
        compare_int8(result.model, out / ONNX, out / ONNX_INT8, test_data, repeats=INT8_REPEATS)
    )
    report = build_report(result, dataset)
    report |= {"data": data.table.report.as_dict(), "int8": int8}
    files = write_report(report, out / REPORT_DIR)
    return TrainOutcome(out, files.json, files.html, test, int8, result)


def _finetuning_estimate(data: LoadedData, config: Any, tc: Any) -> dict[str, Any]:
    """Time one training batch through a throwaway model: the estimate printed before
    fine-tuning starts, and recorded with the model."""
    import torch

    from mmserve.fusion.batch import FeatureBatch
    from mmserve.fusion.finetune import estimate_cost
    from mmserve.fusion.model import FusionModel

    rows = torch.arange(min(tc.batch_size, len(data.dataset)))
    batch = FeatureBatch.from_arrays(data.dataset.features).take(rows)
    train_rows = len(data.split.train) if data.split else round(len(data.dataset) * 0.7)
    estimate = estimate_cost(
        data.tuner,
        FusionModel(config),
        batch,
        rows,
        train_rows=train_rows,
        batch_size=tc.batch_size,
        epochs=tc.epochs,
    )
    return {"blocks": data.tuner.blocks, "message": estimate.describe(), **estimate.as_dict()}


def compare_models(
    data: LoadedData,
    out: str | Path,
    *,
    strategies: Sequence[str] | None = None,
    train_config: Any = None,
    options: Mapping[str, Any] | None = None,
) -> tuple[Any, Path]:
    """(Comparison, report.html): the report shows the best fusion run plus the table."""
    from mmserve.fusion.compare import compare
    from mmserve.fusion.report import build_report, write_report

    table = compare(
        data.dataset, strategies, train_config=train_config, options=options, split=data.split
    )
    fused = [r for r in table.rows if "+" in r["modalities"]] or table.rows
    best = max(fused, key=lambda r: _headline(r))
    report = build_report(table.results[best["run"]], data.dataset, comparison=table)
    report |= {"data": data.table.report.as_dict(), "best": best["run"]}
    files = write_report(report, out)
    return table, files.html


def artifact_summary(path: str | Path) -> dict[str, Any]:
    """What the registry shows about a model: strategy, inputs, targets, test metrics."""
    from mmserve.fusion.artifact import read_manifest

    m = read_manifest(path)
    headline = {}
    for name, metrics in m.metrics.items():
        if isinstance(metrics, dict):
            keep = ("accuracy", "macro_f1", "macro_auc", "r2", "mae")
            headline[name] = {k: metrics[k] for k in keep if k in metrics}
    return {
        "strategy": m.model.get("strategy"),
        "modalities": m.encoders,
        "targets": {t.name: list(t.classes) or "regression" for t in m.targets},
        "test_metrics": headline,
    }


def allowed_path(raw: str, data_dir: Path, media_root: Path | None, *, param: str) -> Path:
    """A path a client named (over HTTP), resolved inside the data directory or the media
    root (relative paths: to the data directory); InvalidRequest naming `param` otherwise."""
    roots = [Path(data_dir).resolve()] + ([Path(media_root).resolve()] if media_root else [])
    outside = (
        "outside the data directory and the media root; copy it there, "
        "or use the mmserve fusion CLI"
    )
    return confined_path(raw, roots, field=param, outside=outside)


def check_servable(path: str | Path) -> dict[str, Any]:
    """The registry summary of an artifact dir that can be served; ConfigError saying what
    is wrong otherwise (not a fusion model, not exported, an encoder this install lacks)."""
    from mmserve.fusion.artifact import FINETUNED_IMAGE_ENCODER, ONNX, read_manifest
    from mmserve.models.registry import list_models

    path = Path(path)
    manifest = read_manifest(path)
    if not (path / ONNX).exists():
        raise ConfigError(f"{path.name} has no {ONNX}; run `mmserve fusion export {path}` first")
    known = list_models()
    if manifest.image_encoder is not None:  # the model's own, fine-tuned (finetune.py)
        known = {**known, FINETUNED_IMAGE_ENCODER: "its own image_encoder.onnx"}
    unknown = [e for e in manifest.encoders.values() if e and e not in known]
    if unknown:
        raise ConfigError(f"{path.name} needs encoder {unknown[0]!r}, which is not installed")
    return artifact_summary(path)


def _headline(row: Mapping[str, Any]) -> float:
    """The first accuracy or R2 column of a comparison row (higher is better)."""
    for key, value in row.items():
        if key.endswith((" accuracy", " R2")) and isinstance(value, float):
            return value
    return 0.0


def _int8_summary(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Speed and size of int8 against fp32, and each target's headline metric for both."""
    summary = {k: raw[k] for k in ("batch_size", "fp32_ms", "int8_ms", "speedup")}
    summary |= {"fp32_bytes": raw["fp32_bytes"], "int8_bytes": raw["int8_bytes"]}
    for precision in ("fp32", "int8"):
        summary[f"{precision}_metrics"] = {
            t: {k: m[k] for k in ("accuracy", "macro_auc", "r2") if k in m}
            for t, m in raw["metrics"][precision].items()
        }
    return summary


def _plain(config: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(config)
