import numpy as np
import pytest

from mmserve.fusion.data import REGRESSION, TargetSpec
from mmserve.fusion.metrics import (
    auc,
    classification_metrics,
    regression_metrics,
    roc_curve,
    score,
)


def one_hot_probs(pred: list[int], k: int) -> np.ndarray:
    probs = np.full((len(pred), k), 0.1)
    probs[np.arange(len(pred)), pred] = 0.8
    return probs


def test_classification_metrics_by_hand():
    y = np.array([0, 0, 0, 1, 1, 2])
    pred = [0, 0, 1, 1, 2, 2]
    m = classification_metrics(y, one_hot_probs(pred, 3), ["a", "b", "c"])
    assert m["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert m["accuracy"] == pytest.approx(4 / 6)
    a, b, c = (m["per_class"][k] for k in "abc")
    assert (a["precision"], a["recall"], a["support"]) == (1.0, pytest.approx(2 / 3), 3)
    assert (b["precision"], b["recall"]) == (0.5, 0.5)
    assert (c["precision"], c["recall"], c["f1"]) == (0.5, 1.0, pytest.approx(2 / 3))
    assert a["f1"] == pytest.approx(0.8)
    assert m["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)


def test_a_class_never_predicted_has_zero_precision_not_nan():
    m = classification_metrics(np.array([0, 1]), one_hot_probs([0, 0], 2), ["a", "b"])
    assert m["per_class"]["b"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}


def mann_whitney(positive: np.ndarray, score: np.ndarray) -> float:
    """P(score of a random positive > that of a random negative), ties counting half."""
    pos, neg = score[positive], score[~positive]
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())


@pytest.mark.parametrize("seed", range(5))
def test_auc_is_the_mann_whitney_statistic_with_ties(seed):
    rng = np.random.default_rng(seed)
    positive = rng.random(60) < 0.4
    score = np.round(rng.random(60) + 0.3 * positive, 1)  # rounding makes ties
    fpr, tpr = roc_curve(positive, score)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0, 0, 1, 1)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert auc(fpr, tpr) == pytest.approx(mann_whitney(positive, score))


def test_roc_is_one_vs_rest_and_undefined_without_positives():
    y = np.array([0, 0, 1, 1])
    probs = np.array([[0.9, 0.1, 0], [0.6, 0.4, 0], [0.3, 0.7, 0], [0.45, 0.55, 0]])
    m = classification_metrics(y, probs, ["a", "b", "c"])
    assert m["roc"]["a"]["auc"] == 1.0 and m["roc"]["b"]["auc"] == 1.0
    assert m["roc"]["c"] == {"auc": None, "fpr": [], "tpr": []}  # no row of class c
    assert m["macro_auc"] == 1.0
    assert m["macro_f1"] == 1.0  # macro over the classes that occur


def test_regression_metrics():
    m = regression_metrics(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.0, 4.0, 2.0]))
    assert m["mae"] == pytest.approx(0.75)
    assert m["rmse"] == pytest.approx(np.sqrt(5 / 4))
    assert m["r2"] == pytest.approx(1 - 5 / 5)
    assert regression_metrics(np.ones(3), np.ones(3))["r2"] is None


def test_score_weights_targets_like_the_loss():
    targets = [
        TargetSpec(name="c", classes=("x", "y"), weight=3.0),
        TargetSpec(name="r", kind=REGRESSION, weight=1.0),
    ]
    metrics = {"c": {"macro_f1": 1.0}, "r": {"r2": 0.2}}
    assert score(targets, metrics) == pytest.approx((3 * 1.0 + 0.2) / 4)
