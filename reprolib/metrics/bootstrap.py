"""Stratified bootstrap 95 % intervals of AUROC, AP, pixel AUROC and pixel AUPR (issue 8).

The test set is resampled with replacement *within each stratum* (image level: normal and
anomalous images; pixel level: images with and without a lesion), so every resample keeps the
class counts of the test set; the interval is the percentile interval (2.5 % and 97.5 %
quantiles, numpy's linear rule) of the metric over the resamples. Resampling is seeded
(``seed``, default 0) and vectorised over resamples: a resample is a row of multiplicities
(how often each sample was drawn), and the metrics are computed for all rows at once.

- Image level (:func:`image_intervals`): exact. The Mann-Whitney AUROC with ties counted one
  half, and AP as ``reprolib.metrics.image_ap`` (sum of each positive's precision at its own
  score), from cumulative multiplicities over the sorted scores of each class.
- Pixel level (:func:`pixel_intervals`): images are resampled, never pixels (pixels of one image
  are not independent). Each image's lesion and background pixel scores are histogrammed over
  ``bins`` shared, fine bins (edges at quantiles of all scores, so every bin holds about the
  same number of pixels); a resample's histograms are a matrix product of its multiplicities
  with the per-image histograms, and its AUROC / AUPR are computed from them with a tie inside
  a bin counted as a tie. **The interval is therefore from binned scores**; the point estimate
  recorded beside it stays the exact one (``PixelMetricAccumulator``). With the default 2,048
  bins the binned metric lies within 1e-3 of the exact one on realistic maps (tested).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from reprolib.metrics.validation import as_numpy, check_binary, check_finite, check_labels_scores

#: Resamples per interval (issue 8: 1,000 or more).
N_RESAMPLES = 1000
#: Coverage of the percentile interval.
CONFIDENCE = 0.95
#: Shared score bins of the pixel-level bootstrap.
PIXEL_BINS = 2048
#: Pixels used to place the quantile bin edges (a seeded subsample beyond this).
EDGE_SAMPLE = 2_000_000


def _check(n_resamples: int, confidence: float) -> None:
    if int(n_resamples) < 1:
        raise ValueError(f"n_resamples: expected an integer >= 1, got {n_resamples!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence: expected a value in (0, 1), got {confidence!r}")


def stratified_indices(strata: Any, n_resamples: int = N_RESAMPLES, seed: int = 0
                       ) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each stratum value (ascending), ``(members, draws)``: the sample indices of the
    stratum and an ``(n_resamples, len(members))`` matrix of positions into ``members`` drawn
    with replacement. One ``numpy.random.default_rng(seed)`` draws the strata in order."""
    strata = np.asarray(strata).reshape(-1)
    rng = np.random.default_rng(seed)
    out = []
    for value in np.unique(strata):
        members = np.flatnonzero(strata == value)
        draws = rng.integers(0, members.size, size=(int(n_resamples), members.size))
        out.append((members, draws))
    return out


def multiplicities(draws: np.ndarray, n: int) -> np.ndarray:
    """``(R, n)`` counts of how often each of ``n`` items appears in each row of ``draws``."""
    n_rows = draws.shape[0]
    offsets = (np.arange(n_rows)[:, None] * n + draws).reshape(-1)
    return np.bincount(offsets, minlength=n_rows * n).reshape(n_rows, n)


def percentile_interval(samples: np.ndarray, confidence: float = CONFIDENCE
                        ) -> tuple[float, float]:
    """The ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles of ``samples``."""
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(np.asarray(samples, dtype=np.float64), [alpha, 1.0 - alpha])
    return float(low), float(high)


