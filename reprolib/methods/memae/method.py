"""Fit / score glue of MemAE (Gong et al., ICCV 2019; ProxyAno Table I "MemAE [50]").

Training (Eq. 11, official ``script_training.py`` / ``options``): mean squared reconstruction
error + 0.0002 x the entropy of the memory weights; Adam. ``lr`` 1e-4 is the official video
default; the memory holds ``n_items`` items (paper: 100 for MNIST, 500 for CIFAR-10; official
video code 2000) of ``latent`` channels; hard-shrinkage threshold λ = 1/N unless
``shrink_thres`` is given (official code 0.0025); addressing by cosine similarity (the paper's
Eq. 5; ``similarity: dot`` is the official code's dot product).

Score: the reconstruction error ||x - x_hat||^2, as the mean squared error per image (the paper
scores by reconstruction error, §3.5); map: the squared error per pixel (channel mean).
Images in [0, 1] with a sigmoid output (the official code works in [-1, 1] without output
activation: the same squared error up to a factor 4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch.utils.data import Dataset

from reprolib.blocks.recon import check_halvings, check_positive, error_map
from reprolib.config import ConfigError, MethodConfig
from reprolib.methods import register
from reprolib.methods.base import AnomalyMethod, Scores
from reprolib.methods.memae.model import MemAENet, memae_loss


@dataclass
class MemAEConfig(MethodConfig):
    img_size: int = 64
    in_channels: int = 1
    widths: tuple[int, ...] = (32, 64, 128, 256)
    latent: int = 256
    n_items: int = 100
    shrink_thres: float | None = None
    similarity: Literal["cosine", "dot"] = "cosine"
    entropy_weight: float = 0.0002
    epochs: int = 20
    batch_size: int = 16
    lr: float = 1e-4

    def validate(self) -> None:
        check_halvings(self.img_size, self.widths)
        check_positive(self, "in_channels", "latent", "n_items", "epochs", "batch_size", "lr",
                       "entropy_weight", allow_zero=("epochs", "entropy_weight"))
        if self.shrink_thres is not None and not 0 <= self.shrink_thres < 1:
            raise ConfigError(f"config key 'shrink_thres': expected in [0, 1) or null (1/N), "
                              f"got {self.shrink_thres}")
        if self.shrink_thres is None and self.n_items == 1:
            raise ConfigError("config key 'shrink_thres': null means 1/N = 1 with n_items 1, "
                              "which drops every weight; give 0 (no shrinkage)")


@register("memae")
class MemAE(AnomalyMethod):
    """Memory-augmented convolutional autoencoder scored by reconstruction error."""

    Config = MemAEConfig
    config: MemAEConfig
    convergence_key = "rec"

    def __init__(self, config: MemAEConfig | dict | None = None, *, seed: int = 0,
                 device: str | torch.device = "auto") -> None:
        super().__init__(config, seed=seed, device=device)
        c = self.config
        self.net = MemAENet(c.in_channels, c.widths, c.latent, c.n_items, c.shrink_thres,
                            c.similarity).to(self.device)

    def fit(self, train: Dataset, val: Dataset | None = None) -> MemAE:
        c = self.config
        optimiser = torch.optim.Adam(self.net.parameters(), lr=c.lr)
        self.net.train()

        def loss_fn(x: torch.Tensor) -> dict[str, torch.Tensor]:
            x_hat, att = self.net(x)
            return memae_loss(x, x_hat, att, c.entropy_weight)

        self.fit_batches(train, optimiser, loss_fn)
        return self

    @torch.no_grad()
    def score(self, data: Dataset) -> Scores:
        out = self.score_batches(data, lambda x: {"map": error_map(x, self.net(x)[0])})
        return Scores.from_maps(out["map"])
