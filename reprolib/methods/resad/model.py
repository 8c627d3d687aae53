"""ReSAD's feature combination and memory bank: a **re-implementation** (no public code; the
paper's text gives only the outline, REFERENCE_NOTES "ReSAD").

From the abstract (arXiv 2303.03817): a pre-trained extractor's pixel features pass through the
Region-and-Spatial-Aware feature Combination module (ReSC), which adds local *region* and
long-range *spatial* information; the combined features of normal images form a memory bank;
a test pixel's anomaly score is its distance to the bank. Our reading of each part:

- pixel features: the chosen stages, bilinearly up-sampled to the finest one, concatenated;
- region branch: the mean over a ``region_kernel`` x ``region_kernel`` neighbourhood (stride 1),
  as PatchCore's local-neighbourhood aggregation;
- spatial branch: the mean over a ``spatial_grid`` x ``spatial_grid`` partition of the map
  (adaptive average pooling), up-sampled back: every pixel sees its far surroundings;
- ReSC: ``concat(region, spatial)``, reduced to ``embed_dim`` channels by adaptive average
  pooling over channels (PatchCore's reduction);
- memory bank: greedy k-centre coreset of the training features (PatchCore), distance = the
  Euclidean distance to the nearest bank entry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F


def pixel_features(feats: Mapping[str, torch.Tensor], layers: Sequence[str]) -> torch.Tensor:
    """Stages ``layers`` up-sampled (bilinear) to the first one's grid and concatenated."""
    size = feats[layers[0]].shape[-2:]
    return torch.cat([F.interpolate(feats[name], size=size, mode="bilinear",
                                    align_corners=False) if feats[name].shape[-2:] != size
                      else feats[name] for name in layers], dim=1)


def region_features(x: torch.Tensor, kernel: int) -> torch.Tensor:
    """Local mean over ``kernel`` x ``kernel`` neighbourhoods (stride 1; at the borders the mean
    over the pixels inside the map, ``count_include_pad=False``)."""
    return F.avg_pool2d(x, kernel, stride=1, padding=kernel // 2, count_include_pad=False)


def spatial_features(x: torch.Tensor, grid: int) -> torch.Tensor:
    """Mean over each cell of a ``grid`` x ``grid`` partition, up-sampled back (nearest)."""
    pooled = F.adaptive_avg_pool2d(x, grid)
    return F.interpolate(pooled, size=x.shape[-2:], mode="nearest")


def resc(x: torch.Tensor, region_kernel: int, spatial_grid: int, embed_dim: int) -> torch.Tensor:
    """ReSC (our reading): (B, D, h, w) -> (B, embed_dim, h, w)."""
    combined = torch.cat([region_features(x, region_kernel),
                          spatial_features(x, spatial_grid)], dim=1)
    b, d, h, w = combined.shape
    flat = combined.permute(0, 2, 3, 1).reshape(-1, 1, d)
    reduced = F.adaptive_avg_pool1d(flat, embed_dim).reshape(b, h, w, embed_dim)
    return reduced.permute(0, 3, 1, 2).contiguous()


def greedy_coreset(features: torch.Tensor, n: int, generator: torch.Generator,
                   project_dim: int = 128) -> torch.Tensor:
    """Indices of ``n`` rows of ``features`` (N, d) chosen by greedy k-centre selection
    (PatchCore, Roth et al. CVPR 2022, Alg. 1) on a random projection to ``project_dim``
    dimensions; starts from a random row."""
    count = len(features)
    if n >= count:
        return torch.arange(count)
    x = features.float()
    if x.shape[1] > project_dim:
        proj = torch.randn(x.shape[1], project_dim, generator=generator) / project_dim ** 0.5
        x = x @ proj
    chosen = [int(torch.randint(count, (), generator=generator))]
    dist = torch.linalg.vector_norm(x - x[chosen[0]], dim=1)
    for _ in range(n - 1):
        nxt = int(torch.argmax(dist))
        chosen.append(nxt)
        dist = torch.minimum(dist, torch.linalg.vector_norm(x - x[nxt], dim=1))
    return torch.tensor(chosen)


def nearest_distance(bank: torch.Tensor, queries: torch.Tensor, chunk: int = 4096
                     ) -> torch.Tensor:
    """Euclidean distance of each query row to its nearest bank row (exact, chunked)."""
    out = []
    for start in range(0, len(queries), chunk):
        out.append(torch.cdist(queries[start:start + chunk], bank).amin(dim=1))
    return torch.cat(out) if out else torch.zeros(0)
