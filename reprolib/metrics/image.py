"""Image-level threshold-free metrics: AUROC and average precision.

Every paper of the repository reports image AUROC (AnoGAN Fig. 3, ProxyAno Table I, Hetero-AE
Table I, ReSynthDetect Table 1, MDFSC Table 1); MDFSC also reports average precision.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from reprolib.metrics.sorted_counts import auroc_from_sorted, average_precision_from_sorted
from reprolib.metrics.validation import check_labels_scores


def sorted_by_class(labels: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validated scores of anomalous and of normal samples, each sorted ascending (float64)."""
    is_anomalous, values = check_labels_scores(labels, scores)
    return np.sort(values[is_anomalous]), np.sort(values[~is_anomalous])


def image_auroc(labels: Any, scores: Any) -> float:
    """Area under the ROC curve of image scores (higher score = more anomalous).

    Exact with ties (a tie between a normal and an anomalous image counts one half), equal to
    ``sklearn.metrics.roc_auc_score``.
    """
    return auroc_from_sorted(*sorted_by_class(labels, scores))


def image_ap(labels: Any, scores: Any) -> float:
    """Average precision of image scores, as ``sklearn.metrics.average_precision_score``.

    AP = sum over distinct thresholds of (recall step) x (precision there); no interpolation.
    """
    return average_precision_from_sorted(*sorted_by_class(labels, scores))
