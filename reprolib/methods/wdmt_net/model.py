"""WDMT-Net's network, skip schedule and HOG target (Zhang et al., MICCAI 2022, Sec. 2),
written from the official code's facts (WentianZhang-ML/WDMT-Net; REFERENCE_NOTES "WDMT-Net").

- ``UNet_cut``: DoubleConv (conv3x3 without bias-BN-ReLU, twice) blocks, encoder widths
  64-128-256-512-512 over 4 max-pools, bilinear up-sampling. Each up block blends its skip
  with the up-sampled path, ``s' = alpha s + (1 - alpha) u`` (the weight-decay skip), and
  convolves ``concat(s', u.detach())`` (DoubleConv 2C -> out, mid C). Output: 2 channels, the
  reconstruction and the HOG prediction (1x1 conv, no activation).
- alpha (``main.py``): starts at 1 and falls by ``delta / iterations_per_epoch`` at every
  iteration (the first iteration already uses ``1 - delta / n``), clamped at 0.
- HOG target (``data_find.py``): the *visualisation image* of skimage's ``hog`` (9 orientations,
  cells ``c x c`` with c in {4, 8, 16} ("label pool"), 1 x 1 cells per block, L2 block norm).
"""

from __future__ import annotations

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from skimage.feature import hog
from torch import nn


def double_conv(in_ch: int, out_ch: int, mid_ch: int | None = None) -> nn.Sequential:
    """(conv3x3 without bias, BN, ReLU) x 2."""
    mid = mid_ch or out_ch
    return nn.Sequential(
        nn.Conv2d(in_ch, mid, 3, padding=1, bias=False), nn.BatchNorm2d(mid),
        nn.ReLU(inplace=True),
        nn.Conv2d(mid, out_ch, 3, padding=1, bias=False), nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True))


class WeightDecayUp(nn.Module):
    """Up block with the weight-decay skip connection (``Up`` of the official code)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
        self.conv = double_conv(2 * in_ch, out_ch, in_ch)

    def forward(self, x: torch.Tensor, skip: torch.Tensor, alpha: float) -> torch.Tensor:
        u = self.up(x)
        blended = alpha * skip + (1 - alpha) * u
        return self.conv(torch.cat([blended, u.detach()], dim=1))


class WDMTNet(nn.Module):
    """``UNet_cut``: returns the (B, 2, H, W) output, channel 0 the image, channel 1 the HOG."""

    def __init__(self, in_ch: int = 1, out_ch: int = 2, base: int = 64, pools: int = 4) -> None:
        super().__init__()
        widths = [base * min(2 ** i, 8) for i in range(pools + 1)]
        self.inc = double_conv(in_ch, widths[0])
        self.downs = nn.ModuleList(nn.Sequential(nn.MaxPool2d(2), double_conv(a, b))
                                   for a, b in zip(widths[:-1], widths[1:]))
        ups, cur = [], widths[-1]
        for level in range(pools, 0, -1):
            out = widths[max(level - 2, 0)]
            ups.append(WeightDecayUp(cur, out))
            cur = out
        self.ups = nn.ModuleList(ups)
        self.out = nn.Conv2d(cur, out_ch, 1)

    def forward(self, x: torch.Tensor, alpha: float) -> torch.Tensor:
        feats = [self.inc(x)]
        for down in self.downs:
            feats.append(down(feats[-1]))
        h = feats[-1]
        for up, skip in zip(self.ups, reversed(feats[:-1])):
            h = up(h, skip, alpha)
        return self.out(h)


def alpha_at(iteration: int, delta: float, per_epoch: int) -> float:
    """Skip weight used at training iteration ``iteration`` (1 = the first):
    ``max(0, 1 - iteration * delta / per_epoch)``."""
    return max(0.0, 1.0 - iteration * delta / per_epoch)


def hog_target(image: np.ndarray, cell: int) -> np.ndarray:
    """HOG visualisation image (H, W) in [0, 1] of a 2-D [0, 1] image (skimage ``hog``, 9
    orientations, ``cell`` x ``cell`` pixels per cell, 1 x 1 cells per block, L2 norm); values
    above 1 (overlapping strokes) clipped as the official uint8 PNG targets."""
    if image.ndim != 2:
        raise ValueError(f"hog_target: expected a 2-D image, got shape {image.shape}")
    _, vis = hog(image, orientations=9, pixels_per_cell=(cell, cell), cells_per_block=(1, 1),
                 block_norm="L2", visualize=True, feature_vector=False)
    return np.clip(vis, 0.0, 1.0).astype(np.float32)


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """The official input blur, ``GaussianBlur(kernel_size=(5, 9))`` at ``sigma``
    (torchvision; kernel 5 wide, 9 high, reflect padding)."""
    return TF.gaussian_blur(x, [5, 9], [sigma, sigma])
