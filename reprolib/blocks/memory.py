"""ProxyAno's memory (Zhou et al., TMI 2022, §III-C, Fig. 3): every spatial latent vector is
replaced by its nearest memory item (Eq. 2), items are updated by exponential moving averages
(Eqs. 4-6, as the vector quantiser of VQ-VAE [49]) and the gradient passes straight through.

- Lookup (Eq. 2): z (N, d, h, w) is flattened to s = N*h*w vectors z_i; each is replaced by
  m_j with j = argmin_j ||z_i - m_j||_2 (ties: the lowest index).
- EMA (Eq. 6), in training mode only, on the detached z: N_i <- gamma N_i + (1 - gamma) n_i,
  e_i <- gamma e_i + (1 - gamma) sum_j z_ij, m_i = e_i / N_i with VQ-VAE's Laplace smoothing
  N_i <- (N_i + eps) / (n + k eps) * n, n = sum_i N_i (``eps = 0`` gives Eq. 6 exactly).
  Initial state: N_i = 1 and e_i = m_i (each item counts as the mean of one vector), so an item
  no vector picks keeps its value instead of being divided by ~0.
- Items are initialised from the first training batch: k latent vectors drawn at random (with
  replacement when the batch holds fewer than k), a data-dependent start that avoids dead items
  (the paper does not say how it initialises; VQ-VAE's code draws them at random).
- Straight-through (§III-C after Eq. 7): the output is z + (m - z).detach(), so its value is the
  retrieved item and the gradient reaching it is copied unchanged to z.
- No commitment term in the paper's Eq. 7; :func:`commitment_loss` gives VQ-VAE's
  beta ||z - sg(m)||^2 for the optional ``commitment`` weight of the method.
"""

from __future__ import annotations

import torch
from torch import nn


class NearestMemory(nn.Module):
    """Memory of ``items`` (k) vectors of ``dim`` (d) addressed by the nearest item (L2)."""

    def __init__(self, items: int = 128, dim: int = 64, gamma: float = 0.99,
                 eps: float = 1e-5) -> None:
        super().__init__()
        if items < 1 or dim < 1:
            raise ValueError(f"memory: expected items >= 1 and dim >= 1, got {items}, {dim}")
        if not 0.0 <= gamma < 1.0:
            raise ValueError(f"memory gamma: expected in [0, 1), got {gamma}")
        self.items, self.dim, self.gamma, self.eps = items, dim, gamma, eps
        self.register_buffer("memory", torch.randn(items, dim))
        self.register_buffer("ema_count", torch.ones(items))
        self.register_buffer("ema_sum", self.memory.clone())
        self.register_buffer("initialised", torch.zeros((), dtype=torch.bool))

    @staticmethod
    def flatten(z: torch.Tensor) -> torch.Tensor:
        """(N, d, h, w) -> (N*h*w, d), position-major as in Fig. 3."""
        return z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])

    def nearest(self, flat: torch.Tensor) -> torch.Tensor:
        """Index of the nearest item (Eq. 2) of every row of ``flat`` (s, d)."""
        dist = (flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.memory.t()
                + self.memory.pow(2).sum(1)[None, :])
        return dist.argmin(dim=1)

    @torch.no_grad()
    def init_from(self, flat: torch.Tensor) -> None:
        """Items = k random rows of ``flat`` (with replacement when fewer than k)."""
        generator = torch.Generator(device="cpu").manual_seed(0)
        n = flat.shape[0]
        pick = (torch.randperm(n, generator=generator)[:self.items] if n >= self.items
                else torch.randint(0, n, (self.items,), generator=generator))
        self.memory.copy_(flat[pick.to(flat.device)])
        self.ema_sum.copy_(self.memory)
        self.ema_count.fill_(1.0)
        self.initialised.fill_(True)

    @torch.no_grad()
    def ema_update(self, flat: torch.Tensor, index: torch.Tensor) -> None:
        """Eq. 6 with the vectors ``flat`` (s, d) assigned to the items ``index`` (s,)."""
        onehot = torch.zeros(flat.shape[0], self.items, device=flat.device, dtype=flat.dtype)
        onehot.scatter_(1, index[:, None], 1.0)
        counts = onehot.sum(0)
        sums = onehot.t() @ flat
        self.ema_count.mul_(self.gamma).add_(counts, alpha=1 - self.gamma)
        self.ema_sum.mul_(self.gamma).add_(sums, alpha=1 - self.gamma)
        total = self.ema_count.sum()
        smoothed = (self.ema_count + self.eps) / (total + self.items * self.eps) * total
        self.memory.copy_(self.ema_sum / smoothed[:, None])

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z (N, d, h, w) -> (z~ with straight-through gradient (N, d, h, w), indices
        (N, h, w)). In training mode the items are first initialised (once) and, after the
        lookup, EMA-updated (the returned items are those before the update, as in VQ-VAE)."""
        if z.dim() != 4 or z.shape[1] != self.dim:
            raise ValueError(f"memory: expected latents (N, {self.dim}, h, w), "
                             f"got {tuple(z.shape)}")
        flat = self.flatten(z)
        if self.training and not bool(self.initialised):
            self.init_from(flat.detach())
        index = self.nearest(flat.detach())
        n, _, h, w = z.shape
        # the items as they were when retrieved (the update below is in place)
        retrieved = self.memory[index].reshape(n, h, w, self.dim).permute(0, 3, 1, 2).clone()
        if self.training:
            self.ema_update(flat.detach(), index)
        return z + (retrieved - z).detach(), index.reshape(n, h, w)


def commitment_loss(z: torch.Tensor, z_tilde: torch.Tensor) -> torch.Tensor:
    """VQ-VAE's commitment term ||z - sg(z~)||^2 (mean); not in ProxyAno's Eq. 7."""
    return torch.mean((z - z_tilde.detach()) ** 2)


__all__ = ["NearestMemory", "commitment_loss"]
