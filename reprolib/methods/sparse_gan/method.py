"""Fit / score glue of Sparse-GAN (ProxyAno Table I / II "Sparse-GAN [36]"): a
RE-IMPLEMENTATION from the paper's description, not the authors' code (none is public); see
:mod:`reprolib.methods.sparse_gan.model` and docs/baselines_proxyano.md for what is verified and
what we chose.

Training (our choice, GANomaly's / pix2pix's schedule): per batch one discriminator step
(70x70 PatchGAN with BatchNorm, vanilla GAN loss, 0.5 (real + fake)) then one generator step;
Adam 2e-4, β1 0.5. Score: the latent difference ``latent_score`` (with every network in eval
mode); map: |x - x_hat| (channel mean, tanh range) in place of the paper's anomaly activation
map (a gradient-weighted latent map, not re-implemented); ``extra["reconstruction"]`` the mean
squared reconstruction error, ``extra["sparsity"]`` the mean |s| of the code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from reprolib.blocks.dcgan import init_dcgan_weights
from reprolib.blocks.pix2pix import PatchDiscriminator, gan_loss, set_requires_grad
from reprolib.blocks.recon import check_halvings, check_positive, error_map
from reprolib.config import ConfigError, MethodConfig
from reprolib.methods import register
from reprolib.methods.base import AnomalyMethod, Scores
from reprolib.methods.sparse_gan.model import (
    SparseGANGenerator,
    latent_score,
    sparse_gan_g_losses,
)
from reprolib.training import make_loader, optimiser_step, run_epochs


@dataclass
class SparseGANConfig(MethodConfig):
    img_size: int = 64
    in_channels: int = 1
    widths: tuple[int, ...] = (64, 128, 256, 512)
    latent: int = 128
    ndf: int = 64
    w_adv: float = 1.0
    w_con: float = 50.0
    w_lat: float = 1.0
    w_sparse: float = 1.0
    epochs: int = 20
    batch_size: int = 16
    lr: float = 2e-4
    beta1: float = 0.5

    def validate(self) -> None:
        check_halvings(self.img_size, self.widths)
        if self.img_size < 32:
            raise ConfigError(f"config key 'img_size': expected >= 32 (PatchGAN), "
                              f"got {self.img_size}")
        check_positive(self, "in_channels", "latent", "ndf", "epochs", "batch_size", "lr",
                       "w_adv", "w_con", "w_lat", "w_sparse",
                       allow_zero=("epochs", "w_adv", "w_lat", "w_sparse"))
        if not 0 <= self.beta1 < 1:
            raise ConfigError(f"config key 'beta1': expected in [0, 1), got {self.beta1}")


@register("sparse_gan")
class SparseGAN(AnomalyMethod):
    """Sparse-GAN re-implementation: image-to-image GAN with a sparsity-constrained latent,
    scored in the latent space."""

    Config = SparseGANConfig
    config: SparseGANConfig
    normalize = "tanh"
    convergence_key = "con"

    def __init__(self, config: SparseGANConfig | dict | None = None, *, seed: int = 0,
                 device: str | torch.device = "auto") -> None:
        super().__init__(config, seed=seed, device=device)
        c = self.config
        self.generator = SparseGANGenerator(c.in_channels, c.widths, c.latent).to(self.device)
        self.discriminator = PatchDiscriminator(c.in_channels, c.ndf).to(self.device)
        self.generator.encoder.apply(init_dcgan_weights)
        self.generator.decoder.apply(init_dcgan_weights)
        self.discriminator.apply(init_dcgan_weights)

    def fit(self, train: Dataset, val: Dataset | None = None) -> SparseGAN:
        c = self.config
        betas = (c.beta1, 0.999)
        opt_g = torch.optim.Adam(self.generator.parameters(), lr=c.lr, betas=betas)
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=c.lr, betas=betas)
        self.generator.train()
        self.discriminator.train()

        def step(batch: dict) -> dict[str, torch.Tensor]:
            x = self.batch_images(batch)
            x_hat, z, s, z_hat = self.generator(x)
            loss_d = 0.5 * (gan_loss(self.discriminator(x), True, "vanilla")
                            + gan_loss(self.discriminator(x_hat.detach()), False, "vanilla"))
            optimiser_step(opt_d, loss_d)
            set_requires_grad([self.discriminator], False)
            losses = sparse_gan_g_losses(x, x_hat, z, s, z_hat, self.discriminator(x_hat),
                                         w_adv=c.w_adv, w_con=c.w_con, w_lat=c.w_lat,
                                         w_sparse=c.w_sparse)
            optimiser_step(opt_g, losses["g"])
            set_requires_grad([self.discriminator], True)
            return {**{k: v.detach() for k, v in losses.items()}, "d": loss_d.detach()}

        loader = make_loader(train, c.batch_size, shuffle=True, seed=self.seed)
        run_epochs(step, loader, c.epochs, desc=self.name, history=self.history,
                   steps=c.steps)
        return self

    @torch.no_grad()
    def score(self, data: Dataset) -> Scores:
        def batch_scores(x: torch.Tensor) -> dict[str, torch.Tensor]:
            x_hat, z, s, z_hat = self.generator(x)
            return {"latent": latent_score(z, z_hat), "map": error_map(x, x_hat, "abs"),
                    "reconstruction": ((x_hat - x) ** 2).flatten(1).mean(dim=1),
                    "sparsity": s.abs().flatten(1).mean(dim=1)}

        out = self.score_batches(data, batch_scores)
        return Scores(image=out["latent"], maps=out["map"].astype(np.float32),
                      extra={"reconstruction": out["reconstruction"],
                             "sparsity": out["sparsity"]})
