"""Mean-intensity floor: per-image mean and its distance from a reference value."""

from __future__ import annotations

import torch


def image_means(images: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N,) float64 mean over channels and pixels."""
    return images.flatten(1).double().mean(dim=1)


def mean_distance(images: torch.Tensor, reference: float) -> torch.Tensor:
    """|mean intensity - reference| per image."""
    return (image_means(images) - reference).abs()
