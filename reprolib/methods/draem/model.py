"""DRAEM's two sub-networks and losses (Zavrtanik et al., ICCV 2021, Sec. 3.1-3.2, Fig. 2),
laid out as the official ``model_unet.py`` (facts in REFERENCE_NOTES "DRAEM").

- Reconstructive sub-network: encoder-decoder *without* skip connections; blocks of two
  conv3x3-BN-ReLU, widths ``b, 2b, 4b, 8b, 8b`` (b = 128) over 4 max-pools; decoder of bilinear
  up-sampling + conv, then two convs; a final 3x3 conv to the image channels.
- Discriminative sub-network: U-Net with skips, widths ``b, 2b, 4b, 8b, 8b, 8b`` (b = 64) over
  5 max-pools; input = concat(reconstruction, augmented image); 2-class logits.
- Losses (Eq. 1-4): L_rec = l2 + (1 - SSIM) (11x11 Gaussian window, sigma 1.5: kornia's SSIM),
  L_seg = focal loss (gamma 2) on the softmax of the logits (the shared block); L = L_rec + L_seg.
"""

from __future__ import annotations

import torch
from kornia.metrics import ssim
from torch import nn

from reprolib.blocks.losses import focal_loss


def double_conv(in_ch: int, mid_ch: int, out_ch: int) -> nn.Sequential:
    """conv3x3-BN-ReLU, twice (DRAEM's block)."""
    return nn.Sequential(
        nn.Conv2d(in_ch, mid_ch, 3, padding=1), nn.BatchNorm2d(mid_ch), nn.ReLU(inplace=True),
        nn.Conv2d(mid_ch, out_ch, 3, padding=1), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True))


def up_conv(in_ch: int, out_ch: int) -> nn.Sequential:
    """Bilinear x2 (align_corners, as DRAEM) + conv3x3-BN-ReLU."""
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
                         nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.BatchNorm2d(out_ch),
                         nn.ReLU(inplace=True))


def level_widths(base: int, pools: int) -> list[int]:
    """Encoder widths per level: ``base * min(2**i, 8)`` (DRAEM caps at 8 b)."""
    return [base * min(2 ** i, 8) for i in range(pools + 1)]


class Encoder(nn.Module):
    """``pools + 1`` double-conv blocks separated by 2x2 max-pools; returns every level."""

    def __init__(self, in_ch: int, base: int, pools: int) -> None:
        super().__init__()
        widths = level_widths(base, pools)
        ins = [in_ch, *widths[:-1]]
        self.blocks = nn.ModuleList(double_conv(i, o, o) for i, o in zip(ins, widths))
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = [self.blocks[0](x)]
        for block in self.blocks[1:]:
            feats.append(block(self.pool(feats[-1])))
        return feats


class ReconstructiveSubNetwork(nn.Module):
    """Encoder-decoder without skips (DRAEM's ``ReconstructiveSubNetwork``, base width 128)."""

    def __init__(self, in_ch: int = 3, out_ch: int = 3, base: int = 128, pools: int = 4) -> None:
        super().__init__()
        self.encoder = Encoder(in_ch, base, pools)
        widths = level_widths(base, pools)
        ups, blocks = [], []
        cur = widths[-1]
        for level in range(pools, 0, -1):
            out = widths[max(level - 2, 0)]
            ups.append(up_conv(cur, cur))
            blocks.append(double_conv(cur, cur, out))
            cur = out
        self.ups, self.blocks = nn.ModuleList(ups), nn.ModuleList(blocks)
        self.out = nn.Conv2d(cur, out_ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encoder(x)[-1]
        for up, block in zip(self.ups, self.blocks):
            h = block(up(h))
        return self.out(h)


class DiscriminativeSubNetwork(nn.Module):
    """U-Net with skips (DRAEM's ``DiscriminativeSubNetwork``, base width 64, 5 pools)."""

    def __init__(self, in_ch: int = 6, out_ch: int = 2, base: int = 64, pools: int = 5) -> None:
        super().__init__()
        self.encoder = Encoder(in_ch, base, pools)
        widths = level_widths(base, pools)
        ups, blocks = [], []
        cur = widths[-1]
        for level in range(pools, 0, -1):
            out = widths[max(level - 2, 0)]
            ups.append(up_conv(cur, out))
            blocks.append(double_conv(out + widths[level - 1], out, out))
            cur = out
        self.ups, self.blocks = nn.ModuleList(ups), nn.ModuleList(blocks)
        self.out = nn.Conv2d(cur, out_ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.encoder(x)
        h = feats[-1]
        for up, block, skip in zip(self.ups, self.blocks, reversed(feats[:-1])):
            h = block(torch.cat([up(h), skip], dim=1))
        return self.out(h)


def init_weights(module: nn.Module) -> None:
    """DRAEM's ``weights_init``: conv weights N(0, 0.02); BatchNorm weight N(1, 0.02), bias 0."""
    if isinstance(module, nn.Conv2d):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def focal_map(logits: torch.Tensor, mask: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """Per-pixel focal loss (B, H, W) of 2-class ``logits`` (B, 2, H, W) against the {0, 1}
    ``mask`` (B, 1, H, W): ``-(1 - p_t)^gamma log p_t`` with p = softmax(logits)[1] =
    sigmoid(logit_1 - logit_0) (the shared :func:`reprolib.blocks.losses.focal_loss`)."""
    return focal_loss(logits[:, 1] - logits[:, 0], mask[:, 0], gamma, reduction="none")


def ssim_loss(x: torch.Tensor, y: torch.Tensor, window: int = 11) -> torch.Tensor:
    """``1 - mean SSIM`` (Gaussian window ``window`` x ``window``, sigma 1.5, dynamic range 1;
    'same' padding as DRAEM's ``loss.py``)."""
    return 1.0 - ssim(x, y, window, max_val=1.0).mean()
