"""Metric names and threshold policies of the results schema (DESIGN §6, docs/contracts.md).

The ``metric`` column of every results CSV takes its values from :data:`METRIC_NAMES`;
``reprolib.results`` rejects any other name. New names are added here, and only here.
"""

from __future__ import annotations

#: Metrics computed from scores (image level, then pixel level, then score statistics).
SCORE_METRICS: tuple[str, ...] = (
    "auroc", "ap", "f1", "acc", "sen", "spe", "precision", "recall",
    "pix_auroc", "pix_aupr", "pix_bacc",
    "score_normal", "score_abnormal", "score_gap",
)
#: Pixel metrics at a fixed threshold that a paper table reports (ProxyAno Table I: 0.5).
PIXEL_EXTRA_METRICS: tuple[str, ...] = ("pix_acc", "pix_f1")
#: The threshold a thresholded metric was taken at (recorded beside it, same policy).
THRESHOLD_METRICS: tuple[str, ...] = ("threshold", "pix_threshold")
#: Numbers about a model, not a dataset (Hetero-AE Tables II, III).
MODEL_SIZE_METRICS: tuple[str, ...] = ("params_m", "flops_g")
#: ``<metric>_std``: the ± value a paper reports beside a mean (Hetero-AE Table I).
STD_METRICS: tuple[str, ...] = tuple(f"{m}_std" for m in SCORE_METRICS + PIXEL_EXTRA_METRICS)

#: Every name allowed in the ``metric`` column of a results table.
METRIC_NAMES: tuple[str, ...] = (
    SCORE_METRICS + PIXEL_EXTRA_METRICS + THRESHOLD_METRICS + MODEL_SIZE_METRICS + STD_METRICS)

#: Metrics that need a threshold (one row per threshold policy).
THRESHOLDED_METRICS: tuple[str, ...] = ("f1", "acc", "sen", "spe", "precision", "recall")

#: How a thresholded metric's threshold was chosen (``threshold_policy`` column).
THRESHOLD_POLICIES: tuple[str, ...] = ("best_f1", "youden", "normal_val", "given", "none")

METRIC_DESCRIPTIONS: dict[str, str] = {
    "auroc": "image-level area under the ROC curve",
    "ap": "image-level average precision (sum over thresholds of recall step x precision)",
    "f1": "2TP / (2TP + FP + FN) (Hetero-AE Sec. IV-A-2)",
    "acc": "(TP + TN) / all",
    "sen": "sensitivity, TP / (TP + FN)",
    "spe": "specificity, TN / (TN + FP)",
    "precision": "TP / (TP + FP); 0 when nothing is predicted anomalous",
    "recall": "TP / (TP + FN) (equals sen)",
    "pix_auroc": "area under the ROC curve over all test pixels",
    "pix_aupr": "average precision over all test pixels (ReSynthDetect Sec. 4)",
    "pix_bacc": "pixel balanced accuracy, (TPR + TNR) / 2 at a threshold",
    "pix_acc": "pixel accuracy at a threshold (ProxyAno Sec. IV-D-2: 0.5)",
    "pix_f1": "pixel F1 at a threshold (ProxyAno Table I)",
    "score_normal": "mean anomaly score of normal test images (ProxyAno Table II)",
    "score_abnormal": "mean anomaly score of abnormal test images (ProxyAno Table II)",
    "score_gap": "score_abnormal - score_normal (ProxyAno Table II)",
    "threshold": "image-score threshold used by the row's policy (score >= threshold: anomalous)",
    "pix_threshold": "pixel-map threshold used by the row's policy",
    "params_m": "model parameters in millions",
    "flops_g": "model FLOPs in billions",
}
METRIC_DESCRIPTIONS.update({f"{m}_std": f"standard deviation of {m} over runs"
                            for m in SCORE_METRICS + PIXEL_EXTRA_METRICS})

THRESHOLD_POLICY_DESCRIPTIONS: dict[str, str] = {
    "best_f1": "threshold of maximal F1 on the test set (Hetero-AE Sec. IV-B-2; uses test labels)",
    "youden": "threshold maximising TPR - FPR on the test ROC (AnoGAN Sec. 3; uses test labels)",
    "normal_val": "a quantile of normal validation scores (no test labels)",
    "given": "a fixed threshold given in advance (ProxyAno: 0.5 on the pixel map)",
    "none": "threshold-free metric",
}
