"""Fit / score glue of GANomaly (Akcay et al., ACCV 2018; Hetero-AE Table I "Ganomaly [21]").

Training follows the reference code (``lib/model.py``): per batch, one generator step on
w_adv * L_adv + w_con * L_con + w_enc * L_enc (1, 50, 1), then one discriminator step on the
BCE of real vs. reconstructed images; D is re-initialised when its loss falls below 1e-5.
Adam 2e-4, beta1 0.5. The last epoch is kept (the reference code keeps the best test-AUC epoch:
a selection on test labels that we do not copy).

Image score = mean squared latent difference ||G_E(x) - E(G(x))||^2 (Eq. 6), taken with every
network in eval mode (the reference test code leaves BatchNorm in training mode) and *not*
min-max normalised over the test set (the reference code does; harmless for AUROC, wrong for
thresholds). GANomaly has no pixel map of its own; ``maps`` holds |x - G(x)| (the contextual
residual, channel mean) for heatmaps, and ``extra["reconstruction"]`` its image mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from reprolib.blocks.dcgan import DCGANDiscriminator, init_dcgan_weights
from reprolib.blocks.recon import check_positive, check_power_of_two, error_map
from reprolib.config import ConfigError, MethodConfig
from reprolib.methods import register
from reprolib.methods.base import AnomalyMethod, Scores
from reprolib.methods.ganomaly.model import (
    GanomalyGenerator,
    discriminator_loss,
    generator_losses,
    latent_score,
)
from reprolib.training import make_loader, optimiser_step, run_epochs


@dataclass
class GanomalyConfig(MethodConfig):
    img_size: int = 64
    in_channels: int = 1
    latent: int = 100
    base_width: int = 64
    max_width: int | None = None
    w_adv: float = 1.0
    w_con: float = 50.0
    w_enc: float = 1.0
    epochs: int = 15
    batch_size: int = 64
    lr: float = 2e-4
    beta1: float = 0.5
    reinit_d_below: float = 1e-5

    def validate(self) -> None:
        check_power_of_two(self.img_size)
        check_positive(self, "in_channels", "latent", "base_width", "epochs", "batch_size",
                       "lr", "w_adv", "w_con", "w_enc", "reinit_d_below",
                       allow_zero=("epochs", "w_adv", "w_enc", "reinit_d_below"))
        if self.max_width is not None and self.max_width < self.base_width:
            raise ConfigError(f"config key 'max_width': expected >= base_width "
                              f"({self.base_width}) or null, got {self.max_width}")
        if not 0 <= self.beta1 < 1:
            raise ConfigError(f"config key 'beta1': expected in [0, 1), got {self.beta1}")


@register("ganomaly")
class Ganomaly(AnomalyMethod):
    """Encoder-decoder-encoder GAN scored by the latent reconstruction difference."""

    Config = GanomalyConfig
    config: GanomalyConfig
    normalize = "tanh"
    #: The contextual (L1 reconstruction) term: weighted 50 it dominates the generator's loss
    #: and settles as G learns the normals; the adversarial terms oscillate by design.
    convergence_key = "con"

    def __init__(self, config: GanomalyConfig | dict | None = None, *, seed: int = 0,
                 device: str | torch.device = "auto") -> None:
        super().__init__(config, seed=seed, device=device)
        c = self.config
        self.generator = GanomalyGenerator(c.img_size, c.in_channels, c.latent, c.base_width,
                                           c.max_width).to(self.device)
        self.discriminator = DCGANDiscriminator(c.img_size, c.in_channels, c.base_width,
                                                c.max_width).to(self.device)
        self.generator.apply(init_dcgan_weights)
        self.discriminator.apply(init_dcgan_weights)
        self.d_reinits = 0

    def extra_state(self) -> dict[str, int]:
        return {"d_reinits": self.d_reinits}

    def load_extra_state(self, state: dict) -> None:
        self.d_reinits = int(state.get("d_reinits", 0))

    def fit(self, train: Dataset, val: Dataset | None = None) -> Ganomaly:
        c = self.config
        betas = (c.beta1, 0.999)
        opt_g = torch.optim.Adam(self.generator.parameters(), lr=c.lr, betas=betas)
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=c.lr, betas=betas)
        self.generator.train()
        self.discriminator.train()

        def step(batch: dict) -> dict[str, torch.Tensor]:
            x = batch["image"].to(self.device)
            x_hat, z, z_hat = self.generator(x)
            logit_real, feat_real = self.discriminator(x)
            _, feat_fake = self.discriminator(x_hat)
            losses = generator_losses(x, x_hat, z, z_hat, feat_real.detach(), feat_fake,
                                      w_adv=c.w_adv, w_con=c.w_con, w_enc=c.w_enc)
            optimiser_step(opt_g, losses["g"])
            logit_fake, _ = self.discriminator(x_hat.detach())
            loss_d = discriminator_loss(logit_real, logit_fake)
            optimiser_step(opt_d, loss_d)
            if loss_d.item() < c.reinit_d_below:
                self.discriminator.apply(init_dcgan_weights)
                self.d_reinits += 1
            return {**{k: v.detach() for k, v in losses.items()}, "d": loss_d.detach()}

        loader = make_loader(train, c.batch_size, shuffle=True, seed=self.seed)
        run_epochs(step, loader, c.epochs, desc=self.name, history=self.history,
                   steps=c.steps)
        return self

    @torch.no_grad()
    def score(self, data: Dataset) -> Scores:
        def batch_scores(x: torch.Tensor) -> dict[str, torch.Tensor]:
            x_hat, z, z_hat = self.generator(x)
            return {"latent": latent_score(z, z_hat), "map": error_map(x, x_hat, "abs")}

        out = self.score_batches(data, batch_scores)
        pixel = out["map"].astype(np.float32)
        return Scores(image=out["latent"], maps=pixel,
                      extra={"reconstruction": pixel.mean(axis=(1, 2))})
