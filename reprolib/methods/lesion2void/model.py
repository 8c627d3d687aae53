"""Lesion2Void's networks, patch masker and image score (Huang et al., ISBI 2022, Sec. 2),
written from the official code's facts (YijinHuang/Lesion2Void; REFERENCE_NOTES "Lesion2Void").

- Generator: the U-Net of milesial/Pytorch-UNet as the official ``UNet(3, 3, bilinear=False)``:
  double conv3x3 (no bias)-BN-ReLU blocks, widths 64-128-256-512-1024 over 4 max-pools,
  transposed-conv up-sampling, skips, a 1x1 output conv, no output activation.
- Discriminator: pix2pix's PatchGAN (``NLayerDiscriminator``, ndf 64, 3 layers, BatchNorm), LSGAN.
- Masker (``mask.py``): ``patch`` x ``patch`` squares on a lattice of pitch ``grid`` with a
  phase (phase_y, phase_x); masked pixels are replaced by U(-1, 1) noise.
- Image score (``inference/auc.py``): the residual of one channel, min-max normalised per image,
  times a centred disc (radius 100/224 of the side), Otsu-thresholded; connected components
  sorted by size, the largest ``drop_largest`` (30) dropped, the next up to rank ``keep_until``
  (100) kept; score = sum of the normalised residual over the kept components.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import nn


def double_conv(in_ch: int, out_ch: int) -> nn.Sequential:
    """milesial's ``DoubleConv``: (conv3x3 without bias, BN, ReLU) x 2."""
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False), nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False), nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True))


class UNet(nn.Module):
    """milesial U-Net with transposed-conv up-sampling (``bilinear=False``)."""

    def __init__(self, in_ch: int = 3, out_ch: int = 3, base: int = 64, depth: int = 4) -> None:
        super().__init__()
        widths = [base * 2 ** i for i in range(depth + 1)]
        self.inc = double_conv(in_ch, widths[0])
        self.downs = nn.ModuleList(nn.Sequential(nn.MaxPool2d(2), double_conv(a, b))
                                   for a, b in zip(widths[:-1], widths[1:]))
        rev = widths[::-1]
        self.ups = nn.ModuleList(nn.ConvTranspose2d(a, a // 2, 2, stride=2)
                                 for a in rev[:-1])
        self.convs = nn.ModuleList(double_conv(a, b) for a, b in zip(rev[:-1], rev[1:]))
        self.out = nn.Conv2d(widths[0], out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [self.inc(x)]
        for down in self.downs:
            feats.append(down(feats[-1]))
        h = feats[-1]
        for up, conv, skip in zip(self.ups, self.convs, reversed(feats[:-1])):
            h = conv(torch.cat([skip, up(h)], dim=1))
        return self.out(h)


class PatchDiscriminator(nn.Module):
    """pix2pix's ``NLayerDiscriminator`` (kernel 4, LeakyReLU 0.2, BatchNorm, no bias under BN):
    a map of real/fake logits."""

    def __init__(self, in_ch: int = 3, ndf: int = 64, n_layers: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_ch, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2 ** n, 8)
            stride = 2 if n < n_layers else 1
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride, 1, bias=False),
                       nn.BatchNorm2d(ndf * mult), nn.LeakyReLU(0.2, True)]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, 1, 1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def _axis_mask(size: int, grid: int, patch: int, phase: int) -> torch.Tensor:
    """1-D coverage of patches starting at ``phase + k * grid`` (starts < size - patch, as the
    official ``pixel_grid_mask``)."""
    mask = torch.zeros(size)
    for start in range(phase, max(size - patch, 0), grid):
        mask[start:start + patch] = 1.0
    return mask


def grid_mask(size: int, grid: int, patch: int, phase_y: int, phase_x: int) -> torch.Tensor:
    """(size, size) {0, 1} mask of ``patch`` x ``patch`` squares on a ``grid`` lattice."""
    return torch.outer(_axis_mask(size, grid, patch, phase_y), _axis_mask(size, grid, patch,
                                                                          phase_x))


def mask_images(x: torch.Tensor, mask: torch.Tensor, generator: torch.Generator | None = None
                ) -> torch.Tensor:
    """Replace the masked pixels of ``x`` (B, C, H, W) by U(-1, 1) noise (``mode='random'``)."""
    noise = torch.rand(x.shape, generator=generator).to(x.device) * 2 - 1
    m = mask.to(x.device)
    return x * (1 - m) + noise * m


def fov_disc(size: int, radius_fraction: float = 100 / 224) -> np.ndarray:
    """Centred filled disc (uint8 {0, 1}), radius ``radius_fraction * size`` (the official
    224-px disc of radius 100)."""
    disc = np.zeros((size, size), np.uint8)
    centre = size // 2
    cv2.circle(disc, (centre, centre), int(round(radius_fraction * size)), 1, -1)
    return disc


def component_score(residual: np.ndarray, disc: np.ndarray | None, drop_largest: int = 30,
                    keep_until: int = 100) -> float:
    """Lesion2Void's image score of one (H, W) residual map (``inference/auc.py``)."""
    r = residual.astype(np.float64)
    span = r.max() - r.min()
    r = (r - r.min()) / span if span > 0 else np.zeros_like(r)
    if disc is not None:
        r = r * disc
    binary = cv2.threshold(np.uint8(r * 255), 0, 1, cv2.THRESH_BINARY | cv2.THRESH_OTSU)[1]
    count, labels = cv2.connectedComponents(binary)
    sizes = np.bincount(labels.ravel(), minlength=count)[1:]
    order = np.argsort(-sizes, kind="stable") + 1  # component ids, largest first
    keep = np.isin(labels, order[drop_largest:keep_until])
    return float(r[keep].sum())
