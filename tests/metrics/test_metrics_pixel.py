"""Pixel metrics over all test pixels: exact against scikit-learn, streaming == one-shot."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, balanced_accuracy_score, roc_auc_score

from reprolib.metrics import (
    PixelMetricAccumulator,
    pixel_aupr,
    pixel_auroc,
    pixel_balanced_accuracy,
)


def _maps_with_ties(seed: int, n: int = 6, size: int = 24,
                    levels: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """float32 maps on a coarse grid (many ties) that are higher inside square lesions."""
    rng = np.random.default_rng(seed)
    masks = np.zeros((n, size, size), dtype=np.uint8)
    for i in range(n // 2, n):  # half the images carry a lesion
        row, col = rng.integers(0, size - 8, 2)
        masks[i, row:row + rng.integers(3, 8), col:col + rng.integers(3, 8)] = 1
    maps = rng.integers(0, levels, masks.shape) + 3 * masks * rng.integers(0, 2, masks.shape)
    return (maps / levels).astype(np.float32), masks


@pytest.mark.parametrize(("seed", "levels"), [(0, 4), (1, 16), (2, 1000)])
def test_pixel_auroc_and_aupr_equal_sklearn(seed: int, levels: int) -> None:
    maps, masks = _maps_with_ties(seed, levels=levels)
    y, s = masks.ravel(), maps.ravel()
    assert pixel_auroc(maps, masks) == pytest.approx(roc_auc_score(y, s), abs=1e-6)
    assert pixel_aupr(maps, masks) == pytest.approx(average_precision_score(y, s), abs=1e-6)


@pytest.mark.parametrize("threshold", [0.0, 0.25, 0.5, 0.8125, 2.0, 10.0])
def test_pixel_balanced_accuracy_equals_sklearn(threshold: float) -> None:
    maps, masks = _maps_with_ties(3)
    expected = balanced_accuracy_score(masks.ravel(), (maps.ravel() >= threshold).astype(int))
    assert pixel_balanced_accuracy(maps, masks, threshold) == pytest.approx(expected, abs=1e-12)


def test_pix_stats_accuracy_and_f1() -> None:
    maps, masks = _maps_with_ties(4)
    acc = PixelMetricAccumulator()
    acc.add(maps, masks)
    predicted = maps.ravel() >= 0.5
    truth = masks.ravel().astype(bool)
    tp, fp = int((predicted & truth).sum()), int((predicted & ~truth).sum())
    fn = int((~predicted & truth).sum())
    stats = acc.pix_stats(0.5)
    assert stats["pix_acc"] == pytest.approx(float((predicted == truth).mean()))
    assert stats["pix_f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))


def test_streaming_equals_one_shot_and_adding_after_a_metric() -> None:
    maps, masks = _maps_with_ties(5, n=8)
    one_shot = PixelMetricAccumulator()
    one_shot.add(maps, masks)
    streamed = PixelMetricAccumulator()
    for start in range(0, 8, 3):
        streamed.add(maps[start:start + 3], masks[start:start + 3])
    assert streamed.n_pixels == maps.size == one_shot.n_pixels
    assert streamed.pix_auroc() == one_shot.pix_auroc()
    assert streamed.pix_aupr() == one_shot.pix_aupr()
    assert streamed.pix_bacc(0.5) == one_shot.pix_bacc(0.5)
    # add more after computing: the sorted store is merged with the new batch
    partial = PixelMetricAccumulator()
    partial.add(maps[:6], masks[:6])
    partial.pix_auroc()
    partial.add(maps[6:], masks[6:])
    assert partial.pix_auroc() == one_shot.pix_auroc()
    assert partial.pix_aupr() == one_shot.pix_aupr()


def test_channel_axis_lists_of_sizes_and_torch() -> None:
    torch = pytest.importorskip("torch")
    maps, masks = _maps_with_ties(6)
    expected = roc_auc_score(masks.ravel(), maps.ravel())
    assert pixel_auroc(maps, masks[:, None]) == pytest.approx(expected, abs=1e-12)
    assert pixel_auroc(torch.from_numpy(maps), torch.from_numpy(masks).float()) == \
        pytest.approx(expected, abs=1e-12)
    small, small_mask = maps[:3, :10, :10], masks[:3, :10, :10]
    pieces = [maps[0], small[1], maps[4]]
    piece_masks = [masks[0], small_mask[1], masks[4]]
    ravelled = np.concatenate([p.ravel() for p in pieces])
    truth = np.concatenate([m.ravel() for m in piece_masks])
    assert pixel_aupr(pieces, piece_masks) == pytest.approx(
        average_precision_score(truth, ravelled), abs=1e-12)


def test_threshold_compared_exactly_against_float32_scores() -> None:
    # float32(0.1) > 0.1: a float32 score equal to it is >= 0.1; the largest float32 below 0.1
    # is not (the float64 threshold must not be rounded to float32 carelessly)
    above = np.float32(0.1)
    below = np.nextafter(above, np.float32(0))
    maps = np.array([[below, above]], dtype=np.float32)
    masks = np.array([[0, 1]], dtype=np.uint8)
    assert pixel_balanced_accuracy(maps, masks, 0.1) == 1.0
    tiny_over = float(above) + 1e-12  # between float32(0.1) and the next float32
    assert pixel_balanced_accuracy(maps, masks, tiny_over) == 0.5


def test_pixel_youden_threshold_maximises_balanced_accuracy() -> None:
    maps, masks = _maps_with_ties(7, levels=8)
    acc = PixelMetricAccumulator()
    acc.add(maps, masks)
    best = acc.youden_threshold()
    all_bacc = [balanced_accuracy_score(masks.ravel(), (maps.ravel() >= t).astype(int))
                for t in np.unique(maps)]
    assert acc.pix_bacc(best) == pytest.approx(max(all_bacc), abs=1e-12)


def test_storage_is_float32_sized() -> None:
    """Peak extra memory stays near 8 bytes per pixel (scores stored once as float32)."""
    rng = np.random.default_rng(8)
    n_pixels = 1_000_000
    maps = rng.random((4, 500, 500), dtype=np.float32)
    masks = (rng.random((4, 500, 500)) < 0.05).astype(np.uint8)
    tracemalloc.start()
    try:
        acc = PixelMetricAccumulator()
        for i in range(4):
            acc.add(maps[i], masks[i])
        acc.pix_auroc()
        acc.pix_aupr()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 12 * n_pixels, f"peak {peak / n_pixels:.1f} bytes per pixel"
