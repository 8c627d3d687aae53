"""Fit / score glue of f-AnoGAN (Schlegl et al., MedIA 2019; Hetero-AE Table I "f-AnoGAN [3]").

Phase 1 (``epochs``, or ``steps`` generator steps): WGAN-GP on normal images; the critic takes
one step per batch, the generator one step after every ``n_critic`` (5) critic steps; Adam 1e-4,
betas (0, 0.9), gradient penalty 10, z of 128 values from N(0, I). One epoch = one pass of the
critic over the training set; a ``steps`` budget counts generator steps, as the reference code
counts its iterations (so ``steps * n_critic`` critic batches). Phase 2 (``encoder_epochs``, or
``encoder_steps`` encoder steps): G and critic frozen (eval mode), the izi_f encoder is
trained on MSE(x, G(E(x))) + kappa * MSE(f(x), f(G(E(x)))) with RMSProp 5e-5, kappa = 1.
The history's ``steps`` counts generator steps through phase 1 and continues with encoder steps;
the convergence rule watches the encoder's ``izif`` loss (the WGAN losses are a game with no
plateau to reach, and the encoder is what scores).
Image score = the same two terms per image; ``extra``: ``residual`` (image term) and
``feature`` (critic-feature term); map = |x - G(E(x))| averaged over channels.
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
from reprolib.methods.f_anogan.model import Critic, Generator, gradient_penalty, izif_terms
from reprolib.training import make_loader, optimiser_step, run_epochs


@dataclass
class FAnoGANConfig(MethodConfig):
    img_size: int = 64
    in_channels: int = 1
    z_dim: int = 128
    dim: int = 64
    epochs: int = 20
    encoder_epochs: int = 20
    encoder_steps: int = 0  # > 0: overrides encoder_epochs (phase 2 length in encoder steps)
    batch_size: int = 64
    lr: float = 1e-4
    betas: tuple[float, float] = (0.0, 0.9)
    n_critic: int = 5
    gp_weight: float = 10.0
    encoder_lr: float = 5e-5
    kappa: float = 1.0

    def validate(self) -> None:
        size = self.img_size
        if size < 8 or size & (size - 1):
            raise ConfigError(f"config key 'img_size': expected a power of two >= 8, got {size}")
        check_positive(self, "in_channels", "z_dim", "dim", "epochs", "encoder_epochs",
                       "batch_size", "lr", "n_critic", "gp_weight", "encoder_lr", "kappa",
                       allow_zero=("epochs", "encoder_epochs", "gp_weight", "kappa"))
        if self.encoder_steps < 0:
            raise ConfigError(f"config key 'encoder_steps': expected >= 0, got "
                              f"{self.encoder_steps}")
        if not all(0 <= b < 1 for b in self.betas):
            raise ConfigError(f"config key 'betas': expected two values in [0, 1), "
                              f"got {list(self.betas)}")


@register("f_anogan")
class FAnoGAN(AnomalyMethod):
    """WGAN-GP with an izi_f encoder; score = image + feature residual of G(E(x))."""

    Config = FAnoGANConfig
    config: FAnoGANConfig
    normalize = "tanh"
    convergence_key = "izif"

    def __init__(self, config: FAnoGANConfig | dict | None = None, *, seed: int = 0,
                 device: str | torch.device = "auto") -> None:
        super().__init__(config, seed=seed, device=device)
        c = self.config
        self.generator = Generator(c.img_size, c.in_channels, c.z_dim, c.dim).to(self.device)
        self.critic = Critic(c.img_size, c.in_channels, c.dim).to(self.device)
        self.encoder = Critic(c.img_size, c.in_channels, c.dim, out_dim=c.z_dim,
                              tanh=True).to(self.device)

    def fit(self, train: Dataset, val: Dataset | None = None) -> FAnoGAN:
        self.fit_gan(train)
        self.fit_encoder(train)
        return self

    def fit_gan(self, train: Dataset) -> None:
        """Phase 1: WGAN-GP (Gulrajani et al. 2017, Algorithm 1)."""
        c = self.config
        opt_g = torch.optim.Adam(self.generator.parameters(), lr=c.lr, betas=c.betas)
        opt_d = torch.optim.Adam(self.critic.parameters(), lr=c.lr, betas=c.betas)
        self.generator.train()
        self.critic.train()
        state = {"critic_steps": 0, "g": torch.tensor(0.0)}

        def step(batch: dict) -> dict[str, torch.Tensor]:
            real = batch["image"].to(self.device)
            z = torch.randn(real.shape[0], c.z_dim, device=self.device)
            with torch.no_grad():
                fake = self.generator(z)
            wasserstein = self.critic(fake).mean() - self.critic(real).mean()
            penalty = gradient_penalty(self.critic, real, fake)
            loss_d = wasserstein + c.gp_weight * penalty
            optimiser_step(opt_d, loss_d)
            state["critic_steps"] += 1
            if state["critic_steps"] % c.n_critic == 0:
                z = torch.randn(real.shape[0], c.z_dim, device=self.device)
                loss_g = -self.critic(self.generator(z)).mean()
                optimiser_step(opt_g, loss_g)
                state["g"] = loss_g.detach()
            return {"critic": loss_d.detach(), "w_dist": -wasserstein.detach(),
                    "gp": penalty.detach(), "g_last": state["g"]}

        loader = make_loader(train, c.batch_size, shuffle=True, seed=self.seed, drop_last=True)
        run_epochs(step, loader, c.epochs, desc=f"{self.name} wgan-gp", history=self.history,
                   steps=c.steps, calls_per_step=c.n_critic)

    def fit_encoder(self, train: Dataset) -> None:
        """Phase 2: izi_f encoder training with G and critic frozen."""
        c = self.config
        self.generator.eval()
        self.critic.eval()
        for net in (self.generator, self.critic):
            net.requires_grad_(False)
        optimiser = torch.optim.RMSprop(self.encoder.parameters(), lr=c.encoder_lr)
        self.encoder.train()

        def step(batch: dict) -> dict[str, torch.Tensor]:
            x = batch["image"].to(self.device)
            x_rec = self.generator(self.encoder(x))
            image, feature = izif_terms(x, x_rec, self.critic.features(x),
                                        self.critic.features(x_rec))
            loss = image.mean() + c.kappa * feature.mean()
            optimiser_step(optimiser, loss)
            return {"izif": loss.detach(), "izif_image": image.mean().detach(),
                    "izif_feature": feature.mean().detach()}

        loader = make_loader(train, c.batch_size, shuffle=True, seed=self.seed + 1)
        try:
            run_epochs(step, loader, c.encoder_epochs, desc=f"{self.name} izi_f",
                       history=self.history, steps=c.encoder_steps)
        finally:
            for net in (self.generator, self.critic):
                net.requires_grad_(True)

    @torch.no_grad()
    def score(self, data: Dataset) -> Scores:
        def batch_scores(x: torch.Tensor) -> dict[str, torch.Tensor]:
            x_rec = self.generator(self.encoder(x))
            image, feat = izif_terms(x, x_rec, self.critic.features(x),
                                     self.critic.features(x_rec))
            return {"residual": image, "feature": feat, "map": error_map(x, x_rec, "abs")}

        out = self.score_batches(data, batch_scores)
        res, feat = out["residual"], out["feature"]
        return Scores(image=res + self.config.kappa * feat, maps=out["map"].astype(np.float32),
                      extra={"residual": res, "feature": feat})
