"""PCA reconstruction residual."""

from __future__ import annotations

import torch


def pca_residual(x: torch.Tensor, mean: torch.Tensor, components: torch.Tensor) -> torch.Tensor:
    """(N, D) rows minus their reconstruction from the (K, D) orthonormal ``components``
    around ``mean``: (x - m) - (x - m) C^T C."""
    centred = x - mean
    return centred - (centred @ components.T) @ components
