"""SALAD networks, re-implemented from the description of Zhao et al., "Anomaly detection for
medical images using self-supervised and translation-consistent features", IEEE TMI 40(12),
2021 (no public code). What the comparison of Hetero-AE Table I needs is kept: an
encoder-decoder with adversarial constraints in image and latent space, translation
consistency image -> latent -> image and latent -> image -> latent, and a self-supervised task
on the encoder. The self-supervised task here is rotation prediction (0/90/180/270 degrees),
our choice where we could not confirm the paper's.

E: DCGAN encoder x -> z; G: DCGAN decoder z -> x (tanh); D_img: DCGAN discriminator on images;
D_lat: MLP discriminator on latent codes (prior N(0, I) vs. E(x)); rotation head: linear
classifier on E's pooled 4x4 features.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from reprolib.blocks.dcgan import (
    DCGANDecoder,
    DCGANDiscriminator,
    DCGANEncoder,
    bce_fake,
    bce_real,
)

N_ROTATIONS = 4


class SaladEncoder(nn.Module):
    """``forward(x)`` -> (z (N, latent), rotation logits (N, 4))."""

    def __init__(self, img_size: int, in_channels: int, latent: int, base_width: int,
                 max_width: int | None) -> None:
        super().__init__()
        self.body = DCGANEncoder(img_size, in_channels, latent, base_width, max_width)
        self.rotation_head = nn.Linear(self.body.feature_channels, N_ROTATIONS)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.body.features(x)
        z = self.body.final(features).flatten(1)
        return z, self.rotation_head(features.mean(dim=(2, 3)))


class LatentDiscriminator(nn.Module):
    """MLP on latent vectors -> logit (N,)."""

    def __init__(self, latent: int, hidden: int = 256) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent, hidden), nn.LeakyReLU(0.2),
                                 nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
                                 nn.Linear(hidden, 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).squeeze(1)


class Salad(nn.Module):
    """The four networks together (E, G, D_img, D_lat)."""

    def __init__(self, img_size: int, in_channels: int, latent: int, base_width: int,
                 max_width: int | None) -> None:
        super().__init__()
        self.encoder = SaladEncoder(img_size, in_channels, latent, base_width, max_width)
        self.generator = DCGANDecoder(img_size, in_channels, latent, base_width, max_width)
        self.image_discriminator = DCGANDiscriminator(img_size, in_channels, base_width,
                                                      max_width)
        self.latent_discriminator = LatentDiscriminator(latent)


def rotate_batch(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Rotate image i of ``x`` by ``k[i]`` quarter turns (square images)."""
    rotations = torch.stack([torch.rot90(x, r, dims=(2, 3)) for r in range(N_ROTATIONS)])
    return rotations[k, torch.arange(x.shape[0], device=x.device)]


def generator_losses(x: torch.Tensor, x_rec: torch.Tensor, z_prior: torch.Tensor,
                     z_cycle: torch.Tensor, d_img_rec: torch.Tensor, d_img_gen: torch.Tensor,
                     d_lat_enc: torch.Tensor, rot_logits: torch.Tensor, rot_target: torch.Tensor,
                     *, w_rec: float, w_adv_img: float, w_adv_lat: float, w_cycle: float,
                     w_ssl: float) -> dict[str, torch.Tensor]:
    """Encoder/generator objective: L1 image translation consistency |x - G(E(x))|, latent
    translation consistency ||z - E(G(z))||^2 for prior z, adversarial image terms on G(E(x))
    and G(z), adversarial latent term on E(x), rotation cross-entropy. Returns every term and
    the weighted total ``eg``."""
    rec = torch.mean(torch.abs(x - x_rec))
    cycle = torch.mean((z_prior - z_cycle) ** 2)
    adv_img = 0.5 * (bce_real(d_img_rec) + bce_real(d_img_gen))
    adv_lat = bce_real(d_lat_enc)
    ssl = F.cross_entropy(rot_logits, rot_target)
    total = (w_rec * rec + w_cycle * cycle + w_adv_img * adv_img + w_adv_lat * adv_lat
             + w_ssl * ssl)
    return {"eg": total, "rec": rec, "cycle": cycle, "adv_img": adv_img, "adv_lat": adv_lat,
            "ssl": ssl}


def discriminator_losses(d_img_real: torch.Tensor, d_img_rec: torch.Tensor,
                         d_img_gen: torch.Tensor, d_lat_prior: torch.Tensor,
                         d_lat_enc: torch.Tensor) -> dict[str, torch.Tensor]:
    """D_img: real images vs. (reconstructions, samples); D_lat: prior codes vs. E(x)."""
    d_img = 0.5 * (bce_real(d_img_real) + 0.5 * (bce_fake(d_img_rec) + bce_fake(d_img_gen)))
    d_lat = 0.5 * (bce_real(d_lat_prior) + bce_fake(d_lat_enc))
    return {"d_img": d_img, "d_lat": d_lat}


__all__ = ["LatentDiscriminator", "N_ROTATIONS", "Salad", "SaladEncoder", "discriminator_losses",
           "generator_losses", "rotate_batch"]
