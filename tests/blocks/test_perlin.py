"""reprolib.blocks.perlin: noise formulation, any shape, thresholding, rotation, seeding."""

from __future__ import annotations

import math

import numpy as np
import pytest

from reprolib.blocks.perlin import (
    fractal_noise,
    perlin_mask,
    perlin_noise,
    random_res,
    rotate_noise,
)


def _reference_perlin(shape: tuple[int, int], res: tuple[int, int],
                      angles: np.ndarray) -> np.ndarray:
    """Slow per-pixel Perlin noise (DRAEM's rand_perlin_2d_np formulation) from the lattice
    gradient angles (res + 1 per axis)."""
    h, w = shape
    d = (h // res[0], w // res[1])
    out = np.zeros(shape)
    fade = lambda t: 6 * t ** 5 - 15 * t ** 4 + 10 * t ** 3  # noqa: E731
    for y in range(h):
        for x in range(w):
            i, j = y // d[0], x // d[1]
            fy, fx = (y % d[0]) / d[0], (x % d[1]) / d[1]
            dots = {}
            for a in (0, 1):
                for b in (0, 1):
                    g = angles[i + a, j + b]
                    dots[a, b] = (fy - a) * math.cos(g) + (fx - b) * math.sin(g)
            u, v = fade(fy), fade(fx)
            n0 = dots[0, 0] + u * (dots[1, 0] - dots[0, 0])
            n1 = dots[0, 1] + u * (dots[1, 1] - dots[0, 1])
            out[y, x] = math.sqrt(2) * (n0 + v * (n1 - n0))
    return out


def test_noise_matches_the_per_pixel_reference() -> None:
    shape, res = (16, 24), (2, 3)
    noise = perlin_noise(shape, res, np.random.default_rng(5))
    angles = 2 * np.pi * np.random.default_rng(5).uniform(size=(res[0] + 1, res[1] + 1))
    np.testing.assert_allclose(noise, _reference_perlin(shape, res, angles), atol=1e-12)
    assert np.all(noise[::8, ::8] == 0)  # zero on the lattice points
    assert np.abs(noise).max() <= 1.0 + 1e-9


def test_any_shape_is_cut_from_the_next_multiple() -> None:
    noise = perlin_noise((13, 7), (4, 2), np.random.default_rng(0))
    full = perlin_noise((16, 8), (4, 2), np.random.default_rng(0))
    assert noise.shape == (13, 7)
    np.testing.assert_array_equal(noise, full[:13, :7])
    with pytest.raises(ValueError, match="res"):
        perlin_noise((8, 8), (0, 1), np.random.default_rng(0))


def test_random_res_is_a_power_of_two_in_range() -> None:
    rng = np.random.default_rng(0)
    draws = {random_res(rng, 0, 6) for _ in range(300)}
    assert {r for pair in draws for r in pair} == {1, 2, 4, 8, 16, 32}


def test_threshold_is_strictly_above_half() -> None:
    noise = np.array([[0.2, 0.5, 0.51], [0.9, -1.0, 0.5000001]])
    mask = perlin_mask((2, 3), np.random.default_rng(0), rotate=(0, 0), noise=noise)
    np.testing.assert_array_equal(mask, [[0, 0, 1], [1, 0, 1]])
    assert mask.dtype == np.float32


def test_rotation_by_90_degrees_is_a_transpose_and_fills_corners_with_zero() -> None:
    noise = perlin_noise((33, 33), (4, 4), np.random.default_rng(1))
    # counter-clockwise 90 degrees about the centre of an odd square = np.rot90
    np.testing.assert_allclose(rotate_noise(noise, 90), np.rot90(noise), atol=1e-9)
    ones = rotate_noise(np.ones((33, 33)), 45)
    assert ones[0, 0] == 0 and ones[16, 16] == pytest.approx(1.0)
    # a rotated mask = the rotated noise thresholded; the corners are never anomalous
    rng = np.random.default_rng(3)
    mask = perlin_mask((33, 33), rng, rotate=(45, 45), noise=np.full((33, 33), 0.9))
    assert mask[0, 0] == 0 and mask[16, 16] == 1 and mask[0, 16] == 1


def test_mask_is_seeded_binary_and_of_the_asked_shape() -> None:
    a = perlin_mask((40, 30), np.random.default_rng(7))
    b = perlin_mask((40, 30), np.random.default_rng(7))
    c = perlin_mask((40, 30), np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (40, 30) and set(np.unique(a)) <= {0.0, 1.0}
    assert not np.array_equal(a, c)
    with pytest.raises(ValueError, match="shape"):
        perlin_mask((40, 30), np.random.default_rng(0), noise=np.zeros((3, 3)))


def test_fractal_noise_sums_octaves() -> None:
    f = fractal_noise((16, 16), (1, 1), np.random.default_rng(2), octaves=2, persistence=0.5)
    rng = np.random.default_rng(2)
    expect = perlin_noise((16, 16), (1, 1), rng) + 0.5 * perlin_noise((16, 16), (2, 2), rng)
    np.testing.assert_allclose(f, expect)
