"""Frozen image encoder vs its last N blocks fine-tuned (mmserve fusion train --finetune-image).

The fusion demo data (text + image, label: does the caption name the picture's colour and
shape); both runs use the same seeded split and fusion settings (early fusion, hidden 64) and
differ only in --finetune-image. Printed per seed: test accuracy of each, epochs run, seconds
per epoch, the estimate printed before fine-tuning, and the one-off time to push every image
through the frozen part of the encoder.

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_finetune_image.py \
         [--rows 300] [--seeds 0 1] [--blocks 1] [--epochs 40]
     --quick: 60 rows, one seed, 3 epochs (checks the script runs; the figures mean nothing)
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from mmserve.fusion.demo import make_demo_data
from mmserve.fusion.pipeline import DataOptions, load_data, train_model
from mmserve.fusion.train import TrainConfig


def run(csv: Path, work: Path, *, blocks: int, seed: int, epochs: int) -> dict:
    options = DataOptions(
        path=csv, targets=("label",), data_dir=work / "data", finetune_image=blocks
    )
    started = time.perf_counter()
    data = load_data(options)
    load_s = time.perf_counter() - started
    messages: list[str] = []
    tc = TrainConfig(seed=seed, epochs=epochs, patience=8, progress=False)
    outcome = train_model(
        data,
        work / f"model-{blocks}-{seed}",
        strategy="early",
        train_config=tc,
        options={"hidden": 64},
        notify=messages.append,
    )
    epochs_run = len(outcome.result.history)
    return {
        "blocks": blocks,
        "seed": seed,
        "accuracy": round(outcome.test["label"]["accuracy"], 3),
        "epochs": epochs_run,
        "best_epoch": outcome.result.best_epoch,
        "seconds_per_epoch": round(outcome.result.seconds / epochs_run, 2),
        "load_seconds": round(load_s, 1),
        "estimate": messages[0] if messages else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--blocks", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.seeds, args.epochs = 60, [0], 3
    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="bench-finetune-"))
    csv = make_demo_data(work / "demo", rows=args.rows, seed=0).csv
    rows = []
    for seed in args.seeds:
        for blocks in (0, args.blocks):
            rows.append(run(csv, work, blocks=blocks, seed=seed, epochs=args.epochs))
            print(json.dumps(rows[-1]), flush=True)
    for blocks in (0, args.blocks):
        mine = [r for r in rows if r["blocks"] == blocks]
        mean = sum(r["accuracy"] for r in mine) / len(mine)
        per_epoch = sum(r["seconds_per_epoch"] for r in mine) / len(mine)
        label = "frozen" if blocks == 0 else f"last {blocks} block(s) fine-tuned"
        print(f"{label}: test accuracy {mean:.3f} (mean of {len(mine)}), {per_epoch:.2f} s/epoch")


if __name__ == "__main__":
    main()
