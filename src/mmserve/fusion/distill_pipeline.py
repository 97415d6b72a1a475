"""`mmserve fusion distill` and the `fusion-distill` job: teacher artifact + data in, a
student artifact (config, weights, ONNX fp32 + int8, report) out, with the side-by-side
comparison on the same test rows: accuracy, parameters, size on disk, predictions/s."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from mmserve.errors import ConfigError
from mmserve.fusion.distill import DistillConfig, StudentSpec, distill
from mmserve.fusion.pipeline import REPORT_DIR, DataOptions, LoadedData, load_data
from mmserve.fusion.train import TrainConfig, evaluate

TIMING_REPEATS = 3  # passes over the test rows per timing; the best one counts


@dataclass
class DistillOutcome:
    artifact: Path
    report_json: Path
    comparison: dict[str, Any]  # "teacher" / "student" -> accuracy, params, bytes, per s
    data: LoadedData
    result: Any


def load_teacher_data(
    teacher: str | Path,
    data_dir: Path,
    *,
    data: Path | None = None,
    policy: Any = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Any, LoadedData]:
    """(teacher model, its labelled data): `data`, else the file it was trained on."""
    from mmserve.fusion.artifact import load_model

    model, manifest = load_model(teacher)
    if manifest.image_encoder is not None:
        raise ConfigError(
            f"{Path(teacher).name} fine-tuned its image encoder (--finetune-image); "
            "distilling such a teacher is not supported"
        )
    path = data or manifest.training.get("data")
    if not path or not Path(path).is_file():
        raise ConfigError(f"name the labelled data (--data): the teacher's {path!r} is not a file")
    options = DataOptions(
        path=Path(path),
        targets=tuple(t.name for t in manifest.targets),
        data_dir=data_dir,
        encoders=manifest.encoders,
    )
    loaded = load_data(options, policy=policy, progress=progress)
    for want in manifest.targets:
        have = next(t for t in loaded.dataset.target_specs if t.name == want.name)
        if have.classes != want.classes:
            raise ConfigError(
                f"target {want.name!r}: the data has classes {list(have.classes)}, the "
                f"teacher {list(want.classes)}"
            )
    missing = [m for m in model.config.modalities if m not in loaded.dataset.specs]
    if missing:
        raise ConfigError(f"the data has no {missing[0]} column; the teacher takes it")
    loaded.dataset = loaded.dataset.select(list(model.config.modalities))
    return model, loaded


def distill_model(
    teacher_path: str | Path,
    out: str | Path,
    spec: StudentSpec,
    data_dir: Path,
    *,
    data: Path | None = None,
    unlabeled: Path | None = None,
    config: DistillConfig | None = None,
    train_config: TrainConfig | None = None,
    policy: Any = None,
    on_epoch: Callable[[Any], None] | None = None,
    overwrite: bool = False,
) -> DistillOutcome:
    from mmserve.fusion.artifact import read_manifest, save_artifact
    from mmserve.fusion.pretrain import load_unlabeled
    from mmserve.fusion.report import build_report, write_report

    teacher, loaded = load_teacher_data(teacher_path, data_dir, data=data, policy=policy)
    seed = read_manifest(teacher_path).training.get("train_config", {}).get("seed", 0)
    tc = replace(train_config or TrainConfig(), seed=seed)  # the teacher's split
    extra = None
    if unlabeled is not None:
        raw = load_unlabeled(unlabeled, data_dir, encoders=read_manifest(teacher_path).encoders)
        extra = {m: a for m, a in raw.features.items() if m in teacher.config.modalities}
    result = distill(
        teacher,
        loaded.dataset,
        spec,
        unlabeled=extra,
        config=config,
        train_config=tc,
        split=loaded.split,
        on_epoch=on_epoch,
    )
    student_data = loaded.dataset.select(list(result.config.modalities))
    test = evaluate(result.model, student_data.take(result.split.test))
    training = {
        "kind": "distilled",
        "teacher": str(teacher_path),
        "student_spec": asdict(spec),
        "distill_config": asdict(config or DistillConfig()),
        **result.summary(),
        "data": str(loaded.table.path),
        "unlabeled": str(unlabeled) if unlabeled else None,
        "train_config": asdict(tc),
    }
    path = save_artifact(
        out, result.model, metrics=test, training=training, onnx=True, overwrite=overwrite
    )
    comparison = compare_heads(Path(teacher_path), path, loaded, result.split.test)
    report = build_report(result, student_data) | {"distillation": comparison}
    files = write_report(report, path / REPORT_DIR)
    return DistillOutcome(path, files.json, comparison, loaded, result)


def compare_heads(
    teacher: Path, student: Path, loaded: LoadedData, test_rows: np.ndarray
) -> dict[str, Any]:
    """Teacher and student on the same test rows: accuracy, parameters, int8 ONNX bytes,
    and int8 head predictions per second (features in; batch 1 and 64)."""
    from mmserve.fusion.artifact import ONNX_INT8, load_model, load_predictor

    out = {}
    for role, path in (("teacher", teacher), ("student", student)):
        model, _ = load_model(path)
        data = loaded.dataset.select(list(model.config.modalities)).take(test_rows)
        metrics = evaluate(model, data)
        predictor = load_predictor(path, "int8")
        out[role] = {
            "modalities": list(model.config.modalities),
            "accuracy": {t: m["accuracy"] for t, m in metrics.items() if "accuracy" in m},
            "r2": {t: m["r2"] for t, m in metrics.items() if "r2" in m},  # regression
            "parameters": model.n_parameters(),
            "int8_bytes": (path / ONNX_INT8).stat().st_size,
            "per_s_batch1": _rate(predictor, data, 1),
            "per_s_batch64": _rate(predictor, data, 64),
        }
    return out


def _rate(predictor: Any, data: Any, batch: int) -> float:
    """Predictions per second over the rows, best of TIMING_REPEATS passes."""
    n = len(data)
    best = float("inf")
    for _ in range(TIMING_REPEATS):
        started = time.perf_counter()
        for start in range(0, n, batch):
            rows = np.arange(start, min(start + batch, n))
            predictor.predict({m: a.take(rows) for m, a in data.features.items()})
        best = min(best, time.perf_counter() - started)
    return round(n / best, 1)
