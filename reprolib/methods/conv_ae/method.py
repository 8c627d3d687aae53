"""Fit / score glue of the reference convolutional autoencoder.

Not from one of the five papers: it exercises the whole path (fit, score, cache, results,
comparison) and is the simplest reconstruction baseline. Score = mean squared reconstruction
error over the image; map = squared error per pixel, averaged over channels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from reprolib.config import ConfigError, MethodConfig
from reprolib.methods import register
from reprolib.methods.base import AnomalyMethod, Scores
from reprolib.methods.conv_ae.model import ConvAutoencoder
from reprolib.training import make_loader, run_epochs


@dataclass
class ConvAEConfig(MethodConfig):
    img_size: int = 64
    in_channels: int = 1
    widths: tuple[int, ...] = (32, 64, 128, 256)
    latent: int = 64
    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3

    def validate(self) -> None:
        if self.img_size % 2 ** len(self.widths):
            raise ConfigError(f"img_size {self.img_size} must be divisible by "
                             f"2**len(widths) = {2 ** len(self.widths)}")


@register("conv_ae")
class ConvAE(AnomalyMethod):
    """Reference convolutional autoencoder scored by reconstruction error."""

    Config = ConvAEConfig
    config: ConvAEConfig

    def __init__(self, config: ConvAEConfig | dict | None = None, *, seed: int = 0,
                 device: str | torch.device = "auto") -> None:
        super().__init__(config, seed=seed, device=device)
        c = self.config
        self.net = ConvAutoencoder(c.in_channels, c.widths, c.latent).to(self.device)

    def fit(self, train: Dataset, val: Dataset | None = None) -> ConvAE:
        c = self.config
        optimiser = torch.optim.Adam(self.net.parameters(), lr=c.lr)
        self.net.train()

        def step(batch: dict) -> dict[str, torch.Tensor]:
            x = batch["image"].to(self.device)
            loss = torch.mean((self.net(x) - x) ** 2)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            return {"mse": loss.detach()}

        loader = make_loader(train, c.batch_size, shuffle=True, seed=self.seed)
        run_epochs(step, loader, c.epochs, desc=self.name, history=self.history)
        return self

    @torch.no_grad()
    def score(self, data: Dataset) -> Scores:
        self.eval_mode()
        maps = []
        for batch in make_loader(data, self.config.batch_size, shuffle=False):
            x = batch["image"].to(self.device)
            maps.append(((self.net(x) - x) ** 2).mean(dim=1).cpu().numpy())
        pixel = np.concatenate(maps).astype(np.float32)
        return Scores(image=pixel.mean(axis=(1, 2)), maps=pixel)
