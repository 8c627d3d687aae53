"""Perlin noise and thresholded Perlin masks (DRAEM, ReSynthDetect §3.3).

The noise is DRAEM's ``rand_perlin_2d_np`` formulation (P. Vigier's ``perlin2d``): a lattice of
``res + 1`` random unit gradients (angles uniform in [0, 2 pi)), the quintic fade
``6t^5 - 15t^4 + 10t^3``, times sqrt(2); values in about [-1, 1], 0 on the lattice points.
It is written here, vectorised over the pixels with integer lattice indices, because the
packaged version (``perlin-numpy`` 0.0.1 on PyPI) builds its grid with a float ``np.mgrid``
step and fails on shapes whose lattice spacing is not a power of two (e.g. 107 px with 3
periods: a 108-long grid; DRAEM cuts its grid to ``shape`` for the same reason). The tests
check it against a per-pixel reference of the formulation. Added to DRAEM's version:

- any ``shape``: the lattice spacing is ``ceil(shape / res)`` px, so the noise equals the noise
  of the next multiple of ``res`` cut to ``shape`` (top-left);
- DRAEM's lattice draw: ``res = (2**kx, 2**ky)`` with ``kx, ky`` uniform in
  ``[min_scale, max_scale)`` (DRAEM: 0..5, i.e. 1..32 periods per axis at 256 px);
- rotation of the noise by an angle uniform in ``rotate`` degrees about the centre (DRAEM
  rotates with imgaug ``Affine(rotate=(-90, 90))``: bilinear, constant 0 fill; we use OpenCV's
  ``warpAffine`` with the same settings, since imgaug does not install beside NumPy 2), so the
  corners the rotation uncovers are 0, below the threshold, never anomalous;
- thresholding: mask = noise > ``threshold`` (DRAEM and ReSynthDetect: 0.5).

Stable API (used by the ReSynthDetect generator and the DRAEM baseline)::

    perlin_noise(shape, res, rng) -> float64 (H, W)
    random_res(rng, min_scale=0, max_scale=6) -> (int, int)
    rotate_noise(noise, angle) -> float64 (H, W)
    perlin_mask(shape, rng, *, min_scale=0, max_scale=6, rotate=(-90, 90), threshold=0.5,
                noise=None) -> float32 (H, W) in {0, 1}
    fractal_noise(shape, res, rng, *, octaves=4, persistence=0.5) -> float64 (H, W)

``rng`` is always a ``numpy.random.Generator``: the same seed gives the same noise and mask.
"""

from __future__ import annotations

import math

import cv2
import numpy as np


def _check_shape(shape: tuple[int, int]) -> tuple[int, int]:
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"shape: expected (height, width) of positive ints, got {shape!r}")
    return int(shape[0]), int(shape[1])


def perlin_noise(shape: tuple[int, int], res: tuple[int, int],
                 rng: np.random.Generator) -> np.ndarray:
    """2-D Perlin noise of ``shape`` with ``res`` lattice periods per axis (float64, about
    [-1, 1]); the lattice spacing is ``ceil(shape / res)`` px, so ``shape`` need not be a
    multiple of ``res`` (the noise of the next multiple, cut to ``shape``). Draws
    ``rng.uniform(size=(res[0] + 1, res[1] + 1))`` gradient angles (as perlin-numpy does)."""
    h, w = _check_shape(shape)
    if len(res) != 2 or min(res) < 1:
        raise ValueError(f"res: expected two positive ints (periods per axis), got {res!r}")
    rh, rw = int(res[0]), int(res[1])
    dh, dw = math.ceil(h / rh), math.ceil(w / rw)
    angles = 2 * np.pi * rng.uniform(size=(rh + 1, rw + 1))
    grad_y, grad_x = np.cos(angles), np.sin(angles)  # row component, column component
    iy, ix = np.arange(h) // dh, np.arange(w) // dw
    fy, fx = (np.arange(h) % dh / dh)[:, None], (np.arange(w) % dw / dw)[None, :]

    def ramp(a: int, b: int) -> np.ndarray:
        rows, cols = (iy + a)[:, None], (ix + b)[None, :]
        return (fy - a) * grad_y[rows, cols] + (fx - b) * grad_x[rows, cols]

    ty = 6 * fy ** 5 - 15 * fy ** 4 + 10 * fy ** 3
    tx = 6 * fx ** 5 - 15 * fx ** 4 + 10 * fx ** 3
    n0 = ramp(0, 0) + ty * (ramp(1, 0) - ramp(0, 0))
    n1 = ramp(0, 1) + ty * (ramp(1, 1) - ramp(0, 1))
    return np.sqrt(2) * (n0 + tx * (n1 - n0))


