"""Mean anomaly score of normal and of abnormal images and their gap (ProxyAno Table II)."""

from __future__ import annotations

from typing import Any

from reprolib.metrics.validation import check_labels_scores


def score_summary(labels: Any, scores: Any) -> dict[str, float]:
    """``{"score_normal", "score_abnormal", "score_gap"}``: class means of ``scores`` and
    ``score_gap = score_abnormal - score_normal`` (ProxyAno Sec. IV-C, Table II)."""
    is_anomalous, values = check_labels_scores(labels, scores)
    normal = float(values[~is_anomalous].mean())
    abnormal = float(values[is_anomalous].mean())
    return {"score_normal": normal, "score_abnormal": abnormal, "score_gap": abnormal - normal}
