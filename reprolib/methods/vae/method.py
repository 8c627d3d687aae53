"""Fit / score glue of the ``vae`` baseline (Hetero-AE Table I column "VAE [43]").

Loss = reconstruction (squared error summed over pixels) + KL (the negative ELBO). Image score
= mean squared reconstruction error of the decoded posterior mean, i.e. the reconstruction term
alone without the KL regulariser: the "unregularized score" of Matsubara et al. [43]. The full
negative ELBO and the KL are returned in ``Scores.extra`` (``elbo``, ``kl``).
Pixel map = squared error averaged over channels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.data import Dataset

from reprolib.blocks.recon import check_halvings, check_positive, error_map
from reprolib.config import MethodConfig
from reprolib.methods import register
from reprolib.methods.base import AnomalyMethod, Scores
from reprolib.methods.vae.model import ConvVAE, kl_divergence, vae_loss


@dataclass
class VAEConfig(MethodConfig):
    img_size: int = 64
    in_channels: int = 1
    widths: tuple[int, ...] = (32, 64, 128, 256)
    latent: int = 128
    kl_weight: float = 1.0
    epochs: int = 20
    batch_size: int = 32
    lr: float = 2e-4

    def validate(self) -> None:
        check_halvings(self.img_size, self.widths)
        check_positive(self, "in_channels", "latent", "epochs", "batch_size", "lr",
                       "kl_weight", allow_zero=("epochs", "kl_weight"))


@register("vae")
class VAE(AnomalyMethod):
    """Convolutional VAE scored by the reconstruction error of its posterior mean."""

    Config = VAEConfig
    config: VAEConfig

    def __init__(self, config: VAEConfig | dict | None = None, *, seed: int = 0,
                 device: str | torch.device = "auto") -> None:
        super().__init__(config, seed=seed, device=device)
        c = self.config
        self.net = ConvVAE(c.img_size, c.in_channels, c.widths, c.latent).to(self.device)

    def fit(self, train: Dataset, val: Dataset | None = None) -> VAE:
        c = self.config
        optimiser = torch.optim.Adam(self.net.parameters(), lr=c.lr)
        self.net.train()

        def loss(x: torch.Tensor) -> dict[str, torch.Tensor]:
            total, recon, kl = vae_loss(x, *self.net(x), c.kl_weight)
            return {"loss": total, "recon": recon, "kl": kl}

        self.fit_batches(train, optimiser, loss)
        return self

    @torch.no_grad()
    def score(self, data: Dataset) -> Scores:
        def batch_scores(x: torch.Tensor) -> dict[str, torch.Tensor]:
            x_hat, mu, logvar = self.net(x)  # eval mode: z = mu
            return {"map": error_map(x, x_hat),
                    "sum": ((x_hat - x) ** 2).flatten(1).sum(dim=1),
                    "kl": kl_divergence(mu, logvar)}

        out = self.score_batches(data, batch_scores)
        elbo = out["sum"] + self.config.kl_weight * out["kl"]
        return Scores.from_maps(out["map"], extra={"elbo": elbo, "kl": out["kl"]})
