"""Aligned (mmserve align) vs bridge, text -> image recall, same queries, one run.

1. The align demo data (scenes of coloured shapes in positions, captions, spoken captions
   where espeak-ng is installed): train on 70 %, early-stop on 15 %, and on the held-out
   15 % rank every held-out picture for each held-out caption, with both models.
2. The real photo set the tests and bench_bridge_quality.py use (scikit-image photos with a
   descriptive query each): the same ranking, with the aligned model trained in step 1 and
   with bridge. This is what alignment on narrow data costs on everything else.

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_align.py [--rows 800] [--seeds 0,1,2]
         [--mine-negatives K] [--hard-negatives BETA] [--no-speech]
Prints a markdown table and writes the JSON next to --out.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from mmserve.fusion.align import AlignTrainConfig
from mmserve.fusion.align_demo import make_align_demo
from mmserve.fusion.align_eval import chance_recall, text_to_image_recall
from mmserve.fusion.align_pipeline import PairOptions, align_model, load_pairs
from mmserve.fusion.aligned_serving import AlignedServingModel
from mmserve.fusion.encoders import EncoderSet
from mmserve.models.registry import create_model

sys.path.insert(0, str(Path(__file__).parent))
from bench_bridge_quality import PHOTOS, photos  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=800)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--speech", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--out", type=Path, default=Path("bench-align"))
    parser.add_argument("--mine-negatives", type=int, default=0, metavar="K")
    parser.add_argument("--hard-negatives", type=float, default=0.0, metavar="BETA")
    args = parser.parse_args()
    torch.set_num_threads(1)
    bridge = create_model("bridge", "bridge")
    bridge.load()
    encoders = EncoderSet()
    work = Path(tempfile.mkdtemp(prefix="bench-align-"))
    photo_images = [Image.fromarray(p).convert("RGB") for p in photos()]
    photo_queries = [query for _, query, _ in PHOTOS]
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        started = time.perf_counter()
        demo = make_align_demo(work / f"demo-{seed}", rows=args.rows, seed=seed, speech=args.speech)
        pairs = load_pairs(PairOptions(path=demo.csv, data_dir=work / "data"), encoder_set=encoders)
        tc = AlignTrainConfig(
            seed=seed,
            progress=False,
            mine_negatives=args.mine_negatives,
            hard_negatives=args.hard_negatives,
        )
        outcome = align_model(pairs, args.out / f"seed-{seed}", train_config=tc, overwrite=True)
        aligned = AlignedServingModel("aligned/bench", outcome.artifact, encoders)
        aligned.load()
        test = [pairs.table.rows[i] for i in outcome.result.split.test]
        texts = [r.inputs["text"] for r in test]
        images = [Image.open(r.inputs["image"]).convert("RGB") for r in test]
        row = {
            "seed": seed,
            "held_out_pairs": len(test),
            "chance_R@1": chance_recall(len(test)),
            "demo_aligned": text_to_image_recall(aligned, texts, images),
            "demo_bridge": text_to_image_recall(bridge, texts, images),
            "photos_aligned": text_to_image_recall(aligned, photo_queries, photo_images),
            "photos_bridge": text_to_image_recall(bridge, photo_queries, photo_images),
            "seconds": round(time.perf_counter() - started, 1),
            "epochs": len(outcome.result.history),
            "speech": demo.speech,
            "mine_negatives": args.mine_negatives,
            "hard_negatives": args.hard_negatives,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_align.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(table(rows))


def table(rows: list[dict]) -> str:
    def mean(key: str, k: str = "R@1") -> str:
        values = [r[key][k] for r in rows]
        return f"{np.mean(values):.3f} ({min(values):.3f}-{max(values):.3f})"

    lines = [
        "| set | queries | aligned R@1 | bridge R@1 | aligned R@5 | bridge R@5 |",
        "|---|---|---|---|---|---|",
        f"| align demo, held out | {rows[0]['held_out_pairs']} | {mean('demo_aligned')} | "
        f"{mean('demo_bridge')} | {mean('demo_aligned', 'R@5')} | {mean('demo_bridge', 'R@5')} |",
        f"| scikit-image photos | {len(PHOTOS)} | {mean('photos_aligned')} | "
        f"{mean('photos_bridge')} | {mean('photos_aligned', 'R@5')} | "
        f"{mean('photos_bridge', 'R@5')} |",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
