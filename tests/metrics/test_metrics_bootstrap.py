"""Stratified bootstrap intervals against slow reference loops over the same resamples."""

from __future__ import annotations

import numpy as np
import pytest

from reprolib.metrics import evaluate_scores, image_ap, image_auroc, pixel_aupr, pixel_auroc
from reprolib.metrics.bootstrap import (
    binned_auroc_aupr,
    image_intervals,
    image_resamples,
    multiplicities,
    percentile_interval,
    pixel_histograms,
    pixel_intervals,
    pixel_resamples,
    stratified_indices,
)


def _reference_image(labels, scores, n_resamples, seed):
    """Slow loop: build each resample explicitly and call the exact metrics."""
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    (neg, neg_draws), (pos, pos_draws) = stratified_indices(labels, n_resamples, seed)
    aurocs, aps = [], []
    for r in range(n_resamples):
        index = np.r_[neg[neg_draws[r]], pos[pos_draws[r]]]
        aurocs.append(image_auroc(labels[index], scores[index]))
        aps.append(image_ap(labels[index], scores[index]))
    return np.array(aurocs), np.array(aps)


@pytest.mark.parametrize("rounding", [None, 1])  # continuous scores, then many ties
def test_image_resamples_match_slow_loop(rounding) -> None:
    rng = np.random.default_rng(3)
    labels = np.r_[np.zeros(23, int), np.ones(17, int)]
    rng.shuffle(labels)
    scores = rng.normal(size=labels.size) + 0.8 * labels
    if rounding is not None:
        scores = np.round(scores, rounding)
    fast = image_resamples(labels, scores, 200, seed=7)
    auroc, ap = _reference_image(labels, scores, 200, seed=7)
    np.testing.assert_allclose(fast["auroc"], auroc, rtol=0, atol=1e-12)
    np.testing.assert_allclose(fast["ap"], ap, rtol=0, atol=1e-12)
    low, high = image_intervals(labels, scores, n_resamples=200, seed=7)["auroc"]
    assert (low, high) == percentile_interval(auroc)
    assert low <= image_auroc(labels, scores) <= high


def test_stratified_resamples_keep_class_counts_and_are_seeded() -> None:
    labels = np.r_[np.zeros(5, int), np.ones(3, int)]
    (neg, neg_draws), (pos, pos_draws) = stratified_indices(labels, 50, seed=1)
    assert neg_draws.shape == (50, 5) and pos_draws.shape == (50, 3)
    assert set(neg) == {0, 1, 2, 3, 4} and set(pos) == {5, 6, 7}
    again = stratified_indices(labels, 50, seed=1)
    assert np.array_equal(again[0][1], neg_draws) and np.array_equal(again[1][1], pos_draws)
    counts = multiplicities(neg_draws, 5)
    assert counts.shape == (50, 5) and (counts.sum(1) == 5).all()
    assert np.array_equal(counts[0], np.bincount(neg_draws[0], minlength=5))


def test_perfect_separation_gives_a_point_interval() -> None:
    labels = np.r_[np.zeros(10, int), np.ones(10, int)]
    scores = np.r_[np.linspace(0, 1, 10), np.linspace(2, 3, 10)]
    ci = image_intervals(labels, scores, n_resamples=300)
    assert ci["auroc"] == (1.0, 1.0) and ci["ap"] == (1.0, 1.0)


def test_all_scores_tied_give_one_half_and_positive_share() -> None:
    labels = np.r_[np.zeros(6, int), np.ones(4, int)]
    ci = image_intervals(labels, np.zeros(10), n_resamples=100)
    assert ci["auroc"] == (0.5, 0.5)
    assert ci["ap"] == pytest.approx((0.4, 0.4))


def test_interval_width_near_the_issue_figure() -> None:
    """About 300 images at AUROC ~0.75 give a 95 % interval of about +-0.06 (issue 8)."""
    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(150, int), np.ones(150, int)]
    scores = rng.normal(size=300) + 0.95 * labels  # AUROC ~ 0.75
    low, high = image_intervals(labels, scores, n_resamples=1000)["auroc"]
    assert 0.09 < high - low < 0.14


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="n_resamples"):
        image_intervals([0, 1], [0.1, 0.2], n_resamples=0)
    with pytest.raises(ValueError, match="confidence"):
        image_intervals([0, 1], [0.1, 0.2], confidence=1.5)
    with pytest.raises(ValueError, match="both classes|one class|only"):
        image_intervals([1, 1], [0.1, 0.2])


