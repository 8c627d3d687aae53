"""Fit / score glue of pix2pix as an anomaly detector (ProxyAno Table I "pix2pix [43]").

Networks and training follow junyanz/pytorch-CycleGAN-and-pix2pix defaults (``unet_256`` sized
for ``img_size``, BatchNorm, dropout 0.5 in the inner 8ngf levels, 70x70 PatchGAN with
BatchNorm, vanilla GAN loss, λ_L1 = 100, Adam 2e-4 with β1 = 0.5, per batch one D step then one
G step). Input and target are the same image: the model reconstructs normal images.

Not from the reference: the batch size (reference 1) and a fixed number of epochs without the
reference's linear learning-rate decay; no random crop / flip augmentation (none of the other
baselines has it); scoring with every network in eval mode (the reference test script keeps
BatchNorm and dropout in training mode unless ``--eval``).

ProxyAno does not say how it scored pix2pix (§IV-A3): the image score is the reconstruction
error, the mean squared error ||x - G(x)||^2 / (C H W) (a monotone function of the paper's
image-space score ||I - Î||_F, §IV-F5, so the same AUROC); the map is |x - G(x)| (channel mean;
ProxyAno's pixel maps), in the tanh range of the inputs ([-1, 1], so maps lie in [0, 2]).
``extra["l1"]`` holds the mean absolute error.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.data import Dataset

from reprolib.blocks.dcgan import init_dcgan_weights
from reprolib.blocks.pix2pix import PatchDiscriminator, UnetGenerator, set_requires_grad
from reprolib.blocks.recon import (
    check_positive,
    check_power_of_two,
    reconstruction_result,
    reconstruction_scores,
)
from reprolib.config import ConfigError, MethodConfig
from reprolib.methods import register
from reprolib.methods.base import AnomalyMethod, Scores
from reprolib.methods.pix2pix.model import pix2pix_d_loss, pix2pix_g_losses
from reprolib.training import make_loader, optimiser_step, run_epochs


@dataclass
class Pix2PixConfig(MethodConfig):
    img_size: int = 64
    in_channels: int = 1
    ngf: int = 64
    ndf: int = 64
    dropout: bool = True
    l1_weight: float = 100.0
    epochs: int = 20
    batch_size: int = 16
    lr: float = 2e-4
    beta1: float = 0.5

    def validate(self) -> None:
        check_power_of_two(self.img_size, minimum=32)
        check_positive(self, "in_channels", "ngf", "ndf", "epochs", "batch_size", "lr",
                       "l1_weight", allow_zero=("epochs", "l1_weight"))
        if not 0 <= self.beta1 < 1:
            raise ConfigError(f"config key 'beta1': expected in [0, 1), got {self.beta1}")


@register("pix2pix")
class Pix2Pix(AnomalyMethod):
    """U-Net generator + conditional PatchGAN reconstructing the input image."""

    Config = Pix2PixConfig
    config: Pix2PixConfig
    normalize = "tanh"
    convergence_key = "l1"

    def __init__(self, config: Pix2PixConfig | dict | None = None, *, seed: int = 0,
                 device: str | torch.device = "auto") -> None:
        super().__init__(config, seed=seed, device=device)
        c = self.config
        self.generator = UnetGenerator(c.in_channels, c.in_channels, c.img_size, c.ngf,
                                       c.dropout).to(self.device)
        self.discriminator = PatchDiscriminator(2 * c.in_channels, c.ndf).to(self.device)
        self.generator.apply(init_dcgan_weights)
        self.discriminator.apply(init_dcgan_weights)

    def fit(self, train: Dataset, val: Dataset | None = None) -> Pix2Pix:
        c = self.config
        betas = (c.beta1, 0.999)
        opt_g = torch.optim.Adam(self.generator.parameters(), lr=c.lr, betas=betas)
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=c.lr, betas=betas)
        self.generator.train()
        self.discriminator.train()

        def step(batch: dict) -> dict[str, torch.Tensor]:
            x = self.batch_images(batch)
            x_hat = self.generator(x)
            set_requires_grad([self.discriminator], True)
            d_real = self.discriminator(torch.cat([x, x], dim=1))
            d_fake = self.discriminator(torch.cat([x, x_hat.detach()], dim=1))
            loss_d = pix2pix_d_loss(d_real, d_fake)
            optimiser_step(opt_d, loss_d)
            set_requires_grad([self.discriminator], False)
            losses = pix2pix_g_losses(x, x_hat, self.discriminator(torch.cat([x, x_hat], 1)),
                                      c.l1_weight)
            optimiser_step(opt_g, losses["g"])
            set_requires_grad([self.discriminator], True)
            return {**{k: v.detach() for k, v in losses.items()}, "d": loss_d.detach()}

        loader = make_loader(train, c.batch_size, shuffle=True, seed=self.seed)
        run_epochs(step, loader, c.epochs, desc=self.name, history=self.history,
                   steps=c.steps)
        return self

    @torch.no_grad()
    def score(self, data: Dataset) -> Scores:
        return reconstruction_result(self.score_batches(
            data, lambda x: reconstruction_scores(x, self.generator(x))))
