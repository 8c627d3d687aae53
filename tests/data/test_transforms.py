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
