"""The report of an aligned model on its held-out pairs: report.json, and a self-contained
report.html (recall@1/5/10 both ways per modality pair, loss and recall curves, a picture of
the similarity matrix of the first held-out pairs). Same page style as fusion/report.py."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmserve.fusion.align import RECALL_AT, PairData
from mmserve.fusion.report import _PAGE, ReportFiles, _e, _figure, _table

SPLIT_PARTS = ("train", "val", "test")
MATRIX_PAIRS = 16  # rows and columns of the similarity picture


def write_align_report(
    report: Mapping[str, Any],
    vectors: Mapping[str, np.ndarray],
    test: PairData,
    texts: Sequence[Any],
    out_dir: str | Path,
) -> ReportFiles:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    images = {"curves.png": _curves_png(report["training"])}
    matrix = _similarity_png(vectors, test, texts)
    if matrix is not None:
        images["similarity.png"] = matrix
    paths = []
    for name, png in images.items():
        paths.append(out / name)
        paths[-1].write_bytes(png)
    json_path = out / "report.json"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    html_path = out / "report.html"
    html_path.write_text(_html(report, images))
    return ReportFiles(json_path, html_path, paths)


def _html(report: Mapping[str, Any], images: Mapping[str, bytes]) -> str:
    t, test = report["training"], report["test"]
    title = f"Aligned model report: {', '.join(report['encoders'])} in {report['model']['dim']}-d"
    summary = [
        ["encoders", ", ".join(f"{m}={e}" for m, e in report["encoders"].items())],
        ["parameters", t["parameters"]],
        ["epochs run (best)", f"{t['epochs']} ({t['best_epoch']})"],
        ["learnt temperature", t["temperature"]],
        ["training seconds", t["seconds"]],
        ["rows train / val / test", " / ".join(str(t["split"][k]) for k in SPLIT_PARTS)],
    ]
    directions = [k for k in test if "->" in k]
    recall = [[d, *(test[d][f"R@{k}"] for k in RECALL_AT), test[d]["n"]] for d in directions]
    body = [f"<h1>{_e(title)}</h1>", _table(["", ""], summary)]
    body += ["<h2>Held-out retrieval</h2>"]
    body += [_table(["query -> item", *(f"R@{k}" for k in RECALL_AT), "pairs"], recall)]
    body += [_figure(images, "curves.png", "Training loss, validation loss and recall")]
    if "similarity.png" in images:
        body += [_figure(images, "similarity.png", "Cosine similarity, first held-out pairs")]
    bad = report["data"]["bad_rows"]
    if bad:
        body += ["<h2>Bad rows (skipped)</h2>"]
        body += [_table(["line", "reason"], [[b["line"], b["reason"]] for b in bad[:100]])]
    return _PAGE.format(title=_e(title), body="\n".join(body))


def _curves_png(training: Mapping[str, Any]) -> bytes:
    from mmserve.fusion.plots import training_curves_png

    return training_curves_png(
        training["history"],
        training["best_epoch"],
        loss_name="InfoNCE",
        score_name="mean R@1,5,10",
        score_title="validation recall",
    )


def _similarity_png(
    vectors: Mapping[str, np.ndarray], test: PairData, texts: Sequence[Any]
) -> bytes | None:
    """Text (or the first modality) against image (or the second) for the first pairs."""
    from matplotlib.figure import Figure

    from mmserve.fusion.plots import _png

    order = [m for m in ("text", "image", "audio") if m in vectors]
    a, b = order[0], order[1]
    rows = np.flatnonzero(test.present[a] & test.present[b])[:MATRIX_PAIRS]
    if len(rows) < 2:
        return None
    sims = vectors[a][rows] @ vectors[b][rows].T
    fig = Figure(figsize=(8, 6.5))
    ax = fig.add_subplot()
    image = ax.imshow(sims, cmap="viridis")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    labels = [str(texts[i])[:40] if a == "text" and texts[i] else f"{a} {i}" for i in rows]
    ax.set(xticks=range(len(rows)), yticks=range(len(rows)), xlabel=f"{b} (same order)")
    ax.set_yticklabels(labels, fontsize=7)
    ax.set_title(f"cosine {a} x {b}: the diagonal holds the true pairs")
    return _png(fig)
