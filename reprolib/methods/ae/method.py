"""Fit / score glue of the ``ae`` baseline (Hetero-AE Table I column "AE [42]").

Trained with the L2 reconstruction loss on normal images; image score = mean squared
reconstruction error; pixel map = squared error averaged over channels (the pixel-wise
comparison Hetero-AE §I criticises, Fig. 1a and Fig. 4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch.utils.data import Dataset

from reprolib.blocks.recon import check_halvings, check_positive, error_map
from reprolib.config import MethodConfig
from reprolib.denormals import flush_denormals
from reprolib.methods import register
from reprolib.methods.ae.model import ConvAE
from reprolib.methods.base import AnomalyMethod, Scores


@dataclass
class AEConfig(MethodConfig):
    img_size: int = 64
    in_channels: int = 1
    widths: tuple[int, ...] = (32, 64, 128, 256)
    bottleneck: Literal["dense", "spatial"] = "dense"
    latent: int = 100
    epochs: int = 20
    batch_size: int = 32
    lr: float = 2e-4
    weight_decay: float = 1e-5

    def validate(self) -> None:
        check_halvings(self.img_size, self.widths)
        check_positive(self, "in_channels", "latent", "epochs", "batch_size", "lr",
                       "weight_decay", allow_zero=("epochs", "weight_decay"))


@register("ae")
class AE(AnomalyMethod):
    """Convolutional autoencoder scored by pixel reconstruction error."""

    Config = AEConfig
    config: AEConfig

    def __init__(self, config: AEConfig | dict | None = None, *, seed: int = 0,
                 device: str | torch.device = "auto") -> None:
        super().__init__(config, seed=seed, device=device)
        c = self.config
        self.net = ConvAE(c.img_size, c.in_channels, c.widths, c.latent,
                          c.bottleneck).to(self.device)

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """Mean squared reconstruction error of a batch."""
        return torch.mean((self.net(x) - x) ** 2)

    def fit(self, train: Dataset, val: Dataset | None = None) -> AE:
        """Adam on the MSE; subnormal floats are flushed to zero (:mod:`reprolib.denormals`:
        runs of hundreds of epochs otherwise slow down ~6x once Adam's moments decay into
        them)."""
        c = self.config
        optimiser = torch.optim.Adam(self.net.parameters(), lr=c.lr, weight_decay=c.weight_decay)
        self.net.train()
        with flush_denormals():
            self.fit_batches(train, optimiser, lambda x: {"mse": self.loss(x)}, key="mse")
        return self

    @torch.no_grad()
    def score(self, data: Dataset) -> Scores:
        out = self.score_batches(data, lambda x: {"map": error_map(x, self.net(x))})
        return Scores.from_maps(out["map"])
