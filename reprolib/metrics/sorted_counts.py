"""Exact rank statistics from the sorted scores of each class.

Every metric of this package reduces to two counts at a threshold ``t``: ``tp(t)``, the
anomalous samples with score >= t, and ``fp(t)``, the normal samples with score >= t. With
the scores of each class sorted once, both are binary searches, so AUROC, average precision
and the best thresholds are exact (ties included) and need no per-threshold curve arrays:
the positives are walked in chunks, which bounds the extra memory whatever the sample count.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

#: Positives processed per step (bounds the temporary arrays to a few MB).
CHUNK: int = 1 << 20


def key_for(sorted_scores: np.ndarray, threshold: float) -> np.generic:
    """``threshold`` in the dtype of ``sorted_scores`` such that ``s >= key`` iff ``s >= t``.

    Searching a float32 array with a float64 key makes NumPy copy the array to float64, so the
    key is cast instead; when the cast rounds down, the next representable value is used.
    """
    dtype = sorted_scores.dtype
    if dtype.kind != "f":
        return np.float64(threshold)  # integer scores: NumPy compares without a large copy
    key = dtype.type(threshold)
    if float(key) < threshold:
        key = np.nextafter(key, dtype.type(np.inf))
    return key


def count_at_or_above(sorted_scores: np.ndarray, threshold: float) -> int:
    """Number of values ``>= threshold`` in ascending ``sorted_scores``."""
    index = np.searchsorted(sorted_scores, key_for(sorted_scores, threshold), side="left")
    return int(sorted_scores.size - index)


def confusion_from_sorted(positives: np.ndarray, negatives: np.ndarray,
                          threshold: float) -> dict[str, int]:
    """Confusion counts when a score ``>= threshold`` is called anomalous."""
    tp = count_at_or_above(positives, threshold)
    fp = count_at_or_above(negatives, threshold)
    return {"tp": tp, "fp": fp, "tn": int(negatives.size) - fp, "fn": int(positives.size) - tp}


def _chunks(values: np.ndarray) -> list[np.ndarray]:
    return [values[start:start + CHUNK] for start in range(0, values.size, CHUNK)]


def auroc_from_sorted(positives: np.ndarray, negatives: np.ndarray) -> float:
    """Area under the ROC curve = P(score_pos > score_neg) + P(equal) / 2 (Mann-Whitney U).

    Equal to the trapezoidal area under the full ROC curve (scikit-learn's ``roc_auc_score``)
    including ties, and computed in exact integer arithmetic before one final division.
    """
    twice_u = 0
    for chunk in _chunks(positives):
        below = np.searchsorted(negatives, chunk, side="left")
        below_or_equal = np.searchsorted(negatives, chunk, side="right")
        twice_u += int(below.sum(dtype=np.int64)) + int(below_or_equal.sum(dtype=np.int64))
    return twice_u / (2 * positives.size * negatives.size)


def _tp_fp_at_positives(positives: np.ndarray, negatives: np.ndarray,
                        chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    tp = positives.size - np.searchsorted(positives, chunk, side="left")
    fp = negatives.size - np.searchsorted(negatives, chunk, side="left")
    return tp, fp


def average_precision_from_sorted(positives: np.ndarray, negatives: np.ndarray) -> float:
    """Average precision as scikit-learn defines it: sum_k (R_k - R_(k-1)) * P_k.

    Recall only steps at thresholds equal to a positive's score, by (count of positives with
    that score) / P, so summing each positive's precision at its own score and dividing by P
    gives the same sum (no interpolation, ties included).
    """
    total = 0.0
    for chunk in _chunks(positives):
        tp, fp = _tp_fp_at_positives(positives, negatives, chunk)
        total += float(np.sum(tp / (tp + fp)))
    return total / positives.size


def best_threshold_from_sorted(positives: np.ndarray, negatives: np.ndarray,
                               objective: Literal["f1", "youden"]) -> tuple[float, float]:
    """Threshold maximising F1 or Youden's J = TPR - FPR, and the maximum.

    Both objectives peak at a threshold equal to some anomalous sample's score (between two
    such scores, lowering the threshold only adds false positives), so the candidates are the
    positives' scores. Among equal maxima the highest threshold is returned (fewest samples
    called anomalous). F1 = 2TP / (TP + FP + P); J is compared in exact integers.
    """
    n_pos, n_neg = int(positives.size), int(negatives.size)
    best_value: float = -np.inf
    best_threshold = float(positives[-1])
    for chunk in _chunks(positives):
        tp, fp = _tp_fp_at_positives(positives, negatives, chunk)
        if objective == "f1":
            value = 2 * tp / (tp + fp + n_pos)
        elif objective == "youden":
            value = tp.astype(np.int64) * n_neg - fp.astype(np.int64) * n_pos  # J * P * N
        else:
            raise ValueError(f"objective must be 'f1' or 'youden'; found {objective!r}")
        last_max = value.size - 1 - int(np.argmax(value[::-1]))  # highest threshold on ties
        if value[last_max] >= best_value:
            best_value, best_threshold = value[last_max], float(chunk[last_max])
    if objective == "youden":
        best_value = best_value / (n_pos * n_neg)
    return best_threshold, float(best_value)
