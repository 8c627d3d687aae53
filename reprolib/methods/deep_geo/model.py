"""GEOM (Golan & El-Yaniv, NeurIPS 2018): the 72 geometric transformations (§4), the Wide-ResNet
classifier of the transformation (§5.1) and the Dirichlet normality score (§3, Eq. 2-4), after
the authors' Keras code (izikgo/AnomalyDetectionTransformations: ``transformations.py``,
``models/wide_residual_network.py``, ``experiments.py``).

Transformation ``t`` (0..71) = itertools.product order of (flip in {no, yes}) x (shift along the
rows in {0, -s, +s}) x (shift along the columns in {0, -s, +s}) x (rot90 k in {0, 1, 2, 3}),
applied in that order: horizontal flip, integer translation with reflected borders (Keras'
``apply_affine_transform(..., fill_mode='reflect')`` = scipy.ndimage mode ``reflect``: the edge
pixel repeated), counter-clockwise rotation by k * 90 degrees (``np.rot90``).
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
from scipy.special import psi
from torch import nn

#: (flip, row shift sign, column shift sign, k) of the 72 transformations, the reference's order.
TRANSFORMS: tuple[tuple[bool, int, int, int], ...] = tuple(
    itertools.product((False, True), (0, -1, 1), (0, -1, 1), range(4)))
N_TRANSFORMS = len(TRANSFORMS)


def reflect_index(n: int, shift: int) -> torch.Tensor:
    """Source index of each output position for ``out[i] = in[i + shift]`` with scipy's
    ``reflect`` border (d c b a | a b c d | d c b a); |shift| <= n."""
    if abs(shift) > n:
        raise ValueError(f"shift {shift}: expected |shift| <= size {n}")
    j = torch.arange(n) + shift
    j = torch.where(j < 0, -j - 1, j)
    return torch.where(j >= n, 2 * n - j - 1, j)


def apply_transform(x: torch.Tensor, t: int, shift: int) -> torch.Tensor:
    """Transformation ``t`` of (B, C, H, W) images, shifts of ``shift`` pixels."""
    flip, sign_r, sign_c, k = TRANSFORMS[t]
    if flip:
        x = x.flip(-1)
    if sign_r:
        x = x.index_select(-2, reflect_index(x.shape[-2], sign_r * shift).to(x.device))
    if sign_c:
        x = x.index_select(-1, reflect_index(x.shape[-1], sign_c * shift).to(x.device))
    return torch.rot90(x, k, dims=(-2, -1)) if k else x


def transform_all(x: torch.Tensor, shift: int) -> torch.Tensor:
    """All 72 transformations of (B, C, H, W) images in one batch: (B * 72, C, H, W), image-
    major (row ``b * 72 + t`` is transformation ``t`` of image ``b``). Square images only
    (rotations)."""
    if x.ndim != 4 or x.shape[-1] != x.shape[-2]:
        raise ValueError(f"images: expected (B, C, S, S), got {tuple(x.shape)}")
    out = torch.stack([apply_transform(x, t, shift) for t in range(N_TRANSFORMS)], dim=1)
    return out.reshape(-1, *x.shape[1:])


def invert_transform(y: torch.Tensor, t: int) -> torch.Tensor:
    """Inverse of transformation ``t`` for the 8 without a shift (flips and rotations); shifts
    with reflected borders lose the pixels pushed out, so they have none."""
    flip, sign_r, sign_c, k = TRANSFORMS[t]
    if sign_r or sign_c:
        raise ValueError(f"transformation {t} shifts the image: it is not invertible")
    y = torch.rot90(y, -k, dims=(-2, -1)) if k else y
    return y.flip(-1) if flip else y


# --- the classifier ----------------------------------------------------------------------------

class _Block(nn.Module):
    """Pre-activation basic block (BN-ReLU-conv3x3-BN-ReLU-conv3x3, 1x1 shortcut on the first
    BN-ReLU when the width or stride changes), as the reference's ``_add_basic_block``."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(c_in), nn.BatchNorm2d(c_out)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.shortcut = (None if c_in == c_out and stride == 1
                         else nn.Conv2d(c_in, c_out, 1, stride, 0, bias=False))
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.relu(self.bn1(x))
        out = self.conv2(self.relu(self.bn2(self.conv1(pre))))
        return out + (x if self.shortcut is None else self.shortcut(pre))