def _resampled_auroc_ap(pos: np.ndarray, neg: np.ndarray, w_pos: np.ndarray,
                        w_neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUROC and AP of every resample, given multiplicities of the (sorted) ``pos``/``neg``."""
    n_rows = w_pos.shape[0]
    n_pos, n_neg = w_pos.sum(1), w_neg.sum(1)
    # cum_neg[r, k] = negatives (with multiplicity) among the k lowest negative scores.
    cum_neg = np.zeros((n_rows, neg.size + 1), dtype=np.int64)
    np.cumsum(w_neg, axis=1, out=cum_neg[:, 1:])
    below = cum_neg[:, np.searchsorted(neg, pos, side="left")]
    below_or_equal = cum_neg[:, np.searchsorted(neg, pos, side="right")]
    twice_u = (w_pos * (below + below_or_equal)).sum(1)
    auroc = twice_u / (2.0 * n_pos * n_neg)
    # AP: each drawn positive's precision at its own score, tp and fp counting scores >= it.
    cum_pos = np.zeros((n_rows, pos.size + 1), dtype=np.int64)
    np.cumsum(w_pos, axis=1, out=cum_pos[:, 1:])
    tp = n_pos[:, None] - cum_pos[:, np.searchsorted(pos, pos, side="left")]
    fp = n_neg[:, None] - below
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(w_pos > 0, tp / np.maximum(tp + fp, 1), 0.0)
    ap = (w_pos * precision).sum(1) / n_pos
    return auroc, ap


def image_resamples(labels: Any, scores: Any, n_resamples: int = N_RESAMPLES, seed: int = 0
                    ) -> dict[str, np.ndarray]:
    """``{"auroc": (R,), "ap": (R,)}``: the metrics on each stratified resample of the images
    (indices from :func:`stratified_indices` with the labels as strata)."""
    is_anomalous, values = check_labels_scores(labels, scores)
    (neg_idx, neg_draws), (pos_idx, pos_draws) = stratified_indices(
        is_anomalous.astype(int), n_resamples, seed)
    pos_order = np.argsort(values[pos_idx], kind="stable")
    neg_order = np.argsort(values[neg_idx], kind="stable")
    # Multiplicities in the sorted order of each class.
    w_pos = multiplicities(np.argsort(pos_order)[pos_draws], pos_idx.size)
    w_neg = multiplicities(np.argsort(neg_order)[neg_draws], neg_idx.size)
    auroc, ap = _resampled_auroc_ap(values[pos_idx][pos_order], values[neg_idx][neg_order],
                                    w_pos, w_neg)
    return {"auroc": auroc, "ap": ap}


def image_intervals(labels: Any, scores: Any, *, n_resamples: int = N_RESAMPLES, seed: int = 0,
                    confidence: float = CONFIDENCE) -> dict[str, tuple[float, float]]:
    """Stratified bootstrap percentile intervals ``{"auroc": (low, high), "ap": (low, high)}``
    of image AUROC and AP (exact per resample)."""
    _check(n_resamples, confidence)
    return {name: percentile_interval(samples, confidence)
            for name, samples in image_resamples(labels, scores, n_resamples, seed).items()}


def _per_image(maps: Any, masks: Any) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Flattened float32 scores and boolean lesion masks, one pair per image."""
    if isinstance(maps, Sequence) and not isinstance(maps, str | bytes):
        pairs = list(zip(maps, masks, strict=True))
    else:
        maps_arr, masks_arr = as_numpy(maps), as_numpy(masks)
        if maps_arr.shape[0] != masks_arr.shape[0]:
            raise ValueError(f"maps and masks: expected the same number of images; found "
                             f"{maps_arr.shape[0]} maps and {masks_arr.shape[0]} masks")
        pairs = list(zip(maps_arr, masks_arr))
    flat_maps, flat_masks = [], []
    for one_map, one_mask in pairs:
        values, lesion = as_numpy(one_map), as_numpy(one_mask)
        check_finite(values, "anomaly maps")
        check_binary(lesion, "masks", "pixel masks")
        if values.size != lesion.size:
            raise ValueError(f"an anomaly map of shape {values.shape} needs a mask of as many "
                             f"pixels; found {lesion.shape}")
        flat_maps.append(values.reshape(-1).astype(np.float32, copy=False))
        flat_masks.append(lesion.reshape(-1).astype(bool))
    return flat_maps, flat_masks


def bin_edges(flat_maps: list[np.ndarray], bins: int = PIXEL_BINS, seed: int = 0) -> np.ndarray:
    """Inner bin edges at quantiles of all pixel scores (a seeded subsample of at most
    :data:`EDGE_SAMPLE`), duplicates removed."""
    values = np.concatenate(flat_maps)
    if values.size > EDGE_SAMPLE:
        values = np.random.default_rng(seed).choice(values, EDGE_SAMPLE, replace=False)
    edges = np.quantile(values, np.linspace(0.0, 1.0, int(bins) + 1)[1:-1])
    return np.unique(edges)


def pixel_histograms(maps: Any, masks: Any, bins: int = PIXEL_BINS, seed: int = 0
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Per-image counts ``(lesion, background)``, each ``(n_images, n_bins)``, of pixel scores
    in the shared bins of :func:`bin_edges` (bin ``k`` holds scores in [edge k-1, edge k))."""
    flat_maps, flat_masks = _per_image(maps, masks)
    edges = bin_edges(flat_maps, bins, seed)
    n_bins = edges.size + 1
    lesion = np.zeros((len(flat_maps), n_bins), dtype=np.float64)
    background = np.zeros_like(lesion)
    for i, (values, is_lesion) in enumerate(zip(flat_maps, flat_masks)):
        index = np.searchsorted(edges, values, side="right")
        lesion[i] = np.bincount(index[is_lesion], minlength=n_bins)
        background[i] = np.bincount(index[~is_lesion], minlength=n_bins)
    return lesion, background


def binned_auroc_aupr(lesion: np.ndarray, background: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
    """AUROC and AP from pooled histograms ``(..., n_bins)`` of lesion and background pixel
    scores (bins ascending; pixels in one bin count as tied)."""
    n_pos, n_neg = lesion.sum(-1), background.sum(-1)
    neg_below = np.cumsum(background, axis=-1) - background
    auroc = (lesion * (neg_below + 0.5 * background)).sum(-1) / (n_pos * n_neg)
    tp = np.cumsum(lesion[..., ::-1], axis=-1)[..., ::-1]  # lesion pixels with score >= bin
    fp = np.cumsum(background[..., ::-1], axis=-1)[..., ::-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(lesion > 0, tp / np.maximum(tp + fp, 1e-300), 0.0)
    aupr = (lesion * precision).sum(-1) / n_pos
    return auroc, aupr


def pixel_resamples(maps: Any, masks: Any, n_resamples: int = N_RESAMPLES, seed: int = 0,
                    bins: int = PIXEL_BINS) -> dict[str, np.ndarray]:
    """``{"pix_auroc": (R,), "pix_aupr": (R,)}`` over resamples of the images, stratified by
    whether an image has lesion pixels; computed from binned scores (module docstring)."""
    lesion, background = pixel_histograms(maps, masks, bins, seed)
    if lesion.sum() == 0 or background.sum() == 0:
        raise ValueError("pixel metrics need lesion and background pixels; found only "
                         f"{'background' if lesion.sum() == 0 else 'lesion'} pixels")
    has_lesion = (lesion.sum(1) > 0).astype(int)
    weights = np.zeros((int(n_resamples), lesion.shape[0]), dtype=np.float64)
    for members, draws in stratified_indices(has_lesion, n_resamples, seed):
        weights[:, members] = multiplicities(draws, members.size)
    auroc, aupr = binned_auroc_aupr(weights @ lesion, weights @ background)
    return {"pix_auroc": auroc, "pix_aupr": aupr}


def pixel_intervals(maps: Any, masks: Any, *, n_resamples: int = N_RESAMPLES, seed: int = 0,
                    confidence: float = CONFIDENCE, bins: int = PIXEL_BINS
                    ) -> dict[str, tuple[float, float]]:
    """Percentile intervals ``{"pix_auroc": (low, high), "pix_aupr": (low, high)}`` of pooled
    pixel AUROC / AUPR over stratified resamples of the images (from binned scores)."""
    _check(n_resamples, confidence)
    return {name: percentile_interval(samples, confidence) for name, samples in
            pixel_resamples(maps, masks, n_resamples, seed, bins).items()}
