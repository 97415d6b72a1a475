"""Evaluation metrics in plain numpy (no scikit-learn: these few formulas do not justify a
dependency of its size, and they are checked against hand-computed cases in the tests).

Every function returns JSON-ready Python values (floats, lists, None where undefined).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mmserve.fusion.data import CLASSIFICATION, TargetSpec


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """(classes, classes) counts: row = true class, column = predicted class."""
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes**2).reshape(
        n_classes, n_classes
    )


def roc_curve(positive: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False and true positive rates at every distinct score threshold, from (0, 0) to (1, 1).
    Tied scores make one step, so the area below is the probability that a random positive
    outscores a random negative, ties counting half (the Mann-Whitney U statistic)."""
    order = np.argsort(-score, kind="stable")
    positive, score = positive[order], score[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(score)), len(score) - 1]
    tps = np.cumsum(positive)[last_of_tie]
    fps = last_of_tie + 1 - tps
    return np.r_[0.0, fps / fps[-1]], np.r_[0.0, tps / tps[-1]]


def auc(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))  # trapezoids


def classification_metrics(
    y_true: np.ndarray, probs: np.ndarray, classes: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, per-class and macro precision/recall/F1, confusion matrix, one-vs-rest ROC.

    Macro averages run over the classes present in y_true (a class with no test rows has no
    recall to average). AUC is None for a class with no positive or no negative row.
    """
    k = len(classes)
    y_pred = probs.argmax(1)
    cm = confusion_matrix(y_true, y_pred, k)
    tp, predicted, support = np.diag(cm), cm.sum(0), cm.sum(1)
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros(k), where=support > 0)
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros(k), where=denominator > 0)
    per_class: dict[str, dict[str, Any]] = {}
    roc: dict[str, dict[str, Any]] = {}
    for c, name in enumerate(classes):
        positive = y_true == c
        per_class[name] = {
            "precision": float(precision[c]),
            "recall": float(recall[c]),
            "f1": float(f1[c]),
            "support": int(support[c]),
        }
        if positive.all() or not positive.any():
            roc[name] = {"auc": None, "fpr": [], "tpr": []}
            continue
        fpr, tpr = roc_curve(positive, probs[:, c])
        roc[name] = {"auc": auc(fpr, tpr), "fpr": _rounded(fpr), "tpr": _rounded(tpr)}
    seen = support > 0
    aucs = [float(r["auc"]) for r in roc.values() if r["auc"] is not None]
    return {
        "n": int(len(y_true)),
        "accuracy": float(np.mean(y_pred == y_true)),
        "macro_precision": float(precision[seen].mean()),
        "macro_recall": float(recall[seen].mean()),
        "macro_f1": float(f1[seen].mean()),
        "macro_auc": float(np.mean(aucs)) if aucs else None,
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
        "roc": roc,
    }


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    error = y_pred - y_true
    total = float(np.sum((y_true - y_true.mean()) ** 2))
    return {
        "n": int(len(y_true)),
        "mae": float(np.mean(np.abs(error))),
        "rmse": float(np.sqrt(np.mean(error**2))),
        # R2 against the test set's own mean; None when the targets do not vary at all
        "r2": 1.0 - float(np.sum(error**2)) / total if total > 0 else None,
    }


def target_metrics(
    targets: Sequence[TargetSpec],
    y_true: Mapping[str, np.ndarray],
    outputs: Mapping[str, np.ndarray],
) -> dict[str, dict[str, Any]]:
    """target -> its metrics; `outputs` holds class probabilities or regression values."""
    return {
        t.name: classification_metrics(y_true[t.name], outputs[t.name], t.classes)
        if t.kind == CLASSIFICATION
        else regression_metrics(y_true[t.name], outputs[t.name])
        for t in targets
    }


def headline(target: TargetSpec, metrics: Mapping[str, Any]) -> float:
    """The one number per target that early stopping and comparisons rank by: macro F1
    (fair to rare classes, unlike accuracy) or R2. Higher is better."""
    value = metrics["macro_f1"] if target.kind == CLASSIFICATION else metrics["r2"]
    return float(value) if value is not None else 0.0


def score(targets: Sequence[TargetSpec], metrics: Mapping[str, Mapping[str, Any]]) -> float:
    """Headline numbers averaged with the loss weights (lambda_t), so early stopping values
    the targets as the loss does."""
    total = sum(t.weight for t in targets) or 1.0
    return sum(t.weight * headline(t, metrics[t.name]) for t in targets) / total


def _rounded(x: np.ndarray) -> list[float]:
    return [round(float(v), 5) for v in x]
