"""Floor ``knn_pixels`` (issue 8): score = Euclidean distance from the image to its nearest
training normal, both standardised per image (minus the image mean, over its standard
deviation, so brightness and contrast drop out); map = squared residual to that neighbour
(channel mean). Label-free: the training normals are its whole model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from reprolib.blocks.pixels import stack_images, standardise
from reprolib.config import ConfigError, MethodConfig
from reprolib.methods import register
from reprolib.methods.base import AnomalyMethod, Scores
from reprolib.methods.knn_pixels.model import nearest


@dataclass
class KnnPixelsConfig(MethodConfig):
    img_size: int = 64
    in_channels: int | None = 1

    def validate(self) -> None:
        if self.img_size < 1:
            raise ConfigError(f"config key 'img_size': expected >= 1, got {self.img_size}")


@register("knn_pixels")
class KnnPixels(AnomalyMethod):
    """Distance to the nearest training normal on per-image standardised pixels."""

    Config = KnnPixelsConfig
    config: KnnPixelsConfig

    def __init__(self, config: KnnPixelsConfig | dict | None = None, *, seed: int = 0,
                 device: str | torch.device = "auto") -> None:
        super().__init__(config, seed=seed, device=device)
        self.bank = torch.zeros(0)

    def extra_state(self) -> dict[str, torch.Tensor]:
        return {"bank": self.bank}

    def load_extra_state(self, state: dict) -> None:
        self.bank = state["bank"].cpu()

    def fit(self, train: Dataset, val: Dataset | None = None) -> KnnPixels:
        self.bank = standardise(stack_images(train))
        return self

    @torch.no_grad()
    def score(self, data: Dataset) -> Scores:
        images = stack_images(data)
        index, residual = nearest(standardise(images), self.bank)
        n, c, h, w = images.shape
        maps = residual.reshape(n, c, h, w).mean(dim=1).float().numpy()
        return Scores(image=residual.sum(dim=1).sqrt().numpy(), maps=maps,
                      extra={"neighbour": index.numpy().astype(np.float64)})
