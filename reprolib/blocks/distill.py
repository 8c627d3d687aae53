"""Feature-comparison pieces shared by the distillation baselines (STFPM, MKD, RD4AD) and
feature-comparison autoencoders (Hetero-AE): per-pixel and per-sample cosine distances,
upsampling of per-stage maps to the input size, Gaussian smoothing of maps."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter

from reprolib.config import ConfigError


def _check_pair(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape != b.shape or a.ndim != 4:
        raise ValueError(f"feature maps: expected two (B, C, H, W) tensors of one shape, got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")


def pixel_cosine_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """1 - cosine similarity over channels at every pixel: (B, C, H, W) x2 -> (B, H, W)."""
    _check_pair(a, b)
    return 1.0 - F.cosine_similarity(a, b, dim=1)


def flat_cosine_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """1 - cosine similarity of each sample's whole flattened map: -> (B,) (MKD, RD4AD)."""
    _check_pair(a, b)
    return 1.0 - F.cosine_similarity(a.flatten(1), b.flatten(1), dim=1)


def upsample_maps(maps: Sequence[torch.Tensor], size: int | tuple[int, int], *,
                  align_corners: bool = False) -> list[torch.Tensor]:
    """Bilinearly resize (B, h, w) maps to (B, H, W)."""
    return [F.interpolate(m.unsqueeze(1), size=size, mode="bilinear",
                          align_corners=align_corners).squeeze(1) for m in maps]


def gaussian_smooth(maps: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-filter each (H, W) map of an (N, H, W) array (scipy, truncate 4 sigma);
    ``sigma <= 0`` returns the maps unchanged."""
    if maps.ndim != 3:
        raise ValueError(f"maps: expected shape (N, H, W), got {maps.shape}")
    if sigma <= 0:
        return maps
    return gaussian_filter(maps, sigma=(0.0, sigma, sigma)).astype(maps.dtype, copy=False)


def check_pretrained_input(img_size: int, in_channels: int, multiple: int) -> None:
    """Config check shared by methods on ImageNet backbones: 3 channels, size a multiple of the
    network's total stride. Raises ConfigError."""
    if in_channels != 3:
        raise ConfigError(f"in_channels: ImageNet backbones expect 3 channels (grayscale is "
                          f"converted by the loader), got {in_channels}")
    if img_size < multiple or img_size % multiple:
        raise ConfigError(f"img_size: expected a positive multiple of {multiple}, got {img_size}")


def check_schedule(epochs: int, batch_size: int, lr: float) -> None:
    """Config check of the training schedule shared by the feature-comparison methods."""
    if epochs < 0 or batch_size < 1 or lr <= 0:
        raise ConfigError(f"epochs >= 0, batch_size >= 1 and lr > 0 expected, got "
                          f"{epochs}, {batch_size}, {lr}")


def check_batch(x: torch.Tensor, channels: int, size: int) -> torch.Tensor:
    """A batch of images must be (B, channels, size, size); say what was found otherwise."""
    if x.ndim != 4 or x.shape[1] != channels or tuple(x.shape[-2:]) != (size, size):
        raise ValueError(f"images: expected (B, {channels}, {size}, {size}) (load the data with "
                         f"the method's data_spec()), got {tuple(x.shape)}")
    return x


__all__ = ["check_batch", "check_pretrained_input", "check_schedule", "flat_cosine_distance",
           "gaussian_smooth", "pixel_cosine_distance", "upsample_maps"]
