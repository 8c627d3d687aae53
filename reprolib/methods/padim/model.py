"""PaDiM's statistics (Defard, Setkov, Loesch, Audigier: "PaDiM: a Patch Distribution Modeling
Framework for Anomaly Detection and Localization", ICPR 2021), written from the paper.

§III-A: the patch embedding at location (i, j) concatenates the stages' features there (deeper
stages upsampled, nearest, to the first requested stage's grid); §III-B: a random subset of d
of its dimensions is kept. §III-A: per location a Gaussian N(mu_ij, Sigma_ij) with the sample
covariance Sigma_ij = 1/(N-1) sum_k (x_ij^k - mu_ij)(x_ij^k - mu_ij)^T + eps I, eps = 0.01.
§III-C: the anomaly score of a patch is the Mahalanobis distance
M(x_ij) = sqrt((x_ij - mu_ij)^T Sigma_ij^-1 (x_ij - mu_ij)).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F


def patch_embedding(features: Mapping[str, torch.Tensor], layers: Sequence[str],
                    index: torch.Tensor | None = None) -> torch.Tensor:
    """Concatenate the stages' maps on the first stage's grid (nearest upsampling); keep the
    channels in ``index`` (all when None). -> (B, d, H, W)."""
    first = features[layers[0]]
    size = tuple(first.shape[-2:])
    maps = [first] + [F.interpolate(features[name], size=size, mode="nearest")
                      for name in layers[1:]]
    embedding = torch.cat(maps, dim=1)
    return embedding if index is None else embedding.index_select(1, index.to(embedding.device))


class GaussianAccumulator:
    """Running sums for the per-location mean and covariance (float64), so the training
    embeddings need not all be in memory."""

    def __init__(self) -> None:
        self.n = 0
        self.sum: torch.Tensor | None = None  # (L, d)
        self.outer: torch.Tensor | None = None  # (L, d, d)

    def update(self, embedding: torch.Tensor) -> None:
        """Add a batch of (B, d, H, W) embeddings."""
        x = embedding.detach().double().flatten(2).permute(2, 0, 1)  # (L, B, d)
        s, o = x.sum(dim=1), torch.einsum("lbi,lbj->lij", x, x)
        self.sum = s if self.sum is None else self.sum + s
        self.outer = o if self.outer is None else self.outer + o
        self.n += embedding.shape[0]

    def finish(self, eps: float = 0.01) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean (L, d), covariance (L, d, d)): unbiased sample covariance + eps I (§III-A)."""
        if self.n < 2 or self.sum is None or self.outer is None:
            raise ValueError(f"PaDiM: expected at least 2 training images, got {self.n}")
        mean = self.sum / self.n
        cov = (self.outer - self.n * torch.einsum("li,lj->lij", mean, mean)) / (self.n - 1)
        cov = cov + eps * torch.eye(cov.shape[-1], dtype=cov.dtype)
        return mean, cov


def mahalanobis_map(embedding: torch.Tensor, mean: torch.Tensor,
                    inv_cov: torch.Tensor) -> torch.Tensor:
    """M(x_ij) (§III-C) of (B, d, H, W) embeddings against per-location mean (L, d) and inverse
    covariance (L, d, d), L = H*W -> (B, H, W)."""
    b, d, h, w = embedding.shape
    if mean.shape != (h * w, d) or inv_cov.shape != (h * w, d, d):
        raise ValueError(f"PaDiM statistics of shape {tuple(mean.shape)} / "
                         f"{tuple(inv_cov.shape)} do not fit embeddings {tuple(embedding.shape)}")
    delta = embedding.flatten(2).permute(2, 0, 1).to(mean.dtype) - mean[:, None, :]  # (L, B, d)
    squared = torch.einsum("lbi,lij,lbj->lb", delta, inv_cov.to(mean.dtype), delta)
    return squared.clamp_min(0).sqrt().T.reshape(b, h, w)
