"""Label efficiency of self-supervised pretraining (mmserve fusion pretrain), side by side.

On the fusion demo data (captions that match their picture or not; real encoders): for
each seed, a seeded 70/15/15 split; the trunk is pretrained on ALL rows without labels
(cross-modal matching, fusion/pretrain.py); then, keeping 5 %, 10 %, 25 % and 100 % of the
training and validation labels (stratified), the same model is trained from scratch and
fine-tuned from the trunk. Test accuracy on the full test split; mean and spread over seeds.

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_label_efficiency.py \
        [--rows 600] [--seeds 0,1,2,3,4] [--strategy attention] [--out DIR]
Prints a markdown table, writes label_efficiency.json and label_efficiency.png to --out.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from mmserve.fusion.demo import make_demo_data
from mmserve.fusion.pipeline import DataOptions, load_data
from mmserve.fusion.pretrain import few_labels, load_unlabeled, pretrain_model, transfer_state
from mmserve.fusion.train import TrainConfig, default_split, evaluate, train

FRACTIONS = (0.05, 0.10, 0.25, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=600)
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--strategy", default="attention")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--out", type=Path, default=Path("bench-label-efficiency"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="bench-label-efficiency-"))
    demo = make_demo_data(work / "demo", rows=args.rows, seed=0)
    labelled = load_data(DataOptions(path=demo.csv, targets=("label",), data_dir=work / "data"))
    unlabeled = load_unlabeled(demo.csv, work / "data")
    dataset = labelled.dataset
    y = dataset.targets["label"]
    options = {"hidden": args.hidden}
    runs = []
    for seed in (int(s) for s in args.seeds.split(",")):
        tc = TrainConfig(seed=seed, progress=False, epochs=100, patience=10)
        started = time.perf_counter()
        trunk = pretrain_model(
            unlabeled,
            work / f"trunk-{seed}",
            strategy=args.strategy,
            options=options,
            train_config=tc,
        )
        pretrain_s = time.perf_counter() - started
        config, state = transfer_state(trunk.artifact, dataset)
        split = default_split(dataset, tc)
        for fraction in FRACTIONS:
            part = few_labels(split, y, fraction, seed)
            test = dataset.take(part.test)
            scratch = train(dataset, config, tc, split=part)
            tuned = train(dataset, config, tc, split=part, init_state=state)
            run = {
                "seed": seed,
                "fraction": fraction,
                "train_labels": len(part.train),
                "val_labels": len(part.val),
                "scratch": evaluate(scratch.model, test)["label"]["accuracy"],
                "pretrained": evaluate(tuned.model, test)["label"]["accuracy"],
                "pretext_accuracy": trunk.test["pretext"]["accuracy"],
                "pretrain_s": round(pretrain_s, 1),
            }
            runs.append(run)
            print(json.dumps(run), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "label_efficiency.json").write_text(json.dumps(runs, indent=2) + "\n")
    (args.out / "label_efficiency.png").write_bytes(figure(runs))
    print(table(runs))


def summary(runs: list[dict]) -> list[dict]:
    out = []
    for fraction in FRACTIONS:
        rows = [r for r in runs if r["fraction"] == fraction]
        s, p = np.array([r["scratch"] for r in rows]), np.array([r["pretrained"] for r in rows])
        out.append(
            {
                "fraction": fraction,
                "labels": int(np.mean([r["train_labels"] for r in rows])),
                "scratch": (s.mean(), s.std(), s.min(), s.max()),
                "pretrained": (p.mean(), p.std(), p.min(), p.max()),
                "gain": float((p - s).mean()),
            }
        )
    return out


def table(runs: list[dict]) -> str:
    lines = [
        "| labels kept | training labels | scratch accuracy | pretrained accuracy | gain |",
        "|---|---|---|---|---|",
    ]
    for r in summary(runs):
        cell = "{:.3f} ± {:.3f} ({:.3f}-{:.3f})"
        lines.append(
            f"| {r['fraction']:.0%} | {r['labels']} | {cell.format(*r['scratch'])} | "
            f"{cell.format(*r['pretrained'])} | {r['gain']:+.3f} |"
        )
    return "\n".join(lines)


def figure(runs: list[dict]) -> bytes:
    from matplotlib.figure import Figure

    from mmserve.fusion.plots import _png

    rows = summary(runs)
    x = [r["fraction"] * 100 for r in rows]
    fig = Figure(figsize=(5.5, 4))
    ax = fig.add_subplot()
    for key, colour in (("scratch", "tab:grey"), ("pretrained", "tab:blue")):
        mean = [r[key][0] for r in rows]
        std = [r[key][1] for r in rows]
        ax.errorbar(x, mean, yerr=std, marker="o", capsize=3, color=colour, label=key)
    ax.set(xscale="log", xlabel="% of training labels kept", ylabel="test accuracy")
    ax.set_xticks(x, [f"{v:g}" for v in x])
    ax.set_title("fusion demo data: scratch vs pretrained trunk (mean ± sd over seeds)")
    ax.legend()
    return _png(fig)


if __name__ == "__main__":
    main()
