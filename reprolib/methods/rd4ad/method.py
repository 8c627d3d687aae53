"""Fit / score glue of RD4AD (Deng & Li, CVPR 2022; see model.py).

Training (the paper's implementation details): Adam, lr 5e-3, betas (0.5, 0.999), batch 16, 200
epochs, 256 px; the encoder stays frozen and in eval mode, OCBE and decoder learn. Map = sum
over stages of the upsampled per-pixel 1 - cosine, Gaussian-smoothed (sigma 4); image score =
its maximum. The last epoch is kept. ``backbone="resnet18"`` is a smaller option for CPU
profiles (not the paper's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from reprolib.blocks.backbones import load_backbone
from reprolib.blocks.distill import check_pretrained_input, check_schedule, gaussian_smooth
from reprolib.blocks.feature_taps import FeatureTaps, freeze
from reprolib.config import ConfigError, MethodConfig
from reprolib.methods import register
from reprolib.methods.base import PretrainedMethod, Scores
from reprolib.methods.rd4ad.model import (
    OneClassBottleneck,
    ReverseDecoder,
    rd4ad_anomaly_map,
    rd4ad_loss,
)

ENCODER_TAPS = ("layer1", "layer2", "layer3")


@dataclass
class RD4ADConfig(MethodConfig):
    img_size: int = 256
    in_channels: int = 3
    #: ``efficientnet_lite0``: the packaged ImageNet weights (a recorded variant, issue 9).
    backbone: Literal["wide_resnet50_2", "resnet50", "resnet18",
                      "efficientnet_lite0"] = "wide_resnet50_2"
    weights: Literal["imagenet", "random"] = "imagenet"
    #: Stop at construction when the ImageNet weights are absent (``paper`` profiles).
    require_imagenet: bool = False
    epochs: int = 200
    batch_size: int = 16
    lr: float = 5e-3
    betas: tuple[float, float] = (0.5, 0.999)
    map_sigma: float = 4.0
    loss_form: Literal["flattened", "per_pixel"] = "flattened"

    def validate(self) -> None:
        check_pretrained_input(self.img_size, self.in_channels, 32)
        if self.map_sigma < 0:
            raise ConfigError(f"map_sigma: expected >= 0, got {self.map_sigma}")
        check_schedule(self.epochs, self.batch_size, self.lr)


@register("rd4ad")
class RD4AD(PretrainedMethod):
    """Reverse distillation: frozen encoder -> one-class bottleneck -> mirrored decoder."""

    Config = RD4ADConfig
    config: RD4ADConfig

    def __init__(self, config: RD4ADConfig | dict | None = None, *, seed: int = 0,
                 device: str | torch.device = "auto") -> None:
        super().__init__(config, seed=seed, device=device)
        c = self.config
        encoder, self.weights_used = load_backbone(c.backbone, c.weights,
                                                     required=c.require_imagenet)
        self.encoder = freeze(FeatureTaps(encoder, ENCODER_TAPS)).to(self.device)
        self.bottleneck = OneClassBottleneck(c.backbone).to(self.device)
        self.decoder = ReverseDecoder(c.backbone).to(self.device)

    def _features(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        with torch.no_grad():
            encoded = list(self.encoder(x).values())
        return encoded, self.decoder(self.bottleneck(encoded))

    def fit(self, train: Dataset, val: Dataset | None = None) -> RD4AD:
        c = self.config
        params = list(self.bottleneck.parameters()) + list(self.decoder.parameters())
        optimiser = torch.optim.Adam(params, lr=c.lr, betas=c.betas)
        self.encoder.eval()
        self.bottleneck.train()
        self.decoder.train()
        self.fit_batches(train, optimiser, lambda x: {
            "loss": rd4ad_loss(*self._features(x), form=c.loss_form)})
        self.fitted = True
        return self

    @torch.no_grad()
    def score(self, data: Dataset) -> Scores:
        out = self.score_batches(data, lambda x: {
            "map": rd4ad_anomaly_map(*self._features(x), tuple(x.shape[-2:]))})
        pixel = gaussian_smooth(out["map"].astype(np.float32), self.config.map_sigma)
        return Scores.from_maps(pixel, "max")
