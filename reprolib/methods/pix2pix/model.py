"""pix2pix (Isola et al., CVPR 2017, §3) used as a reconstruction model (ProxyAno Table I
"pix2pix [43]"): the conditional GAN maps an image to itself.

Losses of the reference ``models/pix2pix_model.py``: D is conditional (it sees the pair
cat(input, output)); D's loss = 0.5 (GAN(D(x, x), real) + GAN(D(x, G(x)), fake)); G's loss =
GAN(D(x, G(x)), real) + λ_L1 ||x - G(x)||_1 (mean), λ_L1 = 100, vanilla GAN loss.
"""

from __future__ import annotations

import torch

from reprolib.blocks.pix2pix import gan_loss


def pix2pix_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """0.5 (GAN(D(x, x), real) + GAN(D(x, G(x)), fake)), vanilla GAN loss."""
    return 0.5 * (gan_loss(d_real, True, "vanilla") + gan_loss(d_fake, False, "vanilla"))


def pix2pix_g_losses(x: torch.Tensor, x_hat: torch.Tensor, d_fake: torch.Tensor,
                     l1_weight: float) -> dict[str, torch.Tensor]:
    """G's loss: GAN(D(x, G(x)), real) + λ_L1 mean |x - G(x)|."""
    adv = gan_loss(d_fake, True, "vanilla")
    l1 = torch.mean(torch.abs(x - x_hat))
    return {"g": adv + l1_weight * l1, "g_gan": adv, "l1": l1}


__all__ = ["pix2pix_d_loss", "pix2pix_g_losses"]
