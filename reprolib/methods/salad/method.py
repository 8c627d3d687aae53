"""Fit / score glue of SALAD (Zhao et al., IEEE TMI 2021; Hetero-AE Table I "SALAD [9]").

A RE-IMPLEMENTATION from the paper's description: the authors released no code, and the
layer-level architecture, loss weights and schedule here are ours (see ``model.py`` and
docs/baselines_reconstruction.md). Per batch: one encoder/generator step on
w_rec |x - G(E(x))|_1 + w_cycle ||z - E(G(z))||^2 + w_adv_img (adversarial on G(E(x)), G(z))
+ w_adv_lat (adversarial on E(x) vs. N(0, I)) + w_ssl (rotation cross-entropy), then one step
of both discriminators; Adam 2e-4, beta1 0.5 (DCGAN defaults). Last epoch kept.

Image score = mean squared image reconstruction error ||x - G(E(x))||^2 (Hetero-AE §IV-D
describes SALAD's heatmaps as pixel-wise differences); map = squared error, channel mean.
``extra``: ``latent`` = ||E(x) - E(G(E(x)))||^2 (mean over units) and ``rotation`` = the
rotation-prediction cross-entropy averaged over the four rotations.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from reprolib.blocks.dcgan import init_dcgan_weights
from reprolib.blocks.recon import check_positive, check_power_of_two, error_map
from reprolib.config import ConfigError, MethodConfig
from reprolib.methods import register
from reprolib.methods.base import AnomalyMethod, Scores
from reprolib.methods.salad.model import (
    N_ROTATIONS,
    Salad,
    discriminator_losses,
    generator_losses,
    rotate_batch,
)
from reprolib.training import make_loader, optimiser_step, run_epochs


@dataclass
class SaladConfig(MethodConfig):
    img_size: int = 64
    in_channels: int = 1
    latent: int = 100
    base_width: int = 64
    max_width: int | None = None
    w_rec: float = 10.0
    w_cycle: float = 1.0
    w_adv_img: float = 1.0
    w_adv_lat: float = 1.0
    w_ssl: float = 1.0
    epochs: int = 15
    batch_size: int = 64
    lr: float = 2e-4
    beta1: float = 0.5

    def validate(self) -> None:
        check_power_of_two(self.img_size)
        check_positive(self, "in_channels", "latent", "base_width", "epochs", "batch_size",
                       "lr", "w_rec", "w_cycle", "w_adv_img", "w_adv_lat", "w_ssl",
                       allow_zero=("epochs", "w_cycle", "w_adv_img", "w_adv_lat", "w_ssl"))
        if self.max_width is not None and self.max_width < self.base_width:
            raise ConfigError(f"config key 'max_width': expected >= base_width "
                              f"({self.base_width}) or null, got {self.max_width}")
        if not 0 <= self.beta1 < 1:
            raise ConfigError(f"config key 'beta1': expected in [0, 1), got {self.beta1}")


@register("salad")
class SaladMethod(AnomalyMethod):
    """Re-implemented SALAD: adversarially constrained, translation-consistent AE with a
    self-supervised encoder task; scored by image reconstruction error."""

    Config = SaladConfig
    config: SaladConfig
    normalize = "tanh"
    #: The image reconstruction term (what scores); the adversarial terms oscillate by design.
    convergence_key = "rec"

    def __init__(self, config: SaladConfig | dict | None = None, *, seed: int = 0,
                 device: str | torch.device = "auto") -> None:
        super().__init__(config, seed=seed, device=device)
        c = self.config
        self.nets = Salad(c.img_size, c.in_channels, c.latent, c.base_width,
                          c.max_width).to(self.device)
        self.nets.apply(init_dcgan_weights)

    def fit(self, train: Dataset, val: Dataset | None = None) -> SaladMethod:
        c = self.config
        n = self.nets
        betas = (c.beta1, 0.999)
        opt_eg = torch.optim.Adam(itertools.chain(n.encoder.parameters(),
                                                  n.generator.parameters()),
                                  lr=c.lr, betas=betas)
        opt_d = torch.optim.Adam(itertools.chain(n.image_discriminator.parameters(),
                                                 n.latent_discriminator.parameters()),
                                 lr=c.lr, betas=betas)
        n.train()

        def step(batch: dict) -> dict[str, torch.Tensor]:
            x = batch["image"].to(self.device)
            k = torch.randint(0, N_ROTATIONS, (x.shape[0],), device=self.device)
            z, _ = n.encoder(x)
            x_rec = n.generator(z)
            z_prior = torch.randn_like(z)
            x_gen = n.generator(z_prior)
            z_cycle, _ = n.encoder(x_gen)
            _, rot_logits = n.encoder(rotate_batch(x, k))
            d_img_rec, _ = n.image_discriminator(x_rec)
            d_img_gen, _ = n.image_discriminator(x_gen)
            losses = generator_losses(
                x, x_rec, z_prior, z_cycle, d_img_rec, d_img_gen, n.latent_discriminator(z),
                rot_logits, k, w_rec=c.w_rec, w_adv_img=c.w_adv_img, w_adv_lat=c.w_adv_lat,
                w_cycle=c.w_cycle, w_ssl=c.w_ssl)
            optimiser_step(opt_eg, losses["eg"])
            d_losses = discriminator_losses(
                n.image_discriminator(x)[0], n.image_discriminator(x_rec.detach())[0],
                n.image_discriminator(x_gen.detach())[0], n.latent_discriminator(z_prior),
                n.latent_discriminator(z.detach()))
            optimiser_step(opt_d, d_losses["d_img"] + d_losses["d_lat"])
            return {k: v.detach() for k, v in {**losses, **d_losses}.items()}

        loader = make_loader(train, c.batch_size, shuffle=True, seed=self.seed)
        run_epochs(step, loader, c.epochs, desc=self.name, history=self.history,
                   steps=c.steps)
        return self

    @torch.no_grad()
    def score(self, data: Dataset) -> Scores:
        n = self.nets

        def batch_scores(x: torch.Tensor) -> dict[str, torch.Tensor]:
            z, _ = n.encoder(x)
            x_rec = n.generator(z)
            z_rec, _ = n.encoder(x_rec)
            ce = torch.zeros(x.shape[0], device=self.device)
            for r in range(N_ROTATIONS):
                _, logits = n.encoder(torch.rot90(x, r, dims=(2, 3)))
                target = torch.full((x.shape[0],), r, device=self.device)
                ce += F.cross_entropy(logits, target, reduction="none") / N_ROTATIONS
            return {"map": error_map(x, x_rec), "latent": ((z - z_rec) ** 2).mean(dim=1),
                    "rotation": ce}

        out = self.score_batches(data, batch_scores)
        return Scores.from_maps(out["map"], extra={"latent": out["latent"],
                                                   "rotation": out["rotation"]})
