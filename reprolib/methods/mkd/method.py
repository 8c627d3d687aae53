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
from typing import Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from reprolib.blocks.backbones import load_backbone
from reprolib.blocks.distill import (
    check_pretrained_input,
    check_schedule,
    gaussian_smooth,
    pixel_cosine_distance,
    upsample_maps,
)
from reprolib.blocks.feature_taps import FeatureTaps, freeze
from reprolib.config import ConfigError, MethodConfig
from reprolib.methods import register
from reprolib.methods.base import PretrainedMethod, Scores
from reprolib.methods.mkd.model import MKD_TAPS, SOURCE_WIDTHS, make_cloner, mkd_sample_losses


@dataclass
class MKDConfig(MethodConfig):
    img_size: int = 256
    in_channels: int = 3
    #: ``efficientnet_lite0``: the packaged ImageNet weights (a recorded variant, issue 9).
    source: Literal["vgg16", "efficientnet_lite0"] = "vgg16"
    weights: Literal["imagenet", "random"] = "imagenet"
    #: Stop at construction when the ImageNet weights are absent (``paper`` profiles).
    require_imagenet: bool = False
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
        check_schedule(self.epochs, self.batch_size, self.lr)


@register("mkd")
class MKD(PretrainedMethod):
    """Multiresolution knowledge distillation: frozen VGG16 source, thinner VGG-like cloner."""

    Config = MKDConfig
    config: MKDConfig

    def __init__(self, config: MKDConfig | dict | None = None, *, seed: int = 0,
                 device: str | torch.device = "auto") -> None:
        super().__init__(config, seed=seed, device=device)
        c = self.config
        source, self.weights_used = load_backbone(c.source, c.weights,
                                                  required=c.require_imagenet)
        self.source = freeze(FeatureTaps(source, MKD_TAPS)).to(self.device)
        cloner = make_cloner(c.cloner_thin, bias=c.cloner_bias, widths=SOURCE_WIDTHS[c.source])
        self.cloner = FeatureTaps(cloner, MKD_TAPS).to(self.device)

    def fit(self, train: Dataset, val: Dataset | None = None) -> MKD:
        c = self.config
        optimiser = torch.optim.Adam(self.cloner.parameters(), lr=c.lr)
        self.source.eval()
        self.cloner.train()

        def loss(x: torch.Tensor) -> dict[str, torch.Tensor]:
            with torch.no_grad():
                target = self.source(x)
            terms = mkd_sample_losses(target, self.cloner(x), MKD_TAPS, c.lamda)
            return {"loss": terms["total"].mean(), "direction": terms["direction"].mean(),
                    "value": terms["value"].mean()}

        self.fit_batches(train, optimiser, loss)
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
        def batch_scores(x: torch.Tensor) -> dict[str, torch.Tensor]:
            terms, amap = self._score_batch(x)
            return {**terms, "map": amap}

        out = self.score_batches(data, batch_scores)
        pixel = gaussian_smooth(out["map"].astype(np.float32), self.config.map_sigma)
        return Scores(image=out["total"], maps=pixel,
                      extra={"direction": out["direction"], "value": out["value"]})
