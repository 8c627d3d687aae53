"""Thresholds (best-F1, Youden, normal-val, given) and the metrics at them."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, f1_score, precision_score, recall_score, roc_curve

from reprolib.metrics import (
    best_f1_threshold,
    binary_stats,
    confusion_counts,
    normal_val_threshold,
    thresholded_metrics,
    youden_threshold,
)


def _tied_case(seed: int, n: int = 120, levels: int = 6) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    labels[:2] = [0, 1]
    return labels, (rng.integers(0, levels, n) + labels).astype(np.float64)


def _sklearn_stats(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    predicted = (scores >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(labels, predicted, labels=[0, 1]).ravel()
    return {"f1": f1_score(labels, predicted, zero_division=0),
            "acc": (tp + tn) / (tp + tn + fp + fn), "sen": tp / (tp + fn), "spe": tn / (tn + fp),
            "precision": precision_score(labels, predicted, zero_division=0),
            "recall": recall_score(labels, predicted)}


@pytest.mark.parametrize("seed", range(4))
def test_binary_stats_equal_sklearn_at_every_threshold(seed: int) -> None:
    labels, scores = _tied_case(seed)
    for threshold in [*np.unique(scores), scores.max() + 1, scores.min() - 1, 2.5]:
        ours = binary_stats(labels, scores, threshold)
        expected = _sklearn_stats(labels, scores, threshold)
        assert ours == pytest.approx(expected, abs=1e-12), threshold


def test_threshold_is_inclusive_and_counts_are_right() -> None:
    labels, scores = [0, 0, 1, 1, 1], [0.1, 0.5, 0.5, 0.7, 0.2]
    assert confusion_counts(labels, scores, 0.5) == {"tp": 2, "fp": 1, "tn": 1, "fn": 1}
    stats = binary_stats(labels, scores, 0.5)
    assert stats["f1"] == pytest.approx(4 / 6)  # 2TP / (2TP + FP + FN)
    assert stats["acc"] == pytest.approx(3 / 5)
    assert stats["sen"] == stats["recall"] == pytest.approx(2 / 3)
    assert stats["spe"] == pytest.approx(1 / 2)
    assert stats["precision"] == pytest.approx(2 / 3)


def test_precision_without_positive_prediction_is_zero() -> None:
    stats = binary_stats([0, 1, 1], [0.1, 0.2, 0.3], threshold=1.0)
    assert stats["precision"] == 0.0 and stats["f1"] == 0.0 and stats["spe"] == 1.0


def test_best_f1_hand_computed() -> None:
    # candidates (scores of positives): 0.9 -> TP1 FP0 FN2: F1 2/5; 0.6 -> TP2 FP1 FN1: 4/6;
    # 0.3 -> TP3 FP2 FN0: 6/8 = 0.75 (best)
    labels = [1, 0, 1, 0, 1, 0]
    scores = [0.9, 0.8, 0.6, 0.4, 0.3, 0.1]
    assert best_f1_threshold(labels, scores) == 0.3
    assert thresholded_metrics(labels, scores, "best_f1")["f1"] == pytest.approx(0.75)


def test_best_f1_tie_takes_highest_threshold() -> None:
    # 0.9 -> TP1 FP0 FN1: 2/3; 0.5 -> TP2 FP2 FN0: 4/6 = 2/3: equal, the higher one wins
    labels, scores = [1, 0, 0, 1], [0.9, 0.7, 0.6, 0.5]
    assert best_f1_threshold(labels, scores) == 0.9


def test_youden_hand_computed() -> None:
    # positives 0.9, 0.7, 0.35; negatives 0.8, 0.4, 0.3, 0.2
    # t=0.9: TPR 1/3 FPR 0 -> J 1/3; t=0.7: 2/3 - 1/4 = 5/12; t=0.35: 1 - 2/4 = 1/2 (best)
    labels = [1, 0, 1, 0, 1, 0, 0]
    scores = [0.9, 0.8, 0.7, 0.4, 0.35, 0.3, 0.2]
    assert youden_threshold(labels, scores) == 0.35
    stats = thresholded_metrics(labels, scores, "youden")
    assert stats["threshold"] == 0.35
    assert stats["sen"] == 1.0 and stats["spe"] == 0.5
    # tie: t=0.9 gives J = 1/2 - 0, t=0.5 gives 1 - 1/2: the higher threshold is taken
    assert youden_threshold([1, 0, 1, 0], [0.9, 0.7, 0.5, 0.1]) == 0.9


@pytest.mark.parametrize("seed", range(4))
def test_best_thresholds_are_maxima_over_all_thresholds(seed: int) -> None:
    labels, scores = _tied_case(seed, n=80, levels=8)
    candidates = np.unique(scores)
    f1s = [f1_score(labels, (scores >= t).astype(int)) for t in candidates]
    best = best_f1_threshold(labels, scores)
    assert f1_score(labels, (scores >= best).astype(int)) == pytest.approx(max(f1s))
    assert best == candidates[len(f1s) - 1 - int(np.argmax(f1s[::-1]))]  # highest on ties
    fpr, tpr, thresholds = roc_curve(labels, scores, drop_intermediate=False)
    assert youden_threshold(labels, scores) == thresholds[int(np.argmax(tpr - fpr))]


def test_normal_val_threshold_is_a_quantile() -> None:
    val = np.arange(101, dtype=float)
    assert normal_val_threshold(val) == pytest.approx(95.0)
    assert normal_val_threshold(val, quantile=0.5) == pytest.approx(50.0)
    stats = thresholded_metrics([0, 0, 1, 1], [10, 96, 95, 100], "normal_val", val_scores=val)
    assert stats["threshold"] == pytest.approx(95.0)
    assert stats["sen"] == 1.0 and stats["spe"] == 0.5


def test_given_threshold_and_policy_errors() -> None:
    labels, scores = [0, 1, 0, 1], [0.1, 0.6, 0.5, 0.9]
    assert thresholded_metrics(labels, scores, "given", threshold=0.55)["acc"] == 1.0
    with pytest.raises(ValueError, match="needs threshold"):
        thresholded_metrics(labels, scores, "given")
    with pytest.raises(ValueError, match="needs val_scores"):
        thresholded_metrics(labels, scores, "normal_val")
    with pytest.raises(ValueError, match="threshold-free"):
        thresholded_metrics(labels, scores, "none")
    with pytest.raises(ValueError, match="unknown threshold policy 'best'"):
        thresholded_metrics(labels, scores, "best")
    with pytest.raises(ValueError, match=r"quantile must be in \[0, 1\]"):
        normal_val_threshold([1.0, 2.0], quantile=95)
    with pytest.raises(ValueError, match="val_scores must be finite"):
        normal_val_threshold([1.0, np.nan])


@pytest.mark.parametrize("chunk", [1, 3, 7])
def test_results_do_not_depend_on_the_chunk_size(chunk: int, monkeypatch) -> None:
    """The positives are walked in chunks: tiny chunks must give the same answers."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    from reprolib.metrics import image_ap, image_auroc, sorted_counts

    labels, scores = _tied_case(11, n=90, levels=5)
    expected = (best_f1_threshold(labels, scores), youden_threshold(labels, scores))
    monkeypatch.setattr(sorted_counts, "CHUNK", chunk)
    assert (best_f1_threshold(labels, scores), youden_threshold(labels, scores)) == expected
    # equal maxima in different chunks: still the highest threshold
    assert best_f1_threshold([1, 0, 0, 1], [0.9, 0.7, 0.6, 0.5]) == 0.9
    assert youden_threshold([1, 0, 1, 0], [0.9, 0.7, 0.5, 0.1]) == 0.9  # J = 1/2 at both
    assert image_auroc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert image_ap(labels, scores) == pytest.approx(average_precision_score(labels, scores),
                                                     abs=1e-12)
