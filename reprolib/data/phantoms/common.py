"""Shared pieces of the procedural phantoms: coordinate grids, fractal noise, soft irregular
blobs, speckle, acquisition jitter. Everything is vectorised numpy / OpenCV on float32."""

from __future__ import annotations

import cv2
import numpy as np

Rng = np.random.Generator


def grid(height: int, width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(yy, xx) float32 coordinates: x in [-1, 1] across the width, y in the same units
    (so circles stay round on non-square images), centred."""
    width = width or height
    scale = 2.0 / (width - 1)
    ys = (np.arange(height, dtype=np.float32) - (height - 1) / 2) * scale
    xs = (np.arange(width, dtype=np.float32) - (width - 1) / 2) * scale
    return np.meshgrid(ys, xs, indexing="ij")


def smooth_noise(rng: Rng, shape: tuple[int, int], cells: int = 4, octaves: int = 3,
                 persistence: float = 0.5) -> np.ndarray:
    """Fractal value noise with unit standard deviation: ``octaves`` layers of random
    lattices (``cells`` per side, doubling) upsampled bicubically."""
    h, w = shape
    out = np.zeros(shape, np.float32)
    amp = 1.0
    for octave in range(octaves):
        n = cells * 2 ** octave
        lattice = rng.standard_normal((n + 1, n + 1)).astype(np.float32)
        out += amp * cv2.resize(lattice, (w, h), interpolation=cv2.INTER_CUBIC)
        amp *= persistence
    return (out - out.mean()) / (out.std() + 1e-6)


def smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def soft_ellipse(yy: np.ndarray, xx: np.ndarray, cy: float, cx: float, ry: float, rx: float,
                 angle: float = 0.0, edge: float = 0.02) -> np.ndarray:
    """1 inside the (rotated) ellipse, 0 outside, linear ramp of width ``edge`` at the rim."""
    c, s = np.cos(angle), np.sin(angle)
    dx, dy = xx - cx, yy - cy
    u, v = c * dx + s * dy, -s * dx + c * dy
    d = np.sqrt((u / rx) ** 2 + (v / ry) ** 2)
    return smoothstep((1.0 - d) * min(rx, ry) / edge + 0.5)


def blob(rng: Rng, yy: np.ndarray, xx: np.ndarray, cy: float, cx: float, radius: float, *,
         irregularity: float = 0.25, aspect: float = 1.0, angle: float = 0.0,
         edge: float = 0.015) -> np.ndarray:
    """A soft irregular blob: an ellipse whose radius is modulated by random angular harmonics
    (orders 2-6), in [0, 1]."""
    c, s = np.cos(angle), np.sin(angle)
    dx, dy = xx - cx, yy - cy
    u, v = (c * dx + s * dy) / aspect, -s * dx + c * dy
    d = np.sqrt(u * u + v * v)
    theta = np.arctan2(v, u)
    mod = np.ones_like(d)
    for k in range(2, 7):
        mod += irregularity / k * rng.uniform(0.3, 1.0) * np.cos(k * theta + rng.uniform(0, 6.3))
    return smoothstep((radius * mod - d) / edge + 0.5)


def band(distance: np.ndarray, width: float) -> np.ndarray:
    """A Gaussian ridge of half-width ``width`` around ``distance == 0``."""
    return np.exp(-(distance / width) ** 2)


def speckle(rng: Rng, image: np.ndarray, looks: float) -> np.ndarray:
    """Multiplicative speckle: gamma-distributed with mean 1 and ``looks`` looks (OCT)."""
    return image * rng.gamma(looks, 1.0 / looks, image.shape).astype(np.float32)


def acquisition(rng: Rng, image: np.ndarray, *, gain_sd: float = 0.08,
                gamma_sd: float = 0.12, noise_sd: float = 0.015,
                blur: float = 0.0) -> np.ndarray:
    """Scanner / exposure variation: random gain, gamma, additive grain, optional blur.
    Its spread is what keeps image-level mean intensity from revealing lesions."""
    if blur > 0:
        image = cv2.GaussianBlur(image, (0, 0), blur)
    image = np.clip(image, 0.0, None) * np.float32(rng.lognormal(0.0, gain_sd))
    image = np.clip(image, 0.0, 1.0) ** np.float32(rng.lognormal(0.0, gamma_sd))
    if noise_sd > 0:
        image = image + rng.normal(0.0, noise_sd, image.shape).astype(np.float32)
    return image


def to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)


def difficulty_factors(difficulty: float) -> tuple[float, float, float]:
    """(contrast, size, count) multipliers of lesions for ``difficulty`` in [0, 1]:
    0 = large, contrasted, many lesions; 1 = small, faint, few. 0.5 is the default."""
    if not 0.0 <= float(difficulty) <= 1.0:
        raise ValueError(f"difficulty: expected a value in [0, 1], got {difficulty!r}")
    d = float(difficulty)
    return 1.5 - d, 1.3 - 0.6 * d, 1.4 - 0.8 * d


def mask_of(field: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Binary uint8 mask of a soft lesion field."""
    return (field >= threshold).astype(np.uint8)
