"""Thresholds and the metrics taken at them (F1, ACC, SEN, SPE, precision, recall).

A score ``>= threshold`` is called anomalous everywhere in this package. Policies
(``threshold_policy`` of the results schema):

- ``best_f1``: the threshold of maximal F1 on the test set, Hetero-AE's protocol
  (Sec. IV-A-2: "chosen based on the best F1-score"); it uses test labels and is labelled so.
- ``youden``: the cut-off maximising Youden's J = TPR - FPR on the test ROC, AnoGAN's
  protocol (Sec. 3, Table 1); it uses test labels too.
- ``normal_val``: a quantile of anomaly scores of held-out *normal* validation images (ours:
  no test labels are used). With the default ``quantile=0.95`` about 5% of normal images
  score at or above it, i.e. the expected false-positive rate is about 5%.
- ``given``: a threshold fixed in advance (ProxyAno Sec. IV-D-2 uses 0.5 on the pixel map).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from reprolib.metrics.image import sorted_by_class
from reprolib.metrics.names import THRESHOLD_POLICIES
from reprolib.metrics.sorted_counts import best_threshold_from_sorted, confusion_from_sorted
from reprolib.metrics.validation import check_scores, check_threshold

#: Default quantile of normal validation scores for the ``normal_val`` policy.
NORMAL_VAL_QUANTILE: float = 0.95


def best_f1_threshold(labels: Any, scores: Any) -> float:
    """Threshold of maximal F1 = 2TP / (2TP + FP + FN) on (``labels``, ``scores``).

    The threshold is one of the anomalous samples' scores; among equal F1 values the highest
    threshold is taken.
    """
    return best_threshold_from_sorted(*sorted_by_class(labels, scores), "f1")[0]


def youden_threshold(labels: Any, scores: Any) -> float:
    """Threshold maximising Youden's index J = sensitivity + specificity - 1 (AnoGAN Sec. 3).

    The threshold is one of the anomalous samples' scores; among equal J the highest is taken.
    """
    return best_threshold_from_sorted(*sorted_by_class(labels, scores), "youden")[0]


def normal_val_threshold(val_scores: Any, quantile: float = NORMAL_VAL_QUANTILE) -> float:
    """The ``quantile`` of normal validation scores (NumPy's linear interpolation).

    Uses no test data: a score at or above it is called anomalous, so about ``1 - quantile``
    of normal images are false positives.
    """
    values = check_scores(val_scores, "val_scores")
    if not 0.0 <= float(quantile) <= 1.0:
        raise ValueError(f"quantile must be in [0, 1]; found {quantile}")
    return float(np.quantile(values, float(quantile)))


def stats_from_counts(tp: int, fp: int, tn: int, fn: int) -> dict[str, float]:
    """F1, ACC, SEN, SPE, precision and recall from confusion counts (Hetero-AE Sec. IV-A-2).

    Precision with no sample called anomalous (TP + FP = 0) is defined as 0.0, as
    scikit-learn's ``zero_division=0``; F1 = 2TP / (2TP + FP + FN) is then 0 as well. A rate
    whose denominator is 0 (no sample of that class) is 0.0.
    """

    def ratio(numerator: int, denominator: int) -> float:
        return numerator / denominator if denominator > 0 else 0.0

    sensitivity = ratio(tp, tp + fn)
    return {
        "f1": ratio(2 * tp, 2 * tp + fp + fn),
        "acc": ratio(tp + tn, tp + fp + tn + fn),
        "sen": sensitivity,
        "spe": ratio(tn, tn + fp),
        "precision": ratio(tp, tp + fp),
        "recall": sensitivity,
    }


def confusion_counts(labels: Any, scores: Any, threshold: float) -> dict[str, int]:
    """``{"tp", "fp", "tn", "fn"}`` when a score ``>= threshold`` is called anomalous."""
    return confusion_from_sorted(*sorted_by_class(labels, scores), check_threshold(threshold))


def binary_stats(labels: Any, scores: Any, threshold: float) -> dict[str, float]:
    """``{"f1", "acc", "sen", "spe", "precision", "recall"}`` at ``threshold``.

    A score ``>= threshold`` is anomalous; see :func:`stats_from_counts` for the definitions.
    """
    return stats_from_counts(**confusion_counts(labels, scores, threshold))


def choose_threshold(labels: Any, scores: Any, policy: str, *, val_scores: Any = None,
                     threshold: float | None = None,
                     quantile: float = NORMAL_VAL_QUANTILE) -> float:
    """The threshold that ``policy`` picks (see the module docstring)."""
    if policy == "best_f1":
        return best_f1_threshold(labels, scores)
    if policy == "youden":
        return youden_threshold(labels, scores)
    if policy == "normal_val":
        if val_scores is None:
            raise ValueError("policy 'normal_val' needs val_scores (scores of normal "
                             "validation images); found None")
        return normal_val_threshold(val_scores, quantile)
    if policy == "given":
        if threshold is None:
            raise ValueError("policy 'given' needs threshold=<number>; found None")
        return check_threshold(threshold)
    if policy == "none":
        raise ValueError("policy 'none' is for threshold-free metrics; thresholded metrics need "
                         f"one of {[p for p in THRESHOLD_POLICIES if p != 'none']}")
    raise ValueError(f"unknown threshold policy {policy!r}; expected one of "
                     f"{list(THRESHOLD_POLICIES)}")


def thresholded_metrics(labels: Any, scores: Any, policy: str, *, val_scores: Any = None,
                        threshold: float | None = None,
                        quantile: float = NORMAL_VAL_QUANTILE) -> dict[str, float]:
    """:func:`binary_stats` at the threshold ``policy`` picks, plus ``"threshold"`` itself."""
    chosen = choose_threshold(labels, scores, policy, val_scores=val_scores,
                              threshold=threshold, quantile=quantile)
    return {**binary_stats(labels, scores, chosen), "threshold": chosen}
