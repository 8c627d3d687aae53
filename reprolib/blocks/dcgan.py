"""DCGAN-style encoder, decoder and discriminator (Radford et al., ICLR 2016), in the form the
GANomaly reference code uses them (Akcay et al., ACCV 2018, §3 and its ``lib/networks.py``).

Shared by ``ganomaly`` (encoder-decoder-encoder generator + discriminator) and ``salad`` (its
image encoder, generator and image discriminator). Sizes follow the image: stride-2 4x4
convolutions halve the map until it is 4x4, then a 4x4 valid convolution gives a 1x1 code.
Channels double at each halving from ``base_width``; ``max_width`` optionally caps them (the
reference code has no cap; at 256 px uncapped widths reach 64 * 32 = 2048 channels).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def check_dcgan_size(img_size: int) -> None:
    """The DCGAN stacks need a power-of-two image size of at least 16."""
    if img_size < 16 or img_size & (img_size - 1):
        raise ValueError(f"img_size: expected a power of two >= 16 for a DCGAN stack, "
                         f"got {img_size}")


def dcgan_widths(img_size: int, base_width: int, max_width: int | None = None) -> list[int]:
    """Channel count after each stride-2 convolution: img_size/2 down to 4 pixels."""
    check_dcgan_size(img_size)
    widths, size, width = [], img_size // 2, base_width
    while True:
        widths.append(width if max_width is None else min(width, max_width))
        if size <= 4:
            return widths
        size //= 2
        width *= 2


def init_dcgan_weights(module: nn.Module, *, linear: bool = False) -> None:
    """DCGAN initialisation: conv weights N(0, 0.02), BatchNorm weights N(1, 0.02), bias 0;
    ``linear=True`` treats ``nn.Linear`` like a convolution (AnoGAN's projection of z)."""
    layers = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear) if linear else (nn.Conv2d,
                                                                        nn.ConvTranspose2d)
    if isinstance(module, layers):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class DCGANEncoder(nn.Module):
    """Image (N, C, S, S) -> code (N, out_dim, 1, 1). ``features`` is the 4x4 map before the
    last convolution (GANomaly's discriminator features)."""

    def __init__(self, img_size: int, in_channels: int, out_dim: int, base_width: int = 64,
                 max_width: int | None = None) -> None:
        super().__init__()
        widths = dcgan_widths(img_size, base_width, max_width)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 4, 2, 1, bias=False),
                                   nn.LeakyReLU(0.2, inplace=True)]
        for prev, width in zip(widths[:-1], widths[1:]):
            layers += [nn.Conv2d(prev, width, 4, 2, 1, bias=False), nn.BatchNorm2d(width),
                       nn.LeakyReLU(0.2, inplace=True)]
        self.features = nn.Sequential(*layers)
        self.final = nn.Conv2d(widths[-1], out_dim, 4, 1, 0, bias=False)
        self.feature_channels = widths[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.final(self.features(x))


class DCGANDecoder(nn.Module):
    """Code (N, in_dim, 1, 1) -> image (N, C, S, S) with tanh output (mirror of the encoder)."""

    def __init__(self, img_size: int, out_channels: int, in_dim: int, base_width: int = 64,
                 max_width: int | None = None) -> None:
        super().__init__()
        widths = list(reversed(dcgan_widths(img_size, base_width, max_width)))
        layers: list[nn.Module] = [nn.ConvTranspose2d(in_dim, widths[0], 4, 1, 0, bias=False),
                                   nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True)]
        for prev, width in zip(widths[:-1], widths[1:]):
            layers += [nn.ConvTranspose2d(prev, width, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        layers += [nn.ConvTranspose2d(widths[-1], out_channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() == 2:
            z = z[:, :, None, None]
        return self.net(z)


class DCGANDiscriminator(nn.Module):
    """DCGAN classifier: ``forward`` returns (logit (N,), features (N, F, 4, 4)).

    The reference code ends in a sigmoid; we return the logit and train with
    ``BCEWithLogitsLoss`` (the same loss, numerically safer).
    """

    def __init__(self, img_size: int, in_channels: int, base_width: int = 64,
                 max_width: int | None = None) -> None:
        super().__init__()
        self.encoder = DCGANEncoder(img_size, in_channels, 1, base_width, max_width)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.encoder.features(x)
        return self.encoder.final(features).flatten(), features


def bce_real(logit: torch.Tensor) -> torch.Tensor:
    """Sigmoid cross-entropy of discriminator logits against the label "real" (1): D's loss on
    real images and the non-saturating generator loss (Goodfellow et al., Radford et al.)."""
    return F.binary_cross_entropy_with_logits(logit, torch.ones_like(logit))


def bce_fake(logit: torch.Tensor) -> torch.Tensor:
    """Sigmoid cross-entropy of discriminator logits against the label "fake" (0)."""
    return F.binary_cross_entropy_with_logits(logit, torch.zeros_like(logit))


__all__ = ["DCGANDecoder", "DCGANDiscriminator", "DCGANEncoder", "bce_fake", "bce_real",
           "check_dcgan_size", "dcgan_widths", "init_dcgan_weights"]
