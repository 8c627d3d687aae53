"""Fit / score glue of RD4AD (Deng & Li, CVPR 2022; see model.py).

Training (the paper's implementation details): Adam, lr 5e-3, betas (0.5, 0.999), batch 16, 200
epochs, 256 px; the encoder stays frozen and in eval mode, OCBE and decoder learn. Map = sum
over stages of the upsampled per-pixel 1 - cosine, Gaussian-smoothed (sigma 4); image score =
its maximum. The last epoch is kept. ``backbone="resnet18"`` is a smaller option for CPU
profiles (not the paper's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from reprolib.blocks.backbones import load_backbone
from reprolib.blocks.distill import check_batch, check_pretrained_input, gaussian_smooth
from reprolib.blocks.feature_taps import FeatureTaps, freeze
from reprolib.config import ConfigError, MethodConfig
from reprolib.methods import register
from reprolib.methods.base import AnomalyMethod, Scores
from reprolib.methods.rd4ad.model import (
    OneClassBottleneck,
    ReverseDecoder,
    rd4ad_anomaly_map,
    rd4ad_loss,
)
from reprolib.training import make_loader, run_epochs

ENCODER_TAPS = ("layer1", "layer2", "layer3")


@dataclass
class RD4ADConfig(MethodConfig):
    img_size: int = 256
    in_channels: int = 3
    backbone: Literal["wide_resnet50_2", "resnet50", "resnet18"] = "wide_resnet50_2"
    weights: Literal["imagenet", "random"] = "imagenet"
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
        if self.epochs < 0 or self.batch_size < 1 or self.lr <= 0:
            raise ConfigError(f"epochs >= 0, batch_size >= 1 and lr > 0 expected, got "
                              f"{self.epochs}, {self.batch_size}, {self.lr}")


@register("rd4ad")
class RD4AD(AnomalyMethod):
    """Reverse distillation: frozen encoder -> one-class bottleneck -> mirrored decoder."""

    Config = RD4ADConfig
    config: RD4ADConfig
    normalize = "imagenet"

    def __init__(self, config: RD4ADConfig | dict | None = None, *, seed: int = 0,
                 device: str | torch.device = "auto") -> None:
        super().__init__(config, seed=seed, device=device)
        c = self.config
        encoder, self.weights_used = load_backbone(c.backbone, c.weights)
        self.encoder = freeze(FeatureTaps(encoder, ENCODER_TAPS)).to(self.device)
        self.bottleneck = OneClassBottleneck(c.backbone).to(self.device)
        self.decoder = ReverseDecoder(c.backbone).to(self.device)

    def extra_state(self) -> dict[str, Any]:
        return {"weights_used": self.weights_used}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.weights_used = str(state.get("weights_used", self.weights_used))

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

        def step(batch: dict) -> dict[str, torch.Tensor]:
            x = check_batch(batch["image"], 3, c.img_size).to(self.device)
            loss = rd4ad_loss(*self._features(x), form=c.loss_form)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            return {"loss": loss.detach()}

        loader = make_loader(train, c.batch_size, shuffle=True, seed=self.seed)
        run_epochs(step, loader, c.epochs, desc=self.name, history=self.history)
        self.fitted = True
        return self

    @torch.no_grad()
    def score(self, data: Dataset) -> Scores:
        self.eval_mode()
        c = self.config
        maps = []
        for batch in make_loader(data, c.batch_size, shuffle=False):
            x = check_batch(batch["image"], 3, c.img_size).to(self.device)
            maps.append(rd4ad_anomaly_map(*self._features(x), tuple(x.shape[-2:])).cpu().numpy())
        pixel = gaussian_smooth(np.concatenate(maps).astype(np.float32), c.map_sigma)
        return Scores(image=pixel.reshape(len(pixel), -1).max(axis=1), maps=pixel)
