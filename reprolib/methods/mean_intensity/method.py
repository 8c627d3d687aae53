"""Floor ``mean_intensity`` (issue 8): score = |mean intensity of the image - mean over the
training normals of their mean intensities|.

A trivial, label-free reference: it shows how much of a table's AUROC brightness alone
explains. The sign question: a raw mean would need a direction (are anomalies brighter or
darker?) that only the test labels could tell, which a floor must not look at; the two-sided
distance from the normals' mean flags a departure either way. No pixel map.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.data import Dataset

from reprolib.blocks.pixels import stack_images
from reprolib.config import ConfigError, MethodConfig
from reprolib.methods import register
from reprolib.methods.base import AnomalyMethod, Scores
from reprolib.methods.mean_intensity.model import image_means, mean_distance


@dataclass
class MeanIntensityConfig(MethodConfig):
    img_size: int = 64
    in_channels: int | None = 1

    def validate(self) -> None:
        if self.img_size < 1:
            raise ConfigError(f"config key 'img_size': expected >= 1, got {self.img_size}")


@register("mean_intensity")
class MeanIntensity(AnomalyMethod):
    """|image mean - mean of the training normals' image means|."""

    Config = MeanIntensityConfig
    config: MeanIntensityConfig

    def __init__(self, config: MeanIntensityConfig | dict | None = None, *, seed: int = 0,
                 device: str | torch.device = "auto") -> None:
        super().__init__(config, seed=seed, device=device)
        self.reference = float("nan")

    def extra_state(self) -> dict[str, float]:
        return {"reference": self.reference}

    def load_extra_state(self, state: dict) -> None:
        self.reference = float(state["reference"])

    def fit(self, train: Dataset, val: Dataset | None = None) -> MeanIntensity:
        self.reference = float(image_means(stack_images(train)).mean())
        return self

    @torch.no_grad()
    def score(self, data: Dataset) -> Scores:
        images = stack_images(data)
        return Scores(image=mean_distance(images, self.reference).numpy(),
                      extra={"mean": image_means(images).numpy()})