def _maps(n: int = 40, size: int = 32, seed: int = 0):
    """Smooth background noise plus a brighter blob in about half of the images."""
    rng = np.random.default_rng(seed)
    maps = rng.gamma(2.0, 1.0, size=(n, size, size)).astype(np.float32)
    masks = np.zeros((n, size, size), dtype=np.uint8)
    for i in range(0, n, 2):
        y, x = rng.integers(0, size - 8, size=2)
        masks[i, y:y + 8, x:x + 8] = 1
        maps[i, y:y + 8, x:x + 8] += rng.gamma(2.0, 1.0, size=(8, 8)).astype(np.float32)
    return maps, masks


def test_binned_pixel_metrics_close_to_exact() -> None:
    maps, masks = _maps(300, 64)
    lesion, background = pixel_histograms(maps, masks)
    auroc, aupr = binned_auroc_aupr(lesion.sum(0), background.sum(0))
    assert abs(auroc - pixel_auroc(maps, masks)) < 1e-3
    assert abs(aupr - pixel_aupr(maps, masks)) < 1e-3


def test_pixel_resamples_match_slow_loop() -> None:
    """Same image resamples, each pooled explicitly and measured on the binned scores."""
    maps, masks = _maps(12, 16, seed=2)
    fast = pixel_resamples(maps, masks, 30, seed=4, bins=256)
    lesion, background = pixel_histograms(maps, masks, bins=256, seed=4)
    has_lesion = (masks.reshape(12, -1).sum(1) > 0).astype(int)
    strata = stratified_indices(has_lesion, 30, seed=4)
    for r in range(30):
        index = np.concatenate([members[draws[r]] for members, draws in strata])
        auroc, aupr = binned_auroc_aupr(lesion[index].sum(0), background[index].sum(0))
        assert fast["pix_auroc"][r] == pytest.approx(auroc, abs=1e-12)
        assert fast["pix_aupr"][r] == pytest.approx(aupr, abs=1e-12)
    # With one bin per distinct score the binned metric of a resample is the exact one.
    exact = [pixel_auroc(maps[index], masks[index]) for index in
             [np.concatenate([m[d[r]] for m, d in strata]) for r in range(3)]]
    fine = pixel_resamples(maps, masks, 30, seed=4, bins=20_000)["pix_auroc"][:3]
    np.testing.assert_allclose(fine, exact, atol=2e-4)


def test_pixel_interval_contains_the_exact_value_and_accepts_lists() -> None:
    maps, masks = _maps(40, 32)
    ci = pixel_intervals(maps, masks, n_resamples=200)
    assert ci["pix_auroc"][0] <= pixel_auroc(maps, masks) <= ci["pix_auroc"][1]
    as_lists = pixel_intervals(list(maps), list(masks), n_resamples=200)
    assert as_lists == ci
    with pytest.raises(ValueError, match="lesion and background"):
        pixel_intervals(maps, np.zeros_like(masks), n_resamples=10)


def test_evaluate_scores_rows_carry_intervals() -> None:
    maps, masks = _maps(20, 16)
    labels = (masks.reshape(20, -1).sum(1) > 0).astype(int)
    scores = maps.reshape(20, -1).max(1)
    rows = {r["metric"]: r for r in evaluate_scores(labels, scores, policies=("best_f1",),
                                                    maps=maps, masks=masks)}
    for metric in ("auroc", "ap", "pix_auroc", "pix_aupr"):
        assert rows[metric]["ci_low"] <= rows[metric]["ci_high"]
    assert "ci_low" not in rows["f1"] and "ci_low" not in rows["pix_bacc"]
    plain = evaluate_scores(labels, scores, policies=(), n_resamples=0)
    assert all("ci_low" not in r for r in plain)
