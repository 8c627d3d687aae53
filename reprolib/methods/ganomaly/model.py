"""GANomaly networks (Akcay et al., ACCV 2018, §3, Fig. 2) and losses (Eqs. 1-5).

Generator G = encoder G_E (x -> z), decoder G_D (z -> x_hat), encoder E (x_hat -> z_hat);
discriminator D = DCGAN classifier whose last 4x4 feature map is f(.) of the adversarial
feature-matching loss. All stacks come from :mod:`reprolib.blocks.dcgan`.
"""

from __future__ import annotations

import torch
from torch import nn

from reprolib.blocks.dcgan import (
    DCGANDecoder,
    DCGANDiscriminator,
    DCGANEncoder,
    bce_fake,
    bce_real,
)


class GanomalyGenerator(nn.Module):
    """``forward(x)`` -> (x_hat, z (N, nz), z_hat (N, nz))."""

    def __init__(self, img_size: int, in_channels: int, latent: int, base_width: int,
                 max_width: int | None) -> None:
        super().__init__()
        self.encoder1 = DCGANEncoder(img_size, in_channels, latent, base_width, max_width)
        self.decoder = DCGANDecoder(img_size, in_channels, latent, base_width, max_width)
        self.encoder2 = DCGANEncoder(img_size, in_channels, latent, base_width, max_width)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        z = self.encoder1(x)
        x_hat = self.decoder(z)
        z_hat = self.encoder2(x_hat)
        return x_hat, z.flatten(1), z_hat.flatten(1)


def generator_losses(x: torch.Tensor, x_hat: torch.Tensor, z: torch.Tensor, z_hat: torch.Tensor,
                     feat_real: torch.Tensor, feat_fake: torch.Tensor, *, w_adv: float = 1.0,
                     w_con: float = 50.0, w_enc: float = 1.0) -> dict[str, torch.Tensor]:
    """GANomaly Eqs. 2-5: L_adv = ||f(x) - f(x_hat)||_2^2 (mean), L_con = ||x - x_hat||_1
    (mean), L_enc = ||z - z_hat||_2^2 (mean); total = w_adv L_adv + w_con L_con + w_enc L_enc."""
    adv = torch.mean((feat_real - feat_fake) ** 2)
    con = torch.mean(torch.abs(x - x_hat))
    enc = torch.mean((z - z_hat) ** 2)
    return {"g": w_adv * adv + w_con * con + w_enc * enc, "adv": adv, "con": con, "enc": enc}


def discriminator_loss(logit_real: torch.Tensor, logit_fake: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of real (1) and fake (0), averaged: 0.5 (L_real + L_fake)."""
    return 0.5 * (bce_real(logit_real) + bce_fake(logit_fake))


def latent_score(z: torch.Tensor, z_hat: torch.Tensor) -> torch.Tensor:
    """GANomaly anomaly score A(x) = mean over latent units of (z - z_hat)^2, per image."""
    return torch.mean((z - z_hat) ** 2, dim=1)


__all__ = ["DCGANDiscriminator", "GanomalyGenerator", "discriminator_loss", "generator_losses",
           "latent_score"]
