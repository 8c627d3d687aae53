"""Image AUROC and AP against scikit-learn, ties included, and hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from reprolib.metrics import image_ap, image_auroc


def _tied_case(seed: int, n: int, levels: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    labels[:2] = [0, 1]
    # few score levels: many ties within and across the classes; shifted so AUROC is not 0.5
    scores = rng.integers(0, levels, n) + labels * rng.integers(0, 2, n)
    return labels, scores.astype(np.float64)


@pytest.mark.parametrize(("seed", "n", "levels"),
                         [(0, 50, 3), (1, 200, 5), (2, 1000, 20), (3, 7, 2), (4, 5000, 1000)])
def test_auroc_and_ap_equal_sklearn_with_ties(seed: int, n: int, levels: int) -> None:
    labels, scores = _tied_case(seed, n, levels)
    assert image_auroc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert image_ap(labels, scores) == pytest.approx(average_precision_score(labels, scores),
                                                     abs=1e-12)


def test_continuous_scores_equal_sklearn() -> None:
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 2, 300)
    scores = rng.normal(size=300) + labels
    assert image_auroc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert image_ap(labels, scores) == pytest.approx(average_precision_score(labels, scores),
                                                     abs=1e-12)


def test_hand_computed_cases() -> None:
    # positives 0.8, 0.4; negatives 0.4, 0.1: pairs (0.8>0.4, 0.8>0.1, 0.4=0.4, 0.4>0.1) -> 3.5/4
    labels, scores = [1, 1, 0, 0], [0.8, 0.4, 0.4, 0.1]
    assert image_auroc(labels, scores) == pytest.approx(0.875)
    # thresholds 0.8: recall 1/2, precision 1; 0.4: recall 1, precision 2/3 -> AP = 1/2 + 1/3
    assert image_ap(labels, scores) == pytest.approx(0.5 + 1 / 3)
    assert image_auroc([0, 1], [0.0, 1.0]) == 1.0
    assert image_auroc([1, 0], [0.0, 1.0]) == 0.0
    assert image_auroc([0, 1, 0, 1], [2.0, 2.0, 2.0, 2.0]) == 0.5
    assert image_ap([0, 1, 0, 1], [2.0, 2.0, 2.0, 2.0]) == 0.5


def test_accepts_bool_labels_int_scores_and_torch() -> None:
    torch = pytest.importorskip("torch")
    labels = np.array([False, True, True, False])
    scores = np.array([1, 3, 2, 2])
    expected = roc_auc_score(labels, scores)
    assert image_auroc(labels, scores) == pytest.approx(expected)
    assert image_auroc(torch.tensor([0, 1, 1, 0]), torch.tensor([1.0, 3.0, 2.0, 2.0])) == \
        pytest.approx(expected)
