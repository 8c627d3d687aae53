"""Deep-IF's two parts (Ouardini et al., "Towards Practical Unsupervised Anomaly Detection on
Retinal Images", MICCAI 2019 workshop, LNCS 11795; as described by MDFSC §2): a frozen ImageNet
network's pooled features, and scikit-learn's IsolationForest on them.

The forest is rebuilt from the stored training features and its integer seed wherever it is
needed (after ``load``): scikit-learn's IsolationForest is deterministic given both, so the
checkpoint holds only tensors.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.ensemble import IsolationForest
from torch import nn

from reprolib.blocks.feature_taps import FeatureTaps


class PooledFeatures(nn.Module):
    """Global average of one tap of a (frozen) backbone: (B, 3, H, W) -> (B, D)."""

    def __init__(self, taps: FeatureTaps, tap: str) -> None:
        super().__init__()
        self.taps = taps
        self.tap = tap

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.taps(x)[self.tap].mean(dim=(2, 3))


def fit_forest(features: np.ndarray, *, n_estimators: int, max_samples: int,
               seed: int) -> IsolationForest:
    """scikit-learn's IsolationForest on (N, D) features; ``max_samples`` is capped by N
    (scikit-learn's ``"auto"`` is min(256, N))."""
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"features: expected (N >= 2, D), got {features.shape}")
    forest = IsolationForest(n_estimators=n_estimators,
                             max_samples=min(max_samples, len(features)),
                             random_state=seed)
    return forest.fit(features)


def forest_scores(forest: IsolationForest, features: np.ndarray) -> np.ndarray:
    """Anomaly score, higher = more anomalous: minus scikit-learn's ``score_samples`` (which is
    minus the paper's s(x, n) = 2^(-E h(x) / c(n)), so this is s in (0, 1])."""
    return -forest.score_samples(features)


__all__ = ["PooledFeatures", "fit_forest", "forest_scores"]
