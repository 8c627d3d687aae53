"""Private 2-D Perlin noise for DRAEM's anomaly masks (Perlin, SIGGRAPH 1985; DRAEM Sec. 3.3).

Stand-in until ``reprolib.blocks.perlin`` (branch resynth-core) lands; the signature is the one
agreed for that block, so the switch is an import change. Vectorised over pixels in torch: a
random unit gradient at every lattice corner, the dot products with the offsets to the four
corners, blended by the quintic fade ``6t^5 - 15t^4 + 10t^3`` and scaled by sqrt(2), as DRAEM's
``rand_perlin_2d``. Unlike that function any image size works (the lattice need not divide it).
"""

from __future__ import annotations

import math

import torch


def _fade(t: torch.Tensor) -> torch.Tensor:
    return t * t * t * (t * (t * 6 - 15) + 10)


def perlin_noise(shape: tuple[int, int], scales: tuple[int, int],
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """(H, W) float32 Perlin noise with ``scales = (ry, rx)`` lattice cells along (H, W).

    Zero at every lattice point; values within [-1, 1].
    """
    h, w = int(shape[0]), int(shape[1])
    ry, rx = int(scales[0]), int(scales[1])
    if h < 1 or w < 1 or ry < 1 or rx < 1:
        raise ValueError(f"perlin_noise: expected positive shape and scales, got {shape}, "
                         f"{scales}")
    angles = 2 * math.pi * torch.rand(ry + 1, rx + 1, generator=generator)
    grads = torch.stack((torch.cos(angles), torch.sin(angles)), dim=-1)  # (ry+1, rx+1, 2)
    ys = torch.arange(h, dtype=torch.float64) * ry / h
    xs = torch.arange(w, dtype=torch.float64) * rx / w
    iy, ix = ys.floor().long(), xs.floor().long()
    fy, fx = (ys - iy).float()[:, None], (xs - ix).float()[None, :]

    def corner(dy: int, dx: int) -> torch.Tensor:
        g = grads[(iy + dy)[:, None], (ix + dx)[None, :]]  # (h, w, 2)
        return g[..., 0] * (fy - dy) + g[..., 1] * (fx - dx)

    ty, tx = _fade(fy), _fade(fx)
    n0 = torch.lerp(corner(0, 0), corner(1, 0), ty)
    n1 = torch.lerp(corner(0, 1), corner(1, 1), ty)
    return (math.sqrt(2) * torch.lerp(n0, n1, tx)).float()
