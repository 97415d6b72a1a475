"""Teacher vs distilled student, side by side in one run (mmserve fusion distill).

The fusion demo data with audio (text + image + audio, label: does the caption match the
picture); the teacher is the default fusion model (attention, hidden 128) on all three
modalities; the student is `early`, hidden 32, trunk 32, text + image only. Both are
measured on the same test rows: accuracy, parameters, int8 ONNX size, head predictions/s
(features in, int8 ONNX, batch 1 and 64) and served predictions/s: what a ModelRunner's
worker does per request item (each modality's encoder on decoded inputs + the int8 head,
fusion/serving.py), batches of 32, best of 3 passes.

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_distill.py [--rows 600] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

from mmserve.fusion.demo import make_demo_data
from mmserve.fusion.distill import StudentSpec
from mmserve.fusion.distill_pipeline import distill_model
from mmserve.fusion.encoders import EncoderSet, decode_file
from mmserve.fusion.pipeline import DataOptions, load_data, train_model
from mmserve.fusion.serving import FusionServingModel
from mmserve.fusion.train import TrainConfig
from mmserve.media import MediaPolicy

SERVED_ROWS = 96
BATCH = 32


def served_rate(path: Path, items: list[dict], encoders: EncoderSet) -> float:
    model = FusionServingModel("fusion/bench", path, encoders)
    model.load()
    mine = [{m: v for m, v in item.items() if m in model.modalities} for item in items]
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for start in range(0, len(mine), BATCH):
            model.forward([model.preprocess(i) for i in mine[start : start + BATCH]])
        best = min(best, time.perf_counter() - started)
    return round(len(mine) / best, 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=600)
    parser.add_argument("--out", type=Path, default=Path("bench-distill"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="bench-distill-"))
    demo = make_demo_data(work / "demo", rows=args.rows, seed=0, audio=True)
    data = load_data(DataOptions(path=demo.csv, targets=("label",), data_dir=work / "data"))
    tc = TrainConfig(seed=0, progress=False)
    teacher = train_model(data, args.out / "teacher", train_config=tc, overwrite=True)
    spec = StudentSpec(strategy="early", hidden=32, trunk=32, modalities=("text", "image"))
    student = distill_model(
        teacher.artifact,
        args.out / "student",
        spec,
        work / "data",
        train_config=tc,
        overwrite=True,
    )
    encoders = EncoderSet()
    policy = MediaPolicy()
    items = []
    for row in data.table.rows[:SERVED_ROWS]:
        item = {"text": row.inputs["text"]}
        item["image"] = Image.open(row.inputs["image"]).convert("RGB")
        if "audio" in row.inputs:
            path = row.inputs["audio"]
            item["audio"] = decode_file("audio", path, path.read_bytes(), policy)
        items.append(item)
    comparison = student.comparison
    comparison["teacher"]["served_per_s"] = served_rate(teacher.artifact, items, encoders)
    comparison["student"]["served_per_s"] = served_rate(student.artifact, items, encoders)
    (args.out / "bench_distill.json").write_text(json.dumps(comparison, indent=2) + "\n")
    print(table(comparison))


def table(comparison: dict) -> str:
    lines = [
        "| model | modalities | test accuracy | parameters | int8 ONNX | head/s batch 1 | "
        "head/s batch 64 | served/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for role, c in comparison.items():
        lines.append(
            f"| {role} | {' + '.join(c['modalities'])} | {c['accuracy']['label']:.3f} | "
            f"{c['parameters']:,} | {c['int8_bytes'] / 1e3:.0f} kB | {c['per_s_batch1']:,.0f} | "
            f"{c['per_s_batch64']:,.0f} | {c['served_per_s']:,.1f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
