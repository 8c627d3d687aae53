"""Convolutional autoencoder of the ``ae`` baseline: 4 stride-2 convolutions down, 4 up.

Bergmann et al. [42] (the AE of Hetero-AE Table I) compress to a latent vector (d = 100);
``bottleneck="dense"`` does that, ``"spatial"`` keeps a 1x1-conv spatial code instead
(ProxyAno's modules use a spatial code; its Fig. 5 layout is not given in the text).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from reprolib.blocks.conv import conv_decoder, conv_encoder
from reprolib.blocks.dense_ae import bottleneck_size, dense_decoder, dense_encoder


class ConvAE(nn.Module):
    """Image (N, C, S, S) in [0, 1] -> reconstruction of the same shape (sigmoid output)."""

    def __init__(self, img_size: int, in_channels: int, widths: tuple[int, ...], latent: int,
                 bottleneck: Literal["dense", "spatial"] = "dense") -> None:
        super().__init__()
        bottleneck_size(img_size, len(widths))
        if bottleneck == "dense":
            self.encoder = dense_encoder(in_channels, widths, img_size, latent)
            self.decoder = dense_decoder(in_channels, widths, img_size, latent)
        elif bottleneck == "spatial":
            self.encoder = conv_encoder(in_channels, widths, latent)
            self.decoder = conv_decoder(in_channels, widths, latent, out_act="sigmoid")
        else:
            raise ValueError(f"bottleneck: expected 'dense' or 'spatial', got {bottleneck!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))
