"""Fit / score glue of SPADE (Cohen & Hoshen, "Sub-Image Anomaly Detection with Deep Pyramid
Correspondences", arXiv:2005.02357, 2020), a baseline of MDFSC's Table 1.

- Image score (§3.2): mean Euclidean distance of the test image's pooled feature (the global
  average the ImageNet classifier sees) to its K nearest training images' (paper K = 50; capped
  by the number of training images, the K used is recorded as ``k_used``).
- Pixel map (§3.3): at each of ``layers`` (the paper: WRN-50 ``layer1``..``layer3``), the
  distance of every test feature to its nearest feature among all locations of those K
  images (kappa = 1), bilinearly upsampled to the input size; the maps of the layers are
  averaged and Gaussian-smoothed (sigma = 4), as the public re-implementation
  byungjae89/SPADE-pytorch does (no official code).

Deviation: the paper's Wide-ResNet-50 ImageNet weights are not obtainable here, so the default
backbone is the packaged ImageNet EfficientNet-Lite0 (``weights_used``
``imagenet:efficientnet_lite0``): stage ends ``layer1``..``layer3`` (24, 40, 112 channels at
strides 4, 8, 16) and the pooled 1280-d head. ``backbone: wide_resnet50_2`` runs the paper's
network where torchvision's weights are on the machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from reprolib.blocks.distill import gaussian_smooth, upsample_maps
from reprolib.blocks.feature_floor import (
    POOLED_TAP,
    FeatureFloorConfig,
    feature_batches,
    frozen_taps,
)
from reprolib.config import ConfigError
from reprolib.methods import register
from reprolib.methods.base import PretrainedMethod, Scores
from reprolib.methods.knn_features.method import nearest_neighbours
from reprolib.methods.spade.model import correspondence_map


@dataclass
class SPADEConfig(FeatureFloorConfig):
    """SPADE: K nearest images (paper 50), three pyramid levels, Gaussian sigma 4."""

    layers: tuple[str, ...] = ("layer1", "layer2", "layer3")
    k: int = 50
    map_sigma: float = 4.0
    #: Gallery rows per distance block (memory of one block: chunk x locations floats).
    chunk: int = 8192

    def validate(self) -> None:
        super().validate()
        if self.k < 1:
            raise ConfigError(f"k: expected >= 1, got {self.k}")
        if self.map_sigma < 0:
            raise ConfigError(f"map_sigma: expected >= 0, got {self.map_sigma}")
        if self.chunk < 1:
            raise ConfigError(f"chunk: expected >= 1, got {self.chunk}")


@register("spade")
class SPADE(PretrainedMethod):
    """K nearest training images on pooled ImageNet features; pixel correspondences."""

    Config = SPADEConfig
    config: SPADEConfig

    def __init__(self, config: SPADEConfig | dict | None = None, *, seed: int = 0,
                 device: str | torch.device = "auto") -> None:
        super().__init__(config, seed=seed, device=device)
        self.pooled_tap = POOLED_TAP[self.config.backbone]
        self.backbone, self.weights_used = frozen_taps(self.config, self.device,
                                                       (self.pooled_tap,))
        self.bank = torch.zeros(0)
        self.train_maps: dict[str, torch.Tensor] = {}
        self.k_used = 0

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(B, 3, H, W) images -> pooled (B, D) features and the ``layers`` maps, on the CPU."""
        feats = self.backbone(x)
        pooled = feats[self.pooled_tap].mean(dim=(2, 3))
        return pooled.cpu(), {name: feats[name].cpu() for name in self.config.layers}

    def _features_all(self, data: Dataset) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        self.eval_mode()
        parts = list(feature_batches(data, self.config.batch_size,
                                     lambda batch: self.features(self.batch_images(batch))))
        if not parts:
            raise ValueError("spade: expected at least one image, got an empty dataset")
        pooled = torch.cat([p for p, _ in parts])
        maps = {name: torch.cat([m[name] for _, m in parts]) for name in self.config.layers}
        return pooled, maps

    def fit(self, train: Dataset, val: Dataset | None = None) -> SPADE:
        """Store the training images' pooled features and layer maps (no training)."""
        self.bank, self.train_maps = self._features_all(train)
        self.k_used = min(self.config.k, len(self.bank))
        self.fitted = True
        return self

    @torch.no_grad()
    def score(self, data: Dataset) -> Scores:
        if not self.fitted:
            raise RuntimeError("spade: call fit() (or load()) before score()")
        pooled, maps = self._features_all(data)
        distances, indices = nearest_neighbours(self.bank.double().numpy(),
                                                pooled.double().numpy(), self.k_used)
        size = (self.config.img_size, self.config.img_size)
        out = np.zeros((len(pooled), *size), dtype=np.float32)
        for i in range(len(pooled)):
            near = torch.from_numpy(indices[i])
            layer_maps = [correspondence_map(maps[name][i], self.train_maps[name][near],
                                             chunk=self.config.chunk)[None]
                          for name in self.config.layers]
            up = upsample_maps(layer_maps, size)
            out[i] = torch.stack(up).mean(dim=0)[0].numpy()
        smoothed = gaussian_smooth(out, self.config.map_sigma)
        return Scores(image=distances.mean(axis=1), maps=smoothed)

    def extra_state(self) -> dict[str, Any]:
        return {**super().extra_state(), "bank": self.bank, "train_maps": self.train_maps,
                "k_used": self.k_used}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        super().load_extra_state(state)
        self.bank, self.train_maps = state["bank"], dict(state["train_maps"])
        self.k_used = int(state["k_used"])
