"""All metrics of one scored test set as tidy rows ``{"metric", "value", "threshold_policy"}``.

This is what notebooks call (through ``reprolib.experiment.record``); the rows go to
``ResultRecorder.add_metrics`` and from there to the results CSV (DESIGN §6).
"""

from __future__ import annotations

import warnings
from typing import Any

from reprolib.metrics.bootstrap import N_RESAMPLES, image_intervals, pixel_intervals
from reprolib.metrics.image import image_ap, image_auroc
from reprolib.metrics.names import THRESHOLD_POLICIES, THRESHOLDED_METRICS
from reprolib.metrics.pixel import accumulate
from reprolib.metrics.summary import score_summary
from reprolib.metrics.thresholds import NORMAL_VAL_QUANTILE, thresholded_metrics
from reprolib.metrics.validation import check_labels_scores, check_threshold


def _row(metric: str, value: float, policy: str,
         interval: tuple[float, float] | None = None) -> dict[str, Any]:
    row = {"metric": metric, "value": float(value), "threshold_policy": policy}
    if interval is not None:
        row["ci_low"], row["ci_high"] = interval
    return row


def evaluate_scores(labels: Any, scores: Any, *,
                    policies: tuple[str, ...] | list[str] = ("best_f1", "normal_val"),
                    val_scores: Any = None, maps: Any = None, masks: Any = None,
                    pixel_threshold: float | None = None, threshold: float | None = None,
                    quantile: float = NORMAL_VAL_QUANTILE, n_resamples: int = N_RESAMPLES,
                    bootstrap_seed: int = 0) -> list[dict[str, Any]]:
    """Image, thresholded, score-summary and (given maps and masks) pixel metrics as rows.

    - policy ``none``: ``auroc``, ``ap``, ``score_normal``, ``score_abnormal``, ``score_gap``;
    - for each of ``policies``: ``f1, acc, sen, spe, precision, recall`` and the ``threshold``
      used. ``normal_val`` needs ``val_scores``: without them it is skipped with a warning;
      ``given`` needs ``threshold``;
    - with ``maps`` and ``masks``: ``pix_auroc`` and ``pix_aupr`` (policy ``none``), then
      ``pix_bacc``, ``pix_acc``, ``pix_f1`` and ``pix_threshold`` at ``pixel_threshold``
      (policy ``given``), or, when it is None, at the pixel Youden threshold, which maximises
      balanced accuracy on the test masks (policy ``youden``: it uses test labels).

    ``auroc``, ``ap``, ``pix_auroc`` and ``pix_aupr`` rows also carry ``ci_low`` / ``ci_high``,
    the stratified bootstrap 95 % interval of :mod:`reprolib.metrics.bootstrap`
    (``n_resamples`` resamples seeded by ``bootstrap_seed``; ``n_resamples=0``: no interval).
    """
    check_labels_scores(labels, scores)
    unknown = [p for p in policies if p not in THRESHOLD_POLICIES]
    if unknown:
        raise ValueError(f"unknown threshold policy {unknown[0]!r}; expected some of "
                         f"{list(THRESHOLD_POLICIES)}")
    if (maps is None) != (masks is None):
        raise ValueError("pixel metrics need both maps and masks; found only "
                         f"{'maps' if masks is None else 'masks'}")
    image_ci: dict[str, tuple[float, float]] = {}
    if n_resamples:
        image_ci = image_intervals(labels, scores, n_resamples=n_resamples, seed=bootstrap_seed)
    rows = [_row("auroc", image_auroc(labels, scores), "none", image_ci.get("auroc")),
            _row("ap", image_ap(labels, scores), "none", image_ci.get("ap"))]
    rows += [_row(name, value, "none") for name, value in score_summary(labels, scores).items()]
    for policy in dict.fromkeys(policies):  # unique, in order
        if policy == "none":
            continue
        if policy == "normal_val" and val_scores is None:
            warnings.warn("evaluate_scores: policy 'normal_val' skipped, no val_scores given",
                          RuntimeWarning, stacklevel=2)
            continue
        stats = thresholded_metrics(labels, scores, policy, val_scores=val_scores,
                                    threshold=threshold, quantile=quantile)
        rows += [_row(name, stats[name], policy) for name in THRESHOLDED_METRICS]
        rows.append(_row("threshold", stats["threshold"], policy))
    if maps is not None:
        pixels = accumulate(maps, masks)
        pixel_ci: dict[str, tuple[float, float]] = {}
        if n_resamples:
            pixel_ci = pixel_intervals(maps, masks, n_resamples=n_resamples,
                                       seed=bootstrap_seed)
        rows += [_row("pix_auroc", pixels.pix_auroc(), "none", pixel_ci.get("pix_auroc")),
                 _row("pix_aupr", pixels.pix_aupr(), "none", pixel_ci.get("pix_aupr"))]
        if pixel_threshold is None:
            pixel_policy, cut = "youden", pixels.youden_threshold()
        else:
            pixel_policy, cut = "given", check_threshold(pixel_threshold, "pixel_threshold")
        rows += [_row(name, value, pixel_policy) for name, value in pixels.pix_stats(cut).items()]
        rows.append(_row("pix_threshold", cut, pixel_policy))
    return rows