class WideResNet(nn.Module):
    """WRN-depth-widen (Zagoruyko & Komodakis 2016) as in GEOM's code: conv 16, three groups of
    (depth - 4) / 6 blocks of widths 16k, 32k, 64k (strides 1, 2, 2), BN-ReLU, 8x8 average
    pooling (global at 32 px), flatten, a linear layer to the 72 transformations (logits).
    He-normal convolutions (fan in), as the reference's initialiser."""

    def __init__(self, img_size: int = 32, in_channels: int = 3, depth: int = 10,
                 widen: int = 4, n_classes: int = N_TRANSFORMS) -> None:
        super().__init__()
        if (depth - 4) % 6 or depth < 10:
            raise ValueError(f"depth: expected 6n + 4 with n >= 1, got {depth}")
        if img_size % 32:
            raise ValueError(f"img_size: expected a multiple of 32, got {img_size}")
        n = (depth - 4) // 6
        widths = [16, 16 * widen, 32 * widen, 64 * widen]
        layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)]
        for group, stride in zip(range(1, 4), (1, 2, 2)):
            for i in range(n):
                layers.append(_Block(widths[group - 1] if i == 0 else widths[group],
                                     widths[group], stride if i == 0 else 1))
        layers += [nn.BatchNorm2d(widths[3]), nn.ReLU(), nn.AvgPool2d(8), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(widths[3] * (img_size // 32) ** 2, n_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


# --- the Dirichlet normality score ---------------------------------------------------------------

_PSI_1 = float(psi(1))  # digamma(1) = -Euler's gamma


def approx_alpha_sum(log_p: np.ndarray) -> float:
    """Initial estimate of sum(alpha) from (N, K) log softmax vectors (Minka 2000, Eq. 23; the
    reference's ``calc_approx_alpha_sum``, which takes the probabilities)."""
    n, k = log_p.shape
    f = np.exp(log_p).mean(axis=0)
    return float(n * (k - 1) * (-_PSI_1) /
                 (n * np.sum(f * np.log(f)) - np.sum(f * np.sum(log_p, axis=0))))


def inv_psi(y: torch.Tensor, iters: int = 5) -> torch.Tensor:
    """Inverse digamma by Newton's method (Minka 2000, Appendix C; the reference's ``inv_psi``),
    in torch (float64), whose digamma / trigamma are about ten times scipy's speed."""
    x = torch.where(y >= -2.22, torch.exp(y) + 0.5, -1.0 / (y - _PSI_1))
    for _ in range(iters):
        x = x - (torch.digamma(x) - y) / torch.polygamma(1, x)
    return x


def dirichlet_mle(log_p: np.ndarray, max_iter: int = 1000, tol: float = 1e-9) -> np.ndarray:
    """Maximum-likelihood Dirichlet parameters of (N, K) probability vectors, given as logs, by
    Minka's fixed point ``alpha = inv_psi(psi(sum alpha) + mean log p)``, started from the moment
    estimate, stopping when the step's L2 norm is below ``tol`` or after ``max_iter`` steps (the
    reference's ``fixed_point_dirichlet_mle``). A (T, N, K) stack is T independent problems,
    iterated together (each stops on its own) -> (T, K)."""
    single = log_p.ndim == 2
    stack = log_p[None] if single else log_p
    if stack.ndim != 3 or stack.shape[1] < 2 or not np.isfinite(stack).all():
        raise ValueError(f"log_p: expected (N >= 2, K) or (T, N >= 2, K) finite "
                         f"log-probabilities, got shape {log_p.shape}")
    log_p_hat = torch.from_numpy(stack.mean(axis=1)).double()
    alpha = torch.from_numpy(np.stack([np.exp(lp).mean(axis=0) * approx_alpha_sum(lp)
                                       for lp in stack])).double()
    active = torch.ones(len(stack), dtype=torch.bool)
    for _ in range(max_iter):
        rows = torch.nonzero(active).flatten()
        if rows.numel() == 0:
            break
        new = inv_psi(torch.digamma(alpha[rows].sum(dim=1, keepdim=True)) + log_p_hat[rows])
        step = (alpha[rows] - new).square().sum(dim=1).sqrt()
        alpha[rows] = new
        active[rows[step < tol]] = False
    out = alpha.numpy()
    return out[0] if single else out


def dirichlet_normality(alpha: np.ndarray, log_p: np.ndarray) -> np.ndarray:
    """GEOM's Eq. 4 up to constants: sum_k (alpha_k - 1) log p_k for (N, K) log-probabilities
    (higher = more normal)."""
    return ((alpha - 1.0) * log_p).sum(axis=-1)


__all__ = ["N_TRANSFORMS", "TRANSFORMS", "WideResNet", "apply_transform", "approx_alpha_sum",
           "dirichlet_mle", "dirichlet_normality", "inv_psi", "invert_transform",
           "reflect_index", "transform_all"]
