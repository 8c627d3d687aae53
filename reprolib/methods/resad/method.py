"""Fit / score glue of ReSAD (Niu et al., arXiv 2303.03817), ReSynthDetect's Table 2 baseline:
a **re-implementation** from the paper's outline (see model.py for our reading of each part).

Features: the packaged ImageNet EfficientNet-Lite0 (``reprolib.blocks.backbones``; the paper's
backbone is not known to us), stages ``layer2`` + ``layer3`` (40 + 112 channels, stride 8),
frozen; ``weights_used`` records the weights. Fit: ReSC features of every training pixel, a
greedy coreset of ``coreset_ratio`` of them as the memory bank. Score: distance of each pixel's
ReSC feature to the nearest bank entry, bilinearly up-sampled to the input size and
Gaussian-smoothed (sigma 4, as PatchCore); image score = the map's maximum.
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
from reprolib.methods.resad.model import greedy_coreset, nearest_distance, pixel_features, resc


@dataclass
class ReSADConfig(FeatureFloorConfig):
    region_kernel: int = 3
    spatial_grid: int = 4
    embed_dim: int = 128
    coreset_ratio: float = 0.1
    map_sigma: float = 4.0

    def validate(self) -> None:
        super().validate()
        if self.region_kernel < 1 or self.region_kernel % 2 == 0:
            raise ConfigError(f"region_kernel: expected an odd size >= 1, got "
                              f"{self.region_kernel}")
        if self.spatial_grid < 1 or self.embed_dim < 1:
            raise ConfigError(f"spatial_grid and embed_dim: expected >= 1, got "
                              f"{self.spatial_grid}, {self.embed_dim}")
        if not 0 < self.coreset_ratio <= 1 or self.map_sigma < 0:
            raise ConfigError(f"coreset_ratio in (0, 1] and map_sigma >= 0 expected, got "
                              f"{self.coreset_ratio}, {self.map_sigma}")


@register("resad")
class ReSAD(PretrainedMethod):
    """Region- and spatial-aware pretrained features in a coreset memory bank."""

    Config = ReSADConfig
    config: ReSADConfig

    def __init__(self, config: ReSADConfig | dict | None = None, *, seed: int = 0,
                 device: str | torch.device = "auto") -> None:
        super().__init__(config, seed=seed, device=device)
        self.backbone, self.weights_used = frozen_taps(self.config, self.device)
        self.bank = torch.zeros(0)

    @torch.no_grad()
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) ImageNet-normalised images -> (B, embed_dim, h, w) ReSC features."""
        c = self.config
        feats = pixel_features(self.backbone(x), c.layers)
        return resc(feats, c.region_kernel, c.spatial_grid, c.embed_dim)

    @torch.no_grad()
    def fit(self, train: Dataset, val: Dataset | None = None) -> ReSAD:
        self.eval_mode()
        parts = [emb.permute(0, 2, 3, 1).reshape(-1, emb.shape[1]).cpu()
                 for emb in feature_batches(train, self.config.batch_size,
                                            lambda b: self.embed(self.batch_images(b)))]
        features = torch.cat(parts)
        n = max(1, int(round(self.config.coreset_ratio * len(features))))
        index = greedy_coreset(features, n, torch.Generator().manual_seed(self.seed))
        self.bank = features[index].contiguous()
        self.fitted = True
        return self

    @torch.no_grad()
    def anomaly_map(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H, W) nearest-bank distance, bilinearly up-sampled (before smoothing)."""
        emb = self.embed(x).cpu()
        b, d, h, w = emb.shape
        dist = nearest_distance(self.bank, emb.permute(0, 2, 3, 1).reshape(-1, d))
        return upsample_maps([dist.reshape(b, h, w)], tuple(x.shape[-2:]))[0]

    @torch.no_grad()
    def score(self, data: Dataset) -> Scores:
        maps = self.score_batches(data, lambda x: {"map": self.anomaly_map(x)})["map"]
        smoothed = gaussian_smooth(maps.astype(np.float32), self.config.map_sigma)
        return Scores.from_maps(smoothed, "max")

    def extra_state(self) -> dict[str, Any]:
        return {**super().extra_state(), "bank": self.bank}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        super().load_extra_state(state)
        self.bank = state["bank"]
