"""Perlin noise and thresholded Perlin masks (DRAEM, ReSynthDetect §3.3).

The noise itself comes from the ``perlin-numpy`` package (P. Vigier's ``perlin2d``, pinned in
pyproject): the formulation DRAEM's ``rand_perlin_2d_np`` copies (gradient lattice of
``res + 1`` random unit vectors, quintic fade ``6t^5 - 15t^4 + 10t^3``, times sqrt(2)), so the
values lie in about [-1, 1] and are 0 on the lattice points. What is added here:

- any ``shape``: perlin-numpy needs ``shape`` to be a multiple of ``res``; we generate at the
  next multiple and keep the top-left ``shape`` (the same noise, cut);
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
from perlin_numpy import generate_perlin_noise_2d


def _check_shape(shape: tuple[int, int]) -> tuple[int, int]:
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"shape: expected (height, width) of positive ints, got {shape!r}")
    return int(shape[0]), int(shape[1])


def perlin_noise(shape: tuple[int, int], res: tuple[int, int],
                 rng: np.random.Generator) -> np.ndarray:
    """2-D Perlin noise of ``shape`` with ``res`` lattice periods per axis (float64, about
    [-1, 1]). ``shape`` need not be a multiple of ``res``: the noise is generated on the next
    multiple and cut to ``shape`` (top-left), so the lattice spacing stays ``ceil(shape / res)``."""
    h, w = _check_shape(shape)
    if len(res) != 2 or min(res) < 1:
        raise ValueError(f"res: expected two positive ints (periods per axis), got {res!r}")
    rh, rw = int(res[0]), int(res[1])
    full = (math.ceil(h / rh) * rh, math.ceil(w / rw) * rw)
    return generate_perlin_noise_2d(full, (rh, rw), rng=rng)[:h, :w]


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
