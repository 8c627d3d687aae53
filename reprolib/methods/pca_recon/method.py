"""Floor ``pca_recon`` (issue 8): a PCA (scikit-learn, full SVD) fitted on the training
normals' per-image standardised pixels; map = squared residual of the image's reconstruction
from ``n_components`` components (channel mean), score = mean of the map. ``n_components``
(20 by default) is capped by the number of training images and of pixels. Label-free.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from sklearn.decomposition import PCA
from torch.utils.data import Dataset

from reprolib.blocks.pixels import stack_images, standardise
from reprolib.config import ConfigError, MethodConfig
from reprolib.methods import register
from reprolib.methods.base import AnomalyMethod, Scores
from reprolib.methods.pca_recon.model import pca_residual


@dataclass
class PcaReconConfig(MethodConfig):
    img_size: int = 64
    in_channels: int | None = 1
    n_components: int = 20

    def validate(self) -> None:
        if self.img_size < 1 or self.n_components < 1:
            raise ConfigError(f"config keys 'img_size' and 'n_components': expected >= 1, got "
                              f"{self.img_size} and {self.n_components}")


@register("pca_recon")
class PcaRecon(AnomalyMethod):
    """Squared residual of a PCA reconstruction of standardised pixels."""

    Config = PcaReconConfig
    config: PcaReconConfig

    def __init__(self, config: PcaReconConfig | dict | None = None, *, seed: int = 0,
                 device: str | torch.device = "auto") -> None:
        super().__init__(config, seed=seed, device=device)
        self.mean = torch.zeros(0, dtype=torch.float64)
        self.components = torch.zeros(0, 0, dtype=torch.float64)

    def extra_state(self) -> dict[str, torch.Tensor]:
        return {"mean": self.mean, "components": self.components}

    def load_extra_state(self, state: dict) -> None:
        self.mean, self.components = state["mean"].cpu(), state["components"].cpu()

    def fit(self, train: Dataset, val: Dataset | None = None) -> PcaRecon:
        x = standardise(stack_images(train))
        k = min(self.config.n_components, x.shape[0], x.shape[1])
        pca = PCA(n_components=k, svd_solver="full").fit(x.numpy())
        self.mean = torch.from_numpy(pca.mean_).double()
        self.components = torch.from_numpy(pca.components_).double()
        return self

    @torch.no_grad()
    def score(self, data: Dataset) -> Scores:
        images = stack_images(data)
        residual = pca_residual(standardise(images), self.mean, self.components)
        n, c, h, w = images.shape
        maps = (residual ** 2).reshape(n, c, h, w).mean(dim=1).float().numpy()
        return Scores.from_maps(maps, reduce="mean")
