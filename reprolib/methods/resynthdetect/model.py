"""ReSynthDetect's networks (Niu et al., BMVC 2023, §3.1-3.2, Fig. 2).

- :class:`ReconstructionAE`: the stage-1 reconstruction network, encoder E_r and decoder D_r
  without skip connections (the paper builds on DRAEM, whose reconstructive network has this
  layout: double 3x3 conv-BN-ReLU blocks, widths ``base * (1, 2, 4, 8, 8)``, max-pooling
  between levels, bilinear upsampling in the decoder), trained with L2 (Eq. 1), then frozen.
- :class:`LocalisationUNet`: the stage-2 U-shaped localisation network (encoder E_l, decoder
  D_l, skip connections, DRAEM's discriminative layout) whose encoder output at every level i
  is concatenated with the frozen E_r's feature of the same level, ``F_c^i = concat(F_r^i,
  F_l^i)``; F_c^i feeds both the next encoder level and the decoder's skip (§3.2). One output
  channel: the anomaly logit (p = sigmoid, the focal loss of Eq. 2 is binary).

The paper gives no layer list; the widths and depth are config values (``base``, ``depth``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def level_widths(base: int, depth: int) -> tuple[int, ...]:
    """Channel widths per level: ``base * 2**i``, capped at ``8 * base`` (DRAEM's 1-2-4-8-8)."""
    if base < 1 or depth < 1:
        raise ValueError(f"base and depth: expected positive ints, got {base}, {depth}")
    return tuple(base * min(2 ** i, 8) for i in range(depth))


def double_conv(in_ch: int, out_ch: int) -> nn.Sequential:
    """(3x3 conv, BatchNorm, ReLU) twice: DRAEM's block."""
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True),
        nn.Conv2d(out_ch, out_ch, 3, padding=1), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True))


class Encoder(nn.Module):
    """``depth`` double-conv levels with 2x2 max-pooling between them; returns every level's
    feature map (full size first)."""

    def __init__(self, in_ch: int, widths: Sequence[int]) -> None:
        super().__init__()
        chans = [in_ch, *widths]
        self.blocks = nn.ModuleList(double_conv(a, b) for a, b in zip(chans[:-1], chans[1:]))
        self.widths = tuple(widths)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for i, block in enumerate(self.blocks):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            feats.append(x)
        return feats


class ReconstructionAE(nn.Module):
    """E_r + D_r without skips (§3.1): ``forward(x)`` is the reconstruction in [0, 1]
    (sigmoid; images are ``unit``-normalised), ``features(x)`` E_r's feature per level."""

    def __init__(self, in_ch: int, base: int, depth: int) -> None:
        super().__init__()
        widths = level_widths(base, depth)
        self.encoder = Encoder(in_ch, widths)
        rev = widths[::-1]
        self.up_blocks = nn.ModuleList(double_conv(a, b) for a, b in zip(rev[:-1], rev[1:]))
        self.head = nn.Conv2d(widths[0], in_ch, 1)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encoder(x)[-1]
        for block in self.up_blocks:
            h = block(F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=False))
        return torch.sigmoid(self.head(h))


class LocalisationUNet(nn.Module):
    """E_l + D_l with skips, each encoder level concatenated with a reconstructive feature of
    ``rec_widths[i]`` channels (§3.2); ``rec_widths=None`` is the plain U-Net (Table 3,
    "localisation net only"). ``in_ch`` is the input's channels (Table 3's "image"
    concatenation passes image and reconstruction: 2 x channels)."""

    def __init__(self, in_ch: int, base: int, depth: int,
                 rec_widths: Sequence[int] | None = None) -> None:
        super().__init__()
        widths = level_widths(base, depth)
        rec = tuple(rec_widths) if rec_widths is not None else (0,) * depth
        if len(rec) != depth:
            raise ValueError(f"rec_widths: expected {depth} levels, got {len(rec)}")
        self.rec_widths = rec
        cat = [w + r for w, r in zip(widths, rec)]            # channels of F_c^i
        ins = [in_ch, *cat[:-1]]
        self.enc_blocks = nn.ModuleList(double_conv(a, b) for a, b in zip(ins, widths))
        # decoder: from F_c^{L-1} up to level 0; at level i: upsample, 1x1 to widths[i],
        # concatenate the skip F_c^i, double conv to widths[i]
        self.up_convs = nn.ModuleList(
            nn.Conv2d(cat[i + 1] if i == depth - 2 else widths[i + 1], widths[i], 1)
            for i in range(depth - 1))
        self.dec_blocks = nn.ModuleList(double_conv(widths[i] + cat[i], widths[i])
                                        for i in range(depth - 1))
        self.head = nn.Conv2d(widths[0] if depth > 1 else cat[0], 1, 1)
        self.depth = depth

    def encode(self, x: torch.Tensor, rec_feats: Sequence[torch.Tensor] | None
               ) -> list[torch.Tensor]:
        """The concatenated encoder features F_c^i, full size first."""
        if (rec_feats is None) != (self.rec_widths[0] == 0):
            raise ValueError("rec_feats: expected reconstructive features exactly when the "
                             "network was built with rec_widths")
        feats = []
        h = x
        for i, block in enumerate(self.enc_blocks):
            f_l = block(h if i == 0 else F.max_pool2d(h, 2))
            h = f_l if rec_feats is None else torch.cat([rec_feats[i], f_l], dim=1)
            feats.append(h)
        return feats

    def forward(self, x: torch.Tensor, rec_feats: Sequence[torch.Tensor] | None = None
                ) -> torch.Tensor:
        """Anomaly logits (B, 1, H, W)."""
        feats = self.encode(x, rec_feats)
        h = feats[-1]
        for i in range(self.depth - 2, -1, -1):
            h = F.interpolate(h, size=feats[i].shape[-2:], mode="bilinear", align_corners=False)
            h = self.dec_blocks[i](torch.cat([self.up_convs[i](h), feats[i]], dim=1))
        return self.head(h)
