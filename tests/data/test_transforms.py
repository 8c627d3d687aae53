"""Transforms: CLAHE equals OpenCV's definition, sizes, conversions."""

from __future__ import annotations

import cv2
import numpy as np

from reprolib.data.transforms import CLAHE, CenterCrop, Compose, Resize, ToGray, ToRGB


def test_clahe_matches_opencv() -> None:
    img = np.random.default_rng(0).integers(0, 120, (64, 48), dtype=np.uint8)
    ref = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(img)
    assert np.array_equal(CLAHE()(img), ref)
    rgb = np.stack([img, img // 2, img // 3], -1)
    assert CLAHE()(rgb).shape == rgb.shape


def test_geometry_and_channels() -> None:
    img = np.zeros((30, 50, 3), np.uint8)
    out = Compose([CenterCrop(), Resize(16), ToGray()])(img)
    assert out.shape == (16, 16)
    assert ToRGB()(out).shape == (16, 16, 3)
    assert Resize(10)(np.zeros((5, 7), np.uint8)).shape == (10, 10)


def test_standardize_maps_z_scores_into_uint8() -> None:
    from reprolib.data.transforms import Standardize

    img = np.random.default_rng(1).integers(60, 120, (40, 30), dtype=np.uint8)
    out = Standardize()(img)
    assert out.dtype == np.uint8 and out.shape == img.shape
    z = (img - img.mean()) / img.std()
    assert np.array_equal(out, np.clip(np.rint(127.5 + 42.5 * z), 0, 255).astype(np.uint8))
    assert abs(out.mean() - 127.5) < 0.6 and abs(out.std() - 42.5) < 0.6
    assert np.array_equal(Standardize()(np.full((4, 4), 9, np.uint8)), np.full((4, 4), 128))
    # brightness and contrast are gone: an affine change of the image changes nothing
    brighter = (img.astype(int) * 2 - 50).astype(np.uint8)
    assert np.abs(Standardize()(brighter).astype(int) - out.astype(int)).max() <= 1
    rgb = np.stack([img, img // 2, img // 3], -1)
    assert Standardize()(rgb).shape == rgb.shape
