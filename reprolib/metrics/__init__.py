"""Metrics of the five papers, exact with ties and checked against scikit-learn.

- names: :data:`METRIC_NAMES` (the ``metric`` column of results), :data:`THRESHOLD_POLICIES`;
- image level: :func:`image_auroc`, :func:`image_ap`;
- thresholds: :func:`best_f1_threshold` (Hetero-AE), :func:`youden_threshold` (AnoGAN),
  :func:`normal_val_threshold` (ours), :func:`binary_stats`, :func:`thresholded_metrics`;
- pixel level over all test pixels: :class:`PixelMetricAccumulator`, :func:`pixel_auroc`,
  :func:`pixel_aupr`, :func:`pixel_balanced_accuracy`;
- :func:`score_summary` (ProxyAno Table II) and :func:`evaluate_scores` (tidy rows).

Labels are 0 normal / 1 anomalous; a higher score is more anomalous; a score ``>=`` the
threshold is called anomalous. Bad input (one class only, NaN/inf scores, mismatched shapes,
labels other than 0/1) raises ``ValueError`` saying what was expected and what was found.
"""

from reprolib.metrics.evaluate import evaluate_scores
from reprolib.metrics.image import image_ap, image_auroc
from reprolib.metrics.names import (
    METRIC_DESCRIPTIONS,
    METRIC_NAMES,
    THRESHOLD_POLICIES,
    THRESHOLD_POLICY_DESCRIPTIONS,
    THRESHOLDED_METRICS,
)
from reprolib.metrics.pixel import (
    PixelMetricAccumulator,
    pixel_aupr,
    pixel_auroc,
    pixel_balanced_accuracy,
)
from reprolib.metrics.summary import score_summary
from reprolib.metrics.thresholds import (
    NORMAL_VAL_QUANTILE,
    best_f1_threshold,
    binary_stats,
    choose_threshold,
    confusion_counts,
    normal_val_threshold,
    stats_from_counts,
    thresholded_metrics,
    youden_threshold,
)

__all__ = [
    "METRIC_DESCRIPTIONS", "METRIC_NAMES", "NORMAL_VAL_QUANTILE", "THRESHOLDED_METRICS",
    "THRESHOLD_POLICIES", "THRESHOLD_POLICY_DESCRIPTIONS", "PixelMetricAccumulator",
    "best_f1_threshold", "binary_stats", "choose_threshold", "confusion_counts",
    "evaluate_scores", "image_ap", "image_auroc", "normal_val_threshold", "pixel_aupr",
    "pixel_auroc", "pixel_balanced_accuracy", "score_summary", "stats_from_counts",
    "thresholded_metrics", "youden_threshold",
]
