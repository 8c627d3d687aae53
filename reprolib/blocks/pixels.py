"""Raw-pixel helpers of the label-free floors (issue 8): stack a dataset's images, standardise
each image on its own."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from reprolib.training import make_loader


def stack_images(data: Dataset, batch_size: int = 256) -> torch.Tensor:
    """Every image of ``data`` in order, as one float32 (N, C, H, W) CPU tensor."""
    if len(data) == 0:  # type: ignore[arg-type]
        raise ValueError("stack_images: expected a dataset with at least one image, got none")
    return torch.cat([batch["image"].float() for batch in
                      make_loader(data, batch_size, shuffle=False)])


def standardise(images: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C*H*W) float64, each image minus its mean, divided by its standard
    deviation (a flat image stays at 0): brightness and contrast drop out."""
    flat = images.flatten(1).double()
    flat = flat - flat.mean(dim=1, keepdim=True)
    std = flat.std(dim=1, unbiased=False, keepdim=True)
    return flat / torch.where(std > 0, std, torch.ones_like(std))
