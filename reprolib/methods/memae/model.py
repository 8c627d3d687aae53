"""MemAE's 2D network (Gong et al., ICCV 2019, §3, Fig. 2): encoder, memory, decoder.

The official repository holds only the 3D video model (its maintainer confirms no 2D code was
released), so the 2D stacks are the repository's plain convolutional encoder / decoder
(:mod:`reprolib.blocks.conv`: 4x4 stride-2 convolutions, BatchNorm, LeakyReLU / ReLU, a 1x1
convolution to ``latent`` channels) with the memory of :mod:`reprolib.blocks.memae_memory`
applied at every position of the latent map, as the official memory module does.
"""

from __future__ import annotations

import torch
from torch import nn

from reprolib.blocks.conv import conv_decoder, conv_encoder
from reprolib.blocks.memae_memory import MemAEMemory, memae_entropy


class MemAENet(nn.Module):
    """``forward(x)`` -> (x_hat, w): reconstruction and memory weights (B, N, h, w)."""

    def __init__(self, in_channels: int, widths: tuple[int, ...], latent: int, n_items: int,
                 shrink_thres: float | None, similarity: str) -> None:
        super().__init__()
        self.encoder = conv_encoder(in_channels, widths, latent)
        self.memory = MemAEMemory(n_items, latent, shrink_thres, similarity)  # type: ignore[arg-type]
        self.decoder = conv_decoder(in_channels, widths, latent, out_act="sigmoid")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z_hat, att = self.memory(self.encoder(x))
        return self.decoder(z_hat), att


def memae_loss(x: torch.Tensor, x_hat: torch.Tensor, att: torch.Tensor,
               entropy_weight: float) -> dict[str, torch.Tensor]:
    """Eq. 11 as the official code computes it: mean squared reconstruction error + α times the
    mean entropy of the memory weights."""
    rec = torch.mean((x_hat - x) ** 2)
    ent = memae_entropy(att)
    return {"loss": rec + entropy_weight * ent, "rec": rec, "entropy": ent}
