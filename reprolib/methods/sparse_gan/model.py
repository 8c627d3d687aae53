"""Sparse-GAN networks and losses, RE-IMPLEMENTED from the paper's description (Zhou et al.,
"Sparse-GAN: Sparsity-constrained Generative Adversarial Network for Anomaly Detection in
Retinal OCT Image", ISBI 2020). No public code exists; what is verified (abstract, ProxyAno §II,
MDFSC §2) is: a pix2pix-style image-to-image GAN, a "Sparsity Regularization Net" constraining
the latent features, and the anomaly score computed in the latent space. Everything else here
is our choice (docs/baselines_proxyano.md):

- generator = encoder E (the repository's 4x4 stride-2 conv stack to a spatial latent map z),
  sparsity regularisation net S (two 1x1 convolutions, LeakyReLU between, ReLU at the end: a
  non-negative code s = S(z)), decoder D (mirrored transposed convolutions, tanh); no U-Net
  skips (they would let the image bypass the constrained latent);
- the reconstruction is encoded again by the same encoder: z_hat = E(x_hat);
- losses: w_adv GAN(PatchGAN(x_hat), real) + w_con |x - x_hat|_1 + w_lat ||z - z_hat||^2
  + w_sparse |s|_1 (means), weights 1, 50, 1, 1 (GANomaly's 1 / 50 / 1 for the first three);
- score: mean over the latent map of (z - z_hat)^2 (a monotone function of ProxyAno's
  Eq. 13 Frobenius norm).
"""

from __future__ import annotations

import torch
from torch import nn

from reprolib.blocks.conv import conv_decoder, conv_encoder
from reprolib.blocks.pix2pix import gan_loss


class SparsityNet(nn.Module):
    """The sparsity regularisation net (our reading): s = ReLU(W2 LeakyReLU(W1 z)), 1x1 convs."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(channels, channels, 1), nn.LeakyReLU(0.2),
                                 nn.Conv2d(channels, channels, 1), nn.ReLU())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class SparseGANGenerator(nn.Module):
    """``forward(x)`` -> (x_hat, z, s, z_hat): reconstruction, latent map, sparse code, and the
    latent map of the reconstruction (same encoder)."""

    def __init__(self, in_channels: int, widths: tuple[int, ...], latent: int) -> None:
        super().__init__()
        self.encoder = conv_encoder(in_channels, widths, latent)
        self.sparsity = SparsityNet(latent)
        self.decoder = conv_decoder(in_channels, widths, latent, out_act="tanh")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        z = self.encoder(x)
        s = self.sparsity(z)
        x_hat = self.decoder(s)
        return x_hat, z, s, self.encoder(x_hat)


def sparse_gan_g_losses(x: torch.Tensor, x_hat: torch.Tensor, z: torch.Tensor, s: torch.Tensor,
                        z_hat: torch.Tensor, d_fake: torch.Tensor, *, w_adv: float,
                        w_con: float, w_lat: float, w_sparse: float) -> dict[str, torch.Tensor]:
    """The generator's loss (module docstring): adversarial (vanilla, non-saturating), L1
    contextual, L2 latent and L1 sparsity terms, each a mean."""
    adv = gan_loss(d_fake, True, "vanilla")
    con = torch.mean(torch.abs(x - x_hat))
    lat = torch.mean((z - z_hat) ** 2)
    sparse = torch.mean(torch.abs(s))
    total = w_adv * adv + w_con * con + w_lat * lat + w_sparse * sparse
    return {"g": total, "adv": adv, "con": con, "lat": lat, "sparse": sparse}


def latent_score(z: torch.Tensor, z_hat: torch.Tensor) -> torch.Tensor:
    """Per image: mean over channels and positions of (z - z_hat)^2."""
    return ((z - z_hat) ** 2).flatten(1).mean(dim=1)


__all__ = ["SparseGANGenerator", "SparsityNet", "latent_score", "sparse_gan_g_losses"]