def random_res(rng: np.random.Generator, min_scale: int = 0, max_scale: int = 6
               ) -> tuple[int, int]:
    """DRAEM's lattice draw: ``(2**kx, 2**ky)``, ``kx, ky`` uniform integers in
    ``[min_scale, max_scale)`` (DRAEM: ``min_perlin_scale = 0``, ``perlin_scale = 6``)."""
    if not 0 <= min_scale < max_scale:
        raise ValueError(f"min_scale < max_scale expected (both >= 0), got {min_scale}, "
                         f"{max_scale}")
    kx, ky = rng.integers(min_scale, max_scale, size=2)
    return 2 ** int(kx), 2 ** int(ky)


def rotate_noise(noise: np.ndarray, angle: float) -> np.ndarray:
    """``noise`` rotated by ``angle`` degrees (counter-clockwise) about its centre, bilinear,
    the uncovered corners filled with 0 (DRAEM's imgaug ``Affine(rotate=...)`` defaults)."""
    noise = np.asarray(noise, dtype=np.float64)
    if noise.ndim != 2:
        raise ValueError(f"noise: expected a 2-D array, got shape {noise.shape}")
    if angle == 0:
        return noise.copy()
    h, w = noise.shape
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), float(angle), 1.0)
    return cv2.warpAffine(noise, matrix, (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)


def perlin_mask(shape: tuple[int, int], rng: np.random.Generator, *, min_scale: int = 0,
                max_scale: int = 6, rotate: tuple[float, float] = (-90.0, 90.0),
                threshold: float = 0.5, noise: np.ndarray | None = None) -> np.ndarray:
    """A binary Perlin mask (float32 (H, W) in {0, 1}): noise with a DRAEM lattice
    (:func:`random_res`), rotated by an angle uniform in ``rotate`` degrees
    (:func:`rotate_noise`; ``(0, 0)`` = no rotation), then ``> threshold``.

    ``noise`` (optional) replaces the random noise (for tests); it must have ``shape``.
    Note: the mask can be empty (no pixel above the threshold); callers that need an anomaly
    draw again (:class:`reprolib.blocks.synthetic_anomaly.SelfMixGenerator` does).
    """
    h, w = _check_shape(shape)
    if noise is None:
        noise = perlin_noise((h, w), random_res(rng, min_scale, max_scale), rng)
    elif np.shape(noise) != (h, w):
        raise ValueError(f"noise: expected shape {(h, w)}, got {np.shape(noise)}")
    low, high = rotate
    if low > high:
        raise ValueError(f"rotate: expected (low, high) degrees with low <= high, got {rotate}")
    angle = float(rng.uniform(low, high)) if high > low else float(low)
    return (rotate_noise(noise, angle) > threshold).astype(np.float32)


def fractal_noise(shape: tuple[int, int], res: tuple[int, int], rng: np.random.Generator, *,
                  octaves: int = 4, persistence: float = 0.5) -> np.ndarray:
    """Fractal (multi-octave) Perlin noise: ``sum_o persistence**o * perlin_noise(shape,
    res * 2**o)`` (perlin-numpy's ``generate_fractal_noise_2d`` with lacunarity 2, for any
    ``shape``). Used for procedural textures."""
    if octaves < 1:
        raise ValueError(f"octaves: expected >= 1, got {octaves}")
    total = np.zeros(_check_shape(shape))
    for o in range(octaves):
        total += persistence ** o * perlin_noise(shape, (res[0] * 2 ** o, res[1] * 2 ** o), rng)
    return total
