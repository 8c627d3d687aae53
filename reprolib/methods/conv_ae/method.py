"""Fit / score glue of the reference convolutional autoencoder.

Not from one of the five papers: it exercises the whole path (fit, score, cache, results,
comparison) and is the simplest reconstruction baseline. Score = mean squared reconstruction
error over the image; map = squared error per pixel, averaged over channels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.data import Dataset

from reprolib.blocks.recon import error_map
from reprolib.config import ConfigError, MethodConfig
from reprolib.methods import register
from reprolib.methods.base import AnomalyMethod, Scores
from reprolib.methods.conv_ae.model import ConvAutoencoder


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
        self.fit_batches(train, optimiser,
                         lambda x: {"mse": torch.mean((self.net(x) - x) ** 2)}, key="mse")
        return self

    @torch.no_grad()
    def score(self, data: Dataset) -> Scores:
        out = self.score_batches(data, lambda x: {"map": error_map(x, self.net(x))})
        return Scores.from_maps(out["map"])
