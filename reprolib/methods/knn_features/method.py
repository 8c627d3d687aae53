"""``knn_features``: distance to the k nearest training normals in a space of globally pooled
ImageNet features, a feature-level reference floor (issue 15; the DN2 baseline of Bergman,
Cohen, Hoshen, "Deep Nearest Neighbor Anomaly Detection", arXiv:2002.10445, 2020).

Embedding of an image: the global average of each requested stage's feature map (frozen
ImageNet backbone, :mod:`reprolib.blocks.backbones`), concatenated (Lite0 stages 2-3: 40 + 112
= 152 dimensions). Fit = store the training embeddings; score = mean Euclidean distance to the
k nearest of them (k = 1: the nearest; DN2 sums the k distances, the same ranking).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.neighbors import NearestNeighbors
from torch.utils.data import Dataset

from reprolib.blocks.feature_floor import FeatureFloorConfig, feature_batches, frozen_taps
from reprolib.config import ConfigError
from reprolib.methods import register
from reprolib.methods.base import PretrainedMethod, Scores


@dataclass
class KNNFeaturesConfig(FeatureFloorConfig):
    k: int = 5

    def validate(self) -> None:
        super().validate()
        if self.k < 1:
            raise ConfigError(f"k: expected >= 1, got {self.k}")


def nearest_neighbours(bank: np.ndarray, queries: np.ndarray,
                       k: int) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean distances (Q, k) of each query to its ``k`` nearest rows of ``bank``, nearest
    first, and those rows' indices (sklearn, exact search)."""
    if k > len(bank):
        raise ValueError(f"k={k}: the memory bank holds only {len(bank)} training images")
    search = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(bank)
    distances, indices = search.kneighbors(queries)
    return distances, indices


def knn_distance(bank: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Mean Euclidean distance of each query to its ``k`` nearest rows of ``bank`` (sklearn,
    exact search)."""
    return nearest_neighbours(bank, queries, k)[0].mean(axis=1)


@register("knn_features")
class KNNFeatures(PretrainedMethod):
    """k nearest training normals on globally pooled ImageNet features."""

    Config = KNNFeaturesConfig
    config: KNNFeaturesConfig

    def __init__(self, config: KNNFeaturesConfig | dict | None = None, *, seed: int = 0,
                 device: str | torch.device = "auto") -> None:
        super().__init__(config, seed=seed, device=device)
        self.backbone, self.weights_used = frozen_taps(self.config, self.device)
        self.bank = torch.zeros(0)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) ImageNet-normalised images -> (B, sum of stage channels)."""
        feats = self.backbone(x)
        return torch.cat([feats[name].mean(dim=(2, 3)) for name in self.config.layers], dim=1)

    def _embed_all(self, data: Dataset) -> torch.Tensor:
        self.eval_mode()
        return torch.cat(list(feature_batches(
            data, self.config.batch_size,
            lambda batch: self.embed(self.batch_images(batch)).cpu())))

    def fit(self, train: Dataset, val: Dataset | None = None) -> KNNFeatures:
        self.bank = self._embed_all(train)
        if len(self.bank) < self.config.k:
            raise ValueError(f"k={self.config.k}: expected at least k training images, got "
                             f"{len(self.bank)}")
        self.fitted = True
        return self

    @torch.no_grad()
    def score(self, data: Dataset) -> Scores:
        queries = self._embed_all(data).double().numpy()
        return Scores(image=knn_distance(self.bank.double().numpy(), queries, self.config.k))

    def extra_state(self) -> dict[str, Any]:
        return {**super().extra_state(), "bank": self.bank}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        super().load_extra_state(state)
        self.bank = state["bank"]
