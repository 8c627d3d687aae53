"""f-AnoGAN networks (Schlegl et al., MedIA 2019, §2.1-2.2) after the public code's
``wgangp_64x64.py`` (itself Gulrajani et al.'s ResNet WGAN-GP, NeurIPS 2017).

Generator: linear z -> 8*dim x 4 x 4, residual "up" blocks (BatchNorm) to the image size,
BN-ReLU-3x3 conv, tanh. Critic: 3x3 conv, residual "down" blocks with layer normalisation
(over C, H, W with per-channel scale and shift, i.e. ``GroupNorm(1, C)``; no BatchNorm, as
WGAN-GP requires), linear -> 1. ``features`` is the flattened output of the last residual block,
f(.) of the izi_f loss. Encoder: the critic's topology with a ``z_dim`` output and tanh (izi_f).
With 64 px images there are 4 residual blocks (the reference); other sizes add or drop blocks,
widths capped at 8 * dim.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def width_multipliers(img_size: int) -> list[int]:
    """Generator channel multipliers from 4x4 up to ``img_size`` (64 px: [8, 8, 4, 2, 1])."""
    n = int(math.log2(img_size // 4))
    if img_size < 8 or 4 * 2 ** n != img_size:
        raise ValueError(f"img_size: expected 4 * 2**k >= 8 for the residual WGAN-GP stacks, "
                         f"got {img_size}")
    return [min(8, 2 ** (n - i)) for i in range(n + 1)]


def _norm(channels: int, kind: str) -> nn.Module:
    return nn.BatchNorm2d(channels) if kind == "batch" else nn.GroupNorm(1, channels)


class ResidualBlock(nn.Module):
    """Pre-activation residual block of WGAN-GP: norm-ReLU-conv-norm-ReLU-conv, with a 1x1
    shortcut. ``resample="up"``: nearest x2 before the first conv (and on the shortcut);
    ``"down"``: 2x2 mean-pool after the second conv (and before the shortcut's conv)."""

    def __init__(self, in_ch: int, out_ch: int, resample: str, norm: str) -> None:
        super().__init__()
        if resample not in ("up", "down"):
            raise ValueError(f"resample: expected 'up' or 'down', got {resample!r}")
        self.resample = resample
        self.norm1 = _norm(in_ch, norm)
        mid = out_ch if resample == "up" else in_ch
        self.conv1 = nn.Conv2d(in_ch, mid, 3, 1, 1, bias=False)
        self.norm2 = _norm(mid, norm)
        self.conv2 = nn.Conv2d(mid, out_ch, 3, 1, 1)
        self.shortcut = nn.Conv2d(in_ch, out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.resample == "up":
            shortcut = self.shortcut(F.interpolate(x, scale_factor=2.0, mode="nearest"))
            out = F.relu(self.norm1(x))
            out = self.conv1(F.interpolate(out, scale_factor=2.0, mode="nearest"))
            out = self.conv2(F.relu(self.norm2(out)))
        else:
            shortcut = self.shortcut(F.avg_pool2d(x, 2))
            out = self.conv1(F.relu(self.norm1(x)))
            out = F.avg_pool2d(self.conv2(F.relu(self.norm2(out))), 2)
        return shortcut + out


class Generator(nn.Module):
    """z (N, z_dim) ~ N(0, I) -> image (N, C, S, S) in [-1, 1]."""

    def __init__(self, img_size: int, channels: int, z_dim: int = 128, dim: int = 64) -> None:
        super().__init__()
        mult = width_multipliers(img_size)
        self.start = (mult[0] * dim, 4)
        self.input = nn.Linear(z_dim, mult[0] * dim * 16)
        self.blocks = nn.Sequential(*[ResidualBlock(a * dim, b * dim, "up", "batch")
                                      for a, b in zip(mult[:-1], mult[1:])])
        self.out = nn.Sequential(nn.BatchNorm2d(mult[-1] * dim), nn.ReLU(),
                                 nn.Conv2d(mult[-1] * dim, channels, 3, 1, 1), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.input(z).view(-1, self.start[0], self.start[1], self.start[1])
        return self.out(self.blocks(h))


class Critic(nn.Module):
    """Image -> (score (N,), features (N, F)); layer-normalised residual blocks, no sigmoid.
    With ``out_dim != 1`` and ``tanh=True`` it is the izi_f encoder (returns (N, out_dim))."""

    def __init__(self, img_size: int, channels: int, dim: int = 64, out_dim: int = 1,
                 tanh: bool = False) -> None:
        super().__init__()
        mult = list(reversed(width_multipliers(img_size)))
        self.input = nn.Conv2d(channels, mult[0] * dim, 3, 1, 1)
        self.blocks = nn.Sequential(*[ResidualBlock(a * dim, b * dim, "down", "layer")
                                      for a, b in zip(mult[:-1], mult[1:])])
        self.output = nn.Linear(mult[-1] * dim * 16, out_dim)
        self.tanh = tanh

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.input(x)).flatten(1)

    def head(self, features: torch.Tensor) -> torch.Tensor:
        out = self.output(features)
        if self.tanh:
            out = torch.tanh(out)
        return out.squeeze(1) if out.shape[1] == 1 else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def gradient_penalty(critic: Critic, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP penalty E[(||grad_x_hat D(x_hat)||_2 - 1)^2] on random interpolates."""
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    grad, = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def izif_terms(x: torch.Tensor, x_rec: torch.Tensor, feat_x: torch.Tensor,
               feat_rec: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image izi_f terms (f-AnoGAN §2.2): mean squared image residual and mean squared
    critic-feature residual, each (N,). Training loss and anomaly score are
    ``image + kappa * feature`` (kappa = 1)."""
    image = ((x - x_rec) ** 2).flatten(1).mean(dim=1)
    feature = ((feat_x - feat_rec) ** 2).flatten(1).mean(dim=1)
    return image, feature


__all__ = ["Critic", "Generator", "ResidualBlock", "gradient_penalty", "izif_terms",
           "width_multipliers"]
