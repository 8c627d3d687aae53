"""Shared pieces of the feature-level reference floors (``knn_features``, ``padim``): a frozen
ImageNet backbone from :mod:`reprolib.blocks.backbones` cut at the requested stages, and the
config fields both share.

Stage names ``layer1``..``layer4`` are the stride-4/8/16/32 stage ends of a ResNet or of the
packaged EfficientNet-Lite0 (24, 40, 112, 320 channels; its ``tap_aliases``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch.utils.data import Dataset

from reprolib.blocks.backbones import load_backbone
from reprolib.blocks.distill import check_pretrained_input
from reprolib.blocks.feature_taps import FeatureTaps, freeze
from reprolib.config import ConfigError, MethodConfig
from reprolib.training import make_loader

STAGES: tuple[str, ...] = ("layer1", "layer2", "layer3", "layer4")

#: Per backbone, the tap whose global average is the network's pooled image feature (the input of
#: its ImageNet classifier): Lite0's 1x1 head (``features.8``, 1280 channels), a ResNet's
#: ``layer4`` (its ``avgpool`` input: 512 / 2048 channels).
POOLED_TAP: dict[str, str] = {"efficientnet_lite0": "features.8", "resnet18": "layer4",
                              "wide_resnet50_2": "layer4"}


@dataclass
class FeatureFloorConfig(MethodConfig):
    """Fields shared by the feature floors. 224 px is the backbones' ImageNet size."""

    img_size: int = 224
    in_channels: int = 3
    backbone: Literal["efficientnet_lite0", "resnet18", "wide_resnet50_2"] = "efficientnet_lite0"
    weights: Literal["imagenet", "random"] = "imagenet"
    #: Stop at construction when the ImageNet weights are absent (``paper`` profiles).
    require_imagenet: bool = False
    layers: tuple[str, ...] = ("layer2", "layer3")
    batch_size: int = 32

    def validate(self) -> None:
        check_pretrained_input(self.img_size, self.in_channels, 32)
        bad = [name for name in self.layers if name not in STAGES]
        if not self.layers or bad or len(set(self.layers)) != len(self.layers):
            raise ConfigError(f"layers: expected distinct names from {list(STAGES)}, "
                              f"got {list(self.layers)}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size: expected >= 1, got {self.batch_size}")


def frozen_taps(config: FeatureFloorConfig, device: torch.device,
                extra_taps: tuple[str, ...] = ()) -> tuple[FeatureTaps, str]:
    """The frozen backbone cut after the deepest of ``config.layers`` and ``extra_taps`` (e.g.
    :data:`POOLED_TAP`), and its weights string."""
    net, weights = load_backbone(config.backbone, config.weights,
                                 required=config.require_imagenet)
    taps = list(dict.fromkeys([*config.layers, *extra_taps]))
    return freeze(FeatureTaps(net, taps)).to(device), weights


@torch.no_grad()
def feature_batches(data: Dataset, batch_size: int,
                    fn: Callable[[dict[str, Any]], torch.Tensor]) -> Iterator[torch.Tensor]:
    """``fn(batch)`` for every batch of ``data`` in order (no shuffling)."""
    for batch in make_loader(data, batch_size, shuffle=False):
        yield fn(batch)
