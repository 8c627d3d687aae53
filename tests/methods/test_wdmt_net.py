"""Tests of the WDMT-Net baseline: the alpha schedule by hand, the weight-decay skip, the HOG
target against scikit-image, tiling, one training step, scoring and save/load."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from recon_testkit import assert_scoring_is_eval_mode, check_save_load
from skimage.feature import hog
from tinydata import TinyDataset

from reprolib.config import ConfigError
from reprolib.methods import create_method
from reprolib.methods.wdmt_net.method import tile, untile
from reprolib.methods.wdmt_net.model import WDMTNet, WeightDecayUp, alpha_at, hog_target

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = {"img_size": 32, "base": 4, "epochs": 2, "batch_size": 2, "hog_cells": [4, 8]}


def test_alpha_schedule_by_hand() -> None:
    # delta 0.05 per epoch, 4 iterations per epoch: -0.0125 per iteration, 0 after 20 epochs
    assert alpha_at(1, 0.05, 4) == pytest.approx(0.9875)
    assert alpha_at(4, 0.05, 4) == pytest.approx(0.95)  # end of epoch 1
    assert alpha_at(40, 0.05, 4) == pytest.approx(0.5)
    assert alpha_at(80, 0.05, 4) == pytest.approx(0.0, abs=1e-12)
    assert alpha_at(81, 0.05, 4) == 0.0  # clamped
    assert alpha_at(10, 0.0, 4) == 1.0    # delta 0: the plain U-Net


def test_weight_decay_skip_is_ignored_at_alpha_zero() -> None:
    up = WeightDecayUp(4, 2).eval()
    x, skip = torch.rand(1, 4, 4, 4), torch.rand(1, 4, 8, 8)
    other = torch.rand(1, 4, 8, 8)
    assert torch.equal(up(x, skip, 0.0), up(x, other, 0.0))
    assert not torch.equal(up(x, skip, 1.0), up(x, other, 1.0))


def test_network_shapes() -> None:
    net = WDMTNet(1, 2, base=4)
    assert net(torch.rand(2, 1, 32, 32), 0.5).shape == (2, 2, 32, 32)
    assert net.downs[-1][1][3].out_channels == 32  # widths 4-8-16-32-32 (64-...-512-512)
    assert [u.conv[3].out_channels for u in net.ups] == [16, 8, 4, 4]


def test_hog_target_is_skimage_visualisation() -> None:
    image = np.random.default_rng(0).random((32, 32))
    target = hog_target(image, 8)
    _, vis = hog(image, orientations=9, pixels_per_cell=(8, 8), cells_per_block=(1, 1),
                 block_norm="L2", visualize=True, feature_vector=False)
    assert target.shape == (32, 32) and target.dtype == np.float32
    np.testing.assert_allclose(target, np.clip(vis, 0, 1), atol=1e-6)
    assert target.min() >= 0 and target.max() <= 1
    assert not hog_target(np.full((32, 32), 0.5), 4).any()  # no gradients, no strokes
    with pytest.raises(ValueError, match="2-D"):
        hog_target(np.zeros((1, 8, 8)), 4)


def test_tile_untile_round_trip() -> None:
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).reshape(2, 1, 6, 6)
    tiles = tile(x, 3)
    assert tiles.shape == (18, 1, 2, 2)
    assert torch.equal(tiles[1], x[0, :, 0:2, 2:4])  # row-major: second tile of the top row
    assert torch.equal(untile(tiles, 3), x)


def test_training_steps_alpha_scores_and_save_load(tmp_path) -> None:
    data = TinyDataset(n=4, channels=1, size=32, anomalous=1)
    method = create_method("wdmt_net", TINY, seed=0, device="cpu")
    before = {k: v.clone() for k, v in method.net.state_dict().items()}
    method.fit(data)
    # 2 epochs x 2 iterations: alpha = 1 - 4 x 0.05 / 2
    assert method.alpha == pytest.approx(0.9)
    record = method.history[-1]
    assert {"loss", "mse_image", "mse_hog"} <= set(record)
    assert all(math.isfinite(v) for v in record.values())
    assert record["loss"] == pytest.approx(record["mse_image"] + record["mse_hog"], rel=1e-5)
    assert any(not torch.equal(before[k], v) for k, v in method.net.state_dict().items())
    scores = assert_scoring_is_eval_mode(method, data)
    assert scores.image.shape == (4,) and scores.maps.shape == (4, 32, 32)
    np.testing.assert_allclose(scores.image, scores.maps.mean(axis=(1, 2)), rtol=1e-5)
    check_save_load(method, data, tmp_path)
    clone = create_method("wdmt_net", TINY, device="cpu").load(tmp_path / "wdmt_net.pt")
    assert clone.alpha == method.alpha


def test_tiled_scoring_keeps_the_image_size() -> None:
    method = create_method("wdmt_net", {**TINY, "img_size": 96, "tiles": 3, "epochs": 0},
                           device="cpu")
    scores = method.score(TinyDataset(n=2, channels=1, size=96))
    assert scores.maps.shape == (2, 96, 96)


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="multiple of 16 x tiles"):
        create_method("wdmt_net", {**TINY, "tiles": 3})
    with pytest.raises(ConfigError, match="hog_cells"):
        create_method("wdmt_net", {**TINY, "hog_cells": [64]})
    with pytest.raises(ConfigError, match="blur_sigma"):
        create_method("wdmt_net", {**TINY, "blur_sigma": [2.0, 1.0]})
