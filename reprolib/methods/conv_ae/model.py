"""A plain convolutional autoencoder (the repository's reference method)."""

from __future__ import annotations

import torch
from torch import nn

from reprolib.blocks.conv import conv_decoder, conv_encoder


class ConvAutoencoder(nn.Module):
    """Stride-2 conv encoder to a spatial bottleneck, mirrored transposed-conv decoder."""

    def __init__(self, in_channels: int, widths: tuple[int, ...], latent: int) -> None:
        super().__init__()
        self.encoder = conv_encoder(in_channels, widths, latent)
        self.decoder = conv_decoder(in_channels, widths, latent, out_act="sigmoid")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))
