"""Fit / score glue of the ``vae`` baseline (Hetero-AE Table I column "VAE [43]").

Loss = reconstruction (squared error summed over pixels) + KL (the negative ELBO). Image score
= mean squared reconstruction error of the decoded posterior mean, i.e. the reconstruction term
alone without the KL regulariser: the "unregularized score" of Matsubara et al. [43]. The full
negative ELBO and the KL are returned in ``Scores.extra`` (``elbo``, ``kl``).
Pixel map = squared error averaged over channels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from reprolib.blocks.recon import check_positive, error_map
from reprolib.config import ConfigError, MethodConfig
from reprolib.methods import register
from reprolib.methods.base import AnomalyMethod, Scores
from reprolib.methods.vae.model import ConvVAE, kl_divergence, vae_loss
from reprolib.training import make_loader, run_epochs


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
        if not self.widths or self.img_size % 2 ** len(self.widths) \
                or self.img_size < 2 ** len(self.widths):
            raise ConfigError(f"config key 'img_size': expected a multiple of 2**len(widths) = "
                              f"{2 ** len(self.widths)}, got {self.img_size}")
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

        def step(batch: dict) -> dict[str, torch.Tensor]:
            x = batch["image"].to(self.device)
            x_hat, mu, logvar = self.net(x)
            loss, recon, kl = vae_loss(x, x_hat, mu, logvar, c.kl_weight)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            return {"loss": loss.detach(), "recon": recon.detach(), "kl": kl.detach()}

        loader = make_loader(train, c.batch_size, shuffle=True, seed=self.seed)
        run_epochs(step, loader, c.epochs, desc=self.name, history=self.history)
        return self

    @torch.no_grad()
    def score(self, data: Dataset) -> Scores:
        self.eval_mode()
        maps, kls, sums = [], [], []
        for batch in make_loader(data, self.config.batch_size, shuffle=False):
            x = batch["image"].to(self.device)
            x_hat, mu, logvar = self.net(x)  # eval mode: z = mu
            maps.append(error_map(x, x_hat).cpu().numpy())
            sums.append(((x_hat - x) ** 2).flatten(1).sum(dim=1).cpu().numpy())
            kls.append(kl_divergence(mu, logvar).cpu().numpy())
        pixel = np.concatenate(maps).astype(np.float32)
        kl = np.concatenate(kls)
        elbo = np.concatenate(sums) + self.config.kl_weight * kl
        return Scores(image=pixel.mean(axis=(1, 2)), maps=pixel, extra={"elbo": elbo, "kl": kl})
