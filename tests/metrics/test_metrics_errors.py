"""Bad input fails with a clear message: one class, NaN/inf, shapes, labels other than 0/1."""

from __future__ import annotations

import numpy as np
import pytest

from reprolib.metrics import (
    PixelMetricAccumulator,
    best_f1_threshold,
    binary_stats,
    evaluate_scores,
    image_ap,
    image_auroc,
    pixel_auroc,
    score_summary,
    youden_threshold,
)

IMAGE_FUNCTIONS = [image_auroc, image_ap, best_f1_threshold, youden_threshold, score_summary,
                   lambda y, s: binary_stats(y, s, 0.5), lambda y, s: evaluate_scores(y, s)]


@pytest.mark.parametrize("function", IMAGE_FUNCTIONS)
def test_single_class_is_a_clear_error(function) -> None:
    with pytest.raises(ValueError, match=r"need both classes .*found only normal \(0\), 3 of"):
        function([0, 0, 0], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match=r"found only anomalous \(1\), 2 of them"):
        function([1, 1], [0.1, 0.2])


@pytest.mark.parametrize("function", IMAGE_FUNCTIONS)
def test_nan_and_inf_scores_are_clear_errors(function) -> None:
    with pytest.raises(ValueError, match=r"2 non-finite values \(1 NaN, 1 inf\) of 4, first at "
                                         r"indices 1, 3"):
        function([0, 1, 0, 1], [0.1, np.nan, 0.3, np.inf])


def test_labels_must_be_zero_one_and_shapes_must_match() -> None:
    with pytest.raises(ValueError, match=r"0/1 labels .*found 1 other values, e.g. \[2\]"):
        image_auroc([0, 1, 2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="same length; found 3 labels and 2 scores"):
        image_auroc([0, 1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="must be 1-D"):
        image_auroc([[0, 1]], [[0.1, 0.2]])
    with pytest.raises(ValueError, match="must be numeric"):
        image_auroc([0, 1], ["a", "b"])
    with pytest.raises(ValueError, match="threshold must be a real number"):
        binary_stats([0, 1], [0.1, 0.2], "high")


def test_pixel_errors() -> None:
    maps = np.zeros((2, 4, 4), dtype=np.float32)
    with pytest.raises(ValueError, match=r"pixel masks need both classes .*only normal \(0\)"):
        pixel_auroc(maps, np.zeros_like(maps))
    with pytest.raises(ValueError, match="same shape .*maps \\(2, 4, 4\\) and masks \\(2, 4, 5\\)"):
        pixel_auroc(maps, np.zeros((2, 4, 5)))
    bad = maps.copy()
    bad[1, 2, 3] = np.nan
    with pytest.raises(ValueError, match=r"anomaly maps must be finite; found 1 .*\(1, 2, 3\)"):
        pixel_auroc(bad, np.ones_like(maps))
    with pytest.raises(ValueError, match="masks must be 0/1 pixel masks"):
        pixel_auroc(maps, np.full_like(maps, 0.5))
    with pytest.raises(ValueError, match="pixel masks are empty"):
        PixelMetricAccumulator().pix_auroc()
    with pytest.raises(ValueError, match="floating"):
        PixelMetricAccumulator(dtype=np.int32)
    with pytest.raises(ValueError, match="sequence of 2 maps needs as many masks; found 1"):
        pixel_auroc([maps[0], maps[1]], [maps[0]])


def test_evaluate_scores_argument_errors() -> None:
    labels, scores = [0, 1, 0, 1], [0.1, 0.6, 0.5, 0.9]
    with pytest.raises(ValueError, match="unknown threshold policy 'f1'"):
        evaluate_scores(labels, scores, policies=("f1",))
    with pytest.raises(ValueError, match="need both maps and masks; found only maps"):
        evaluate_scores(labels, scores, policies=(), maps=np.zeros((4, 2, 2)))
    with pytest.raises(ValueError, match="needs threshold"):
        evaluate_scores(labels, scores, policies=("given",))
