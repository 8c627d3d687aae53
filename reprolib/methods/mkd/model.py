"""MKD networks and losses (Salehi et al.: "Multiresolution Knowledge Distillation for Anomaly
Detection", CVPR 2021).

Source: an ImageNet VGG16 (no BatchNorm), frozen. Cloner: a thinner VGG-like stack of the same
block layout (2, 2, 3, 3, 3 convolutions, each block ending in a 2x2 max-pool) whose inner
convolutions have ``thin`` channels and whose last convolution per block has the source's width
(64, 128, 256, 512, 512), so the max-pool outputs of blocks 2-5 can be compared directly. This
follows our reading of the public code's smaller cloner configuration; the paper only
says the cloner is smaller.

Loss (the paper's L_val, L_dir and L_total): at the max-pool outputs of blocks 2-5, the
direction loss 1 - cos(vec(a_s), vec(a_c)) of each sample's whole flattened map plus lambda
times the value loss (mean squared error); summed over the four taps, averaged over the batch.
As we read it the paper puts lambda on the direction term; the public code and REFERENCE_NOTES
put it on the value term (lambda = 0.01), which we follow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from reprolib.blocks.distill import flat_cosine_distance

#: VGG16's convolutions per block and the width of each block's output.
VGG16_BLOCKS: tuple[int, ...] = (2, 2, 3, 3, 3)
VGG16_WIDTHS: tuple[int, ...] = (64, 128, 256, 512, 512)
MKD_TAPS: tuple[str, ...] = ("pool2", "pool3", "pool4", "pool5")
#: Width of each block's output per source; ``efficientnet_lite0`` (the packaged ImageNet
#: weights, issue 9): its stride-4/8/16/32 stage ends, tapped as ``pool2``..``pool5`` (the
#: strides of VGG16's max-pool outputs); block 1's width is unused (thin).
SOURCE_WIDTHS: dict[str, tuple[int, ...]] = {
    "vgg16": VGG16_WIDTHS,
    "efficientnet_lite0": (64, 24, 40, 112, 320),
}


def make_cloner(thin: int = 16, *, bias: bool = False, in_channels: int = 3,
                full_width_blocks: Sequence[int] = (2, 3, 4, 5),
                widths: Sequence[int] = VGG16_WIDTHS) -> nn.Sequential:
    """VGG16-shaped cloner: conv3x3 + ReLU layers, max-pool after each block. Inner convs have
    ``thin`` channels; the last conv of every block in ``full_width_blocks`` (1-based) has the
    source's width (``widths``). Aliases ``pool<k>`` resolve through :class:`FeatureTaps`."""
    if thin < 1:
        raise ValueError(f"thin: expected a positive channel count, got {thin}")
    layers: list[nn.Module] = []
    channels = in_channels
    for block, (n_convs, width) in enumerate(zip(VGG16_BLOCKS, widths, strict=True), start=1):
        for j in range(n_convs):
            last = j == n_convs - 1
            out = width if last and block in full_width_blocks else thin
            layers += [nn.Conv2d(channels, out, 3, padding=1, bias=bias), nn.ReLU(inplace=True)]
            channels = out
        layers.append(nn.MaxPool2d(2, 2))
    return nn.Sequential(*layers)


def mkd_sample_losses(source: Mapping[str, torch.Tensor], cloner: Mapping[str, torch.Tensor],
                      taps: Sequence[str], lamda: float) -> dict[str, torch.Tensor]:
    """Per-sample loss terms (each (B,)): ``direction`` = sum over taps of 1 - cosine of the
    flattened maps, ``value`` = sum over taps of the per-sample MSE, ``total`` = direction +
    lamda * value (Eq. 3)."""
    direction, value = [], []
    for tap in taps:
        s, c = source[tap], cloner[tap]
        direction.append(flat_cosine_distance(s, c))
        value.append(((s - c) ** 2).flatten(1).mean(dim=1))
    d, v = torch.stack(direction).sum(0), torch.stack(value).sum(0)
    return {"direction": d, "value": v, "total": d + lamda * v}
