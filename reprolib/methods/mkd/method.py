"""Fit / score glue of MKD (Salehi et al., CVPR 2021; see model.py).

Training (the public code's settings): Adam, lr 1e-3, lambda 0.01, batch 64; only the cloner
learns. Image score = the sample's total loss. Localisation (the paper's "anomaly localization"
section): the map is the vanilla gradient of the sample's loss with respect to the input,
|dL/dx| summed over colour channels and Gaussian-smoothed (sigma 4) -- ``map_mode="gradient"``,
the default. Option ``map_mode="difference"``: sum over the four taps of the upsampled per-pixel
(1 - cosine) between source and cloner, smoothed the same way (a cheaper, gradient-free map).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from reprolib.blocks.backbones import load_backbone
from reprolib.blocks.distill import (
    check_batch,
    check_pretrained_input,
    gaussian_smooth,
    pixel_cosine_distance,
    upsample_maps,
)
from reprolib.blocks.feature_taps import FeatureTaps, freeze
from reprolib.config import ConfigError, MethodConfig
from reprolib.methods import register
from reprolib.methods.base import AnomalyMethod, Scores
from reprolib.methods.mkd.model import MKD_TAPS, make_cloner, mkd_sample_losses
from reprolib.training import make_loader, run_epochs


@dataclass
class MKDConfig(MethodConfig):
    img_size: int = 256
    in_channels: int = 3
    weights: Literal["imagenet", "random"] = "imagenet"
    cloner_thin: int = 16
    cloner_bias: bool = False
    lamda: float = 0.01
    epochs: int = 600
    batch_size: int = 64
    lr: float = 1e-3
    map_mode: Literal["gradient", "difference"] = "gradient"
    map_sigma: float = 4.0

    def validate(self) -> None:
        check_pretrained_input(self.img_size, self.in_channels, 32)
        if self.cloner_thin < 1:
            raise ConfigError(f"cloner_thin: expected a positive channel count, got "
                              f"{self.cloner_thin}")
        if self.lamda < 0 or self.map_sigma < 0:
            raise ConfigError(f"lamda and map_sigma: expected >= 0, got {self.lamda}, "
                              f"{self.map_sigma}")
        if self.epochs < 0 or self.batch_size < 1 or self.lr <= 0:
            raise ConfigError(f"epochs >= 0, batch_size >= 1 and lr > 0 expected, got "
                              f"{self.epochs}, {self.batch_size}, {self.lr}")


@register("mkd")
class MKD(AnomalyMethod):
    """Multiresolution knowledge distillation: frozen VGG16 source, thinner VGG-like cloner."""

    Config = MKDConfig
    config: MKDConfig
    normalize = "imagenet"

    def __init__(self, config: MKDConfig | dict | None = None, *, seed: int = 0,
                 device: str | torch.device = "auto") -> None:
        super().__init__(config, seed=seed, device=device)
        c = self.config
        vgg, self.weights_used = load_backbone("vgg16", c.weights)
        self.source = freeze(FeatureTaps(vgg, MKD_TAPS)).to(self.device)
        self.cloner = FeatureTaps(make_cloner(c.cloner_thin, bias=c.cloner_bias),
                                  MKD_TAPS).to(self.device)

    def extra_state(self) -> dict[str, Any]:
        return {"weights_used": self.weights_used}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.weights_used = str(state.get("weights_used", self.weights_used))

    def fit(self, train: Dataset, val: Dataset | None = None) -> MKD:
        c = self.config
        optimiser = torch.optim.Adam(self.cloner.parameters(), lr=c.lr)
        self.source.eval()
        self.cloner.train()

        def step(batch: dict) -> dict[str, torch.Tensor]:
            x = check_batch(batch["image"], 3, c.img_size).to(self.device)
            with torch.no_grad():
                target = self.source(x)
            terms = mkd_sample_losses(target, self.cloner(x), MKD_TAPS, c.lamda)
            loss = terms["total"].mean()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            return {"loss": loss.detach(), "direction": terms["direction"].mean().detach(),
                    "value": terms["value"].mean().detach()}

        loader = make_loader(train, c.batch_size, shuffle=True, seed=self.seed)
        run_epochs(step, loader, c.epochs, desc=self.name, history=self.history)
        self.fitted = True
        return self

    def _score_batch(self, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Loss terms of every sample and its raw (unsmoothed) map."""
        c = self.config
        if c.map_mode == "gradient":
            with torch.enable_grad():
                x = x.clone().requires_grad_(True)
                terms = mkd_sample_losses(self.source(x), self.cloner(x), MKD_TAPS, c.lamda)
                # each sample's loss depends only on its own input: one backward gives them all
                (grad,) = torch.autograd.grad(terms["total"].sum(), x)
            return {k: v.detach() for k, v in terms.items()}, grad.abs().sum(dim=1)
        source, cloner = self.source(x), self.cloner(x)
        terms = mkd_sample_losses(source, cloner, MKD_TAPS, c.lamda)
        per_tap = [pixel_cosine_distance(source[t], cloner[t]) for t in MKD_TAPS]
        return terms, torch.stack(upsample_maps(per_tap, tuple(x.shape[-2:]))).sum(0)

    @torch.no_grad()
    def score(self, data: Dataset) -> Scores:
        self.eval_mode()
        c = self.config
        totals, directions, values, maps = [], [], [], []
        for batch in make_loader(data, c.batch_size, shuffle=False):
            x = check_batch(batch["image"], 3, c.img_size).to(self.device)
            terms, amap = self._score_batch(x)
            totals.append(terms["total"].cpu().numpy())
            directions.append(terms["direction"].cpu().numpy())
            values.append(terms["value"].cpu().numpy())
            maps.append(amap.cpu().numpy())
        pixel = gaussian_smooth(np.concatenate(maps).astype(np.float32), c.map_sigma)
        return Scores(image=np.concatenate(totals), maps=pixel,
                      extra={"direction": np.concatenate(directions),
                             "value": np.concatenate(values)})
