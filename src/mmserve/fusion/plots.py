"""PNG plots for reports: confusion matrix, ROC curves, training curves.

Drawn on bare `Figure` objects with the Agg canvas, never pyplot: no global figure state, no
GUI backend picked from the environment, safe from any thread of a server.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 100


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


def confusion_matrix_png(
    matrix: Sequence[Sequence[int]], classes: Sequence[str], title: str
) -> bytes:
    n = len(classes)
    size = min(3 + 0.45 * n, 12)
    fig = Figure(figsize=(size, size))
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set(
        xticks=range(n),
        yticks=range(n),
        xlabel="predicted",
        ylabel="true",
        title=title,
    )
    ax.set_xticklabels(classes, rotation=45, ha="right")
    ax.set_yticklabels(classes)
    if n <= 20:  # counts stop being readable past that
        high = max(max(row) for row in matrix) or 1
        for i, row in enumerate(matrix):
            for j, count in enumerate(row):
                color = "white" if count > high / 2 else "black"
                ax.text(j, i, str(count), ha="center", va="center", color=color, fontsize=8)
    return _png(fig)


def roc_png(roc: Mapping[str, Mapping[str, Any]], title: str) -> bytes:
    fig = Figure(figsize=(5, 4.5))
    ax = fig.add_subplot()
    for name, curve in roc.items():
        if curve["auc"] is not None:
            ax.plot(curve["fpr"], curve["tpr"], label=f"{name} (AUC {curve['auc']:.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="chance")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title)
    ax.set(xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def training_curves_png(
    history: Sequence[Mapping[str, float]],
    best_epoch: int,
    *,
    loss_name: str = "loss",
    score_name: str = "score",
    score_title: str = "validation score",
) -> bytes:
    """Train and validation loss, and the validation score, by epoch; the best epoch marked."""
    epochs = [h["epoch"] for h in history]
    fig = Figure(figsize=(7, 3.5))
    loss_ax, score_ax = fig.subplots(1, 2)
    loss_ax.plot(epochs, [h["train_loss"] for h in history], label="train")
    loss_ax.plot(epochs, [h["val_loss"] for h in history], label="validation")
    loss_ax.set(xlabel="epoch", ylabel=loss_name, title="loss")
    loss_ax.legend(fontsize=8)
    score_ax.plot(epochs, [h["val_score"] for h in history], color="tab:green")
    score_ax.set(xlabel="epoch", ylabel=score_name, title=score_title)
    for ax in (loss_ax, score_ax):
        ax.axvline(best_epoch, color="grey", linestyle=":", linewidth=1)
    fig.tight_layout()
    return _png(fig)
