"""SPADE's pixel correspondence (Cohen & Hoshen 2020, §3.3): the distance of every feature of a
test image to its nearest feature among all locations of the K nearest training images.

The nearest gallery feature is found with the ``|q|^2 + |g|^2 - 2 q.g`` expansion in chunks (a
matrix product, memory bounded by ``chunk``); its distance is then recomputed exactly as
``|q - g|``, so a feature equal to a gallery feature is at distance 0, not at round-off.
"""

from __future__ import annotations

import torch


def nearest_gallery_distance(queries: torch.Tensor, gallery: torch.Tensor, *,
                             chunk: int = 8192) -> torch.Tensor:
    """(Q, C) queries, (G, C) gallery -> (Q,) Euclidean distance of each query to its nearest
    gallery row (SPADE's kappa = 1)."""
    if queries.ndim != 2 or gallery.ndim != 2 or queries.shape[1] != gallery.shape[1]:
        raise ValueError(f"expected (Q, C) queries and (G, C) gallery, got "
                         f"{tuple(queries.shape)} and {tuple(gallery.shape)}")
    if len(gallery) == 0:
        raise ValueError("gallery: expected at least one feature, got none")
    q2 = (queries * queries).sum(dim=1, keepdim=True)
    best = torch.full((len(queries),), float("inf"), dtype=queries.dtype,
                      device=queries.device)
    arg = torch.zeros(len(queries), dtype=torch.long, device=queries.device)
    for start in range(0, len(gallery), chunk):
        part = gallery[start:start + chunk]
        d2 = q2 + (part * part).sum(dim=1)[None, :] - 2.0 * queries @ part.T
        value, index = d2.min(dim=1)
        better = value < best
        best = torch.where(better, value, best)
        arg = torch.where(better, index + start, arg)
    return (queries - gallery[arg]).norm(dim=1)


def correspondence_map(query: torch.Tensor, neighbours: torch.Tensor, *,
                       chunk: int = 8192) -> torch.Tensor:
    """(C, h, w) feature map of a test image, (K, C, h', w') maps of its K nearest training
    images -> (h, w) distance of every location to the nearest of all K * h' * w' gallery
    features."""
    if query.ndim != 3 or neighbours.ndim != 4 or neighbours.shape[1] != query.shape[0]:
        raise ValueError(f"expected a (C, h, w) map and (K, C, h, w) neighbours, got "
                         f"{tuple(query.shape)} and {tuple(neighbours.shape)}")
    channels, height, width = query.shape
    queries = query.reshape(channels, -1).T
    gallery = neighbours.permute(0, 2, 3, 1).reshape(-1, channels)
    return nearest_gallery_distance(queries, gallery, chunk=chunk).reshape(height, width)


__all__ = ["correspondence_map", "nearest_gallery_distance"]
