"""Convolutional VAE of the ``vae`` baseline (Kingma & Welling, ICLR 2014), with the same
4-down / 4-up conv stacks as ``ae`` and a Gaussian latent vector."""

from __future__ import annotations

import torch
from torch import nn

from reprolib.blocks.dense_ae import dense_decoder, dense_encoder


class ConvVAE(nn.Module):
    """``forward(x)`` -> (reconstruction, mu, logvar); sampling only in training mode."""

    def __init__(self, img_size: int, in_channels: int, widths: tuple[int, ...],
                 latent: int) -> None:
        super().__init__()
        self.latent = latent
        self.encoder = dense_encoder(in_channels, widths, img_size, 2 * latent)
        self.decoder = dense_decoder(in_channels, widths, img_size, latent)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        return self.decoder(z), mu, logvar


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per sample, summed over latent units (N,)."""
    return -0.5 * torch.sum(1 + logvar - mu ** 2 - logvar.exp(), dim=1)


def vae_loss(x: torch.Tensor, x_hat: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
             kl_weight: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Negative ELBO per batch (up to constants, Gaussian decoder with variance 1/2): squared
    error summed over pixels + ``kl_weight`` * KL, both averaged over the batch.
    Returns (total, reconstruction, kl)."""
    recon = ((x_hat - x) ** 2).flatten(1).sum(dim=1).mean()
    kl = kl_divergence(mu, logvar).mean()
    return recon + kl_weight * kl, recon, kl
