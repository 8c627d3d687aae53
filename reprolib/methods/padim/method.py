"""Fit / score glue of PaDiM (Defard et al., ICPR 2021; see model.py), a feature-level reference
floor (issue 15) on the backbone provider (:mod:`reprolib.blocks.backbones`).

Defaults: the packaged ImageNet EfficientNet-Lite0, stages 2-3 (``layer2`` 40 + ``layer3`` 112
channels on the stride-8 grid), d = 100 random channels (the paper's d for ResNet-18), eps =
0.01, 224 px. Scoring (§III-C and the paper's localisation): the Mahalanobis map is bilinearly
upsampled to the input size and Gaussian-smoothed (sigma = 4); image score = its maximum.
Deviations: the paper's backbones are ResNet-18 / Wide-ResNet-50 (stages 1-3); Lite0 is what
this machine has ImageNet weights for. The random subset is drawn from the method's seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from reprolib.blocks.distill import gaussian_smooth, upsample_maps
from reprolib.blocks.feature_floor import FeatureFloorConfig, feature_batches, frozen_taps
from reprolib.config import ConfigError
from reprolib.methods import register
from reprolib.methods.base import PretrainedMethod, Scores
from reprolib.methods.padim.model import GaussianAccumulator, mahalanobis_map, patch_embedding

#: Channels of each stage (layer1..layer4) per backbone.
STAGE_CHANNELS: dict[str, tuple[int, int, int, int]] = {
    "efficientnet_lite0": (24, 40, 112, 320),
    "resnet18": (64, 128, 256, 512),
    "wide_resnet50_2": (256, 512, 1024, 2048),
}


@dataclass
class PaDiMConfig(FeatureFloorConfig):
    n_features: int = 100
    eps: float = 0.01
    map_sigma: float = 4.0

    def validate(self) -> None:
        super().validate()
        total = sum(STAGE_CHANNELS[self.backbone][int(name[-1]) - 1] for name in self.layers)
        if not 1 <= self.n_features <= total:
            raise ConfigError(f"n_features: expected 1..{total} (channels of {list(self.layers)}"
                              f" of {self.backbone}), got {self.n_features}")
        if self.eps <= 0 or self.map_sigma < 0:
            raise ConfigError(f"eps > 0 and map_sigma >= 0 expected, got {self.eps}, "
                              f"{self.map_sigma}")


@register("padim")
class PaDiM(PretrainedMethod):
    """A Gaussian per feature-map location; Mahalanobis anomaly map."""

    Config = PaDiMConfig
    config: PaDiMConfig

    def __init__(self, config: PaDiMConfig | dict | None = None, *, seed: int = 0,
                 device: str | torch.device = "auto") -> None:
        super().__init__(config, seed=seed, device=device)
        c = self.config
        self.backbone, self.weights_used = frozen_taps(c, self.device)
        total = sum(STAGE_CHANNELS[c.backbone][int(name[-1]) - 1] for name in c.layers)
        gen = torch.Generator().manual_seed(seed)
        self.index = torch.randperm(total, generator=gen)[: c.n_features].sort().values
        self.mean = torch.zeros(0)
        self.inv_cov = torch.zeros(0)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) images -> (B, d, h, w) patch embeddings (§III-A, §III-B)."""
        return patch_embedding(self.backbone(x), self.config.layers, self.index)

    @torch.no_grad()
    def fit(self, train: Dataset, val: Dataset | None = None) -> PaDiM:
        self.eval_mode()
        acc = GaussianAccumulator()
        for emb in feature_batches(train, self.config.batch_size,
                                   lambda batch: self.embed(self.batch_images(batch))):
            acc.update(emb.cpu())
        mean, cov = acc.finish(self.config.eps)
        self.mean = mean.float()
        self.inv_cov = torch.linalg.inv(cov).float()
        self.fitted = True
        return self

    @torch.no_grad()
    def anomaly_map(self, x: torch.Tensor) -> torch.Tensor:
        """Mahalanobis map bilinearly upsampled to the input size (before smoothing)."""
        dist = mahalanobis_map(self.embed(x).cpu(), self.mean, self.inv_cov)
        return upsample_maps([dist], tuple(x.shape[-2:]))[0]

    @torch.no_grad()
    def score(self, data: Dataset) -> Scores:
        maps = self.score_batches(data, lambda x: {"map": self.anomaly_map(x)})["map"]
        smoothed = gaussian_smooth(maps.astype(np.float32), self.config.map_sigma)
        return Scores.from_maps(smoothed, "max")

    def extra_state(self) -> dict[str, Any]:
        return {**super().extra_state(), "index": self.index, "mean": self.mean,
                "inv_cov": self.inv_cov}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        super().load_extra_state(state)
        self.index, self.mean, self.inv_cov = state["index"], state["mean"], state["inv_cov"]
