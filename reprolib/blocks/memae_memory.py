"""MemAE's memory module (Gong et al., "Memorizing Normality to Detect Anomaly", ICCV 2019, §3.3).

A learnable memory M of N items of dimension C. Every query z (one C-vector; for a feature map,
one per spatial position, as the official ``models/memory_module.py`` does) is replaced by
z_hat = w M, a convex combination of the items:

- addressing (Eq. 4-5): w_i = softmax_i(d(z, m_i)) with d = cosine similarity (the paper; the
  official code uses the plain dot product: ``similarity="dot"``);
- hard shrinkage (Eq. 7, the paper's continuous ReLU form):
  w_i <- max(w_i - λ, 0) * w_i / (|w_i - λ| + ε), ε = 1e-12, then w <- w / ||w||_1;
  λ defaults to 1/N (the paper's range is [1/N, 3/N]; the code's default is 0.0025);
- entropy loss (Eq. 10): E(w) = sum_i -w_i log w_i, averaged over queries; weight α = 0.0002
  in the training loss (Eq. 11).

Items are initialised U(-1/sqrt(C), 1/sqrt(C)) (the official ``reset_parameters``). Shared by
``memae`` and by ProxyAno's Table IV row "EncDec + mem*" (the MemAE memory in ProxyAno's EncDec).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

#: ε of the hard shrinkage (Eq. 7) and of the entropy's logarithm (official code: 1e-12).
EPS = 1e-12


def hard_shrink_relu(w: torch.Tensor, lambd: float, eps: float = EPS) -> torch.Tensor:
    """Eq. 7: max(w - λ, 0) * w / (|w - λ| + ε): w where w > λ, 0 elsewhere (for w >= 0)."""
    return F.relu(w - lambd) * w / (torch.abs(w - lambd) + eps)


def memae_entropy(att: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """Eq. 10: mean over queries of sum_i -w_i log(w_i + ε); ``att`` has the items on dim 1
    ((Q, N) or (B, N, H, W))."""
    return torch.mean(torch.sum(-att * torch.log(att + eps), dim=1))


class MemAEMemory(nn.Module):
    """``forward(z)`` with z (B, C) or (B, C, H, W) -> (z_hat of z's shape, weights w with the
    N items on dim 1: (B, N) or (B, N, H, W))."""

    def __init__(self, n_items: int, dim: int, shrink_thres: float | None = None,
                 similarity: Literal["cosine", "dot"] = "cosine") -> None:
        super().__init__()
        if n_items < 1 or dim < 1:
            raise ValueError(f"MemAEMemory: expected n_items >= 1 and dim >= 1, got {n_items} "
                             f"and {dim}")
        if similarity not in ("cosine", "dot"):
            raise ValueError(f"MemAEMemory: similarity expected 'cosine' or 'dot', "
                             f"got {similarity!r}")
        self.n_items, self.dim, self.similarity = n_items, dim, similarity
        self.shrink_thres = 1.0 / n_items if shrink_thres is None else float(shrink_thres)
        self.items = nn.Parameter(torch.empty(n_items, dim))
        bound = 1.0 / math.sqrt(dim)
        nn.init.uniform_(self.items, -bound, bound)

    def address(self, queries: torch.Tensor) -> torch.Tensor:
        """(Q, C) queries -> (Q, N) weights: softmax, then hard shrinkage and L1 renormalisation
        when λ > 0."""
        if self.similarity == "cosine":
            logits = F.normalize(queries, dim=1) @ F.normalize(self.items, dim=1).t()
        else:
            logits = queries @ self.items.t()
        att = torch.softmax(logits, dim=1)
        if self.shrink_thres > 0:
            att = F.normalize(hard_shrink_relu(att, self.shrink_thres), p=1, dim=1)
        return att

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if z.dim() not in (2, 4) or z.shape[1] != self.dim:
            raise ValueError(f"MemAEMemory: expected (B, {self.dim}) or (B, {self.dim}, H, W), "
                             f"got {tuple(z.shape)}")
        if z.dim() == 2:
            att = self.address(z)
            return att @ self.items, att
        b, c, h, w = z.shape
        queries = z.permute(0, 2, 3, 1).reshape(-1, c)
        att = self.address(queries)
        z_hat = (att @ self.items).view(b, h, w, c).permute(0, 3, 1, 2)
        return z_hat, att.view(b, h, w, self.n_items).permute(0, 3, 1, 2)


__all__ = ["EPS", "MemAEMemory", "hard_shrink_relu", "memae_entropy"]
