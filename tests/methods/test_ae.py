"""Tests of the ``ae`` baseline: shapes at several sizes, score/map against hand computation,
eval-mode scoring, one-epoch fit + score, save/load, config errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from recon_testkit import SquaresSet, assert_scoring_is_eval_mode, check_save_load, check_scores
from torch import nn

from reprolib.config import ConfigError
from reprolib.methods import create_method
from reprolib.methods.ae.model import ConvAE

SMALL = {"img_size": 32, "widths": [4, 8, 8, 8], "latent": 8, "epochs": 1, "batch_size": 4}


@pytest.mark.parametrize("bottleneck", ["dense", "spatial"])
@pytest.mark.parametrize("size", [32, 64, 256])
def test_shapes(size: int, bottleneck: str) -> None:
    net = ConvAE(size, 1, (4, 8, 8, 8), 8, bottleneck).eval()
    x = torch.rand(2, 1, size, size)
    with torch.no_grad():
        out = net(x)
        code = net.encoder(x)
    assert out.shape == x.shape
    assert ((out >= 0) & (out <= 1)).all()
    expected = (2, 8) if bottleneck == "dense" else (2, 8, size // 16, size // 16)
    assert tuple(code.shape) == expected


class Constant(nn.Module):
    """Stand-in network reconstructing every image as a constant 0.5."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.full_like(x, 0.5)


def test_score_and_loss_match_hand_computation() -> None:
    method = create_method("ae", {**SMALL, "img_size": 16, "widths": [4]}, device="cpu")
    method.net = Constant()
    data = SquaresSet(n=2, size=16, channels=2, anomalous=1)
    scores = method.score(data)
    x = data.images.numpy()
    hand_map = ((x - 0.5) ** 2).mean(axis=1)
    np.testing.assert_allclose(scores.maps, hand_map, rtol=1e-6)
    np.testing.assert_allclose(scores.image, hand_map.mean(axis=(1, 2)), rtol=1e-6)
    assert float(method.loss(data.images)) == pytest.approx(float(((x - 0.5) ** 2).mean()))
    assert scores.image[1] > scores.image[0]  # the bright square is far from 0.5


def test_fit_score_eval_mode_and_reload(tmp_path) -> None:
    data = SquaresSet()
    method = create_method("ae", SMALL, device="cpu").fit(data)
    assert len(method.history) == 1 and np.isfinite(method.history[0]["mse"])
    check_scores(assert_scoring_is_eval_mode(method, data), len(data), 32)
    check_save_load(method, data, tmp_path)


@pytest.mark.parametrize(("values", "message"), [
    ({"img_size": 40}, "img_size': expected a multiple of 2\\*\\*len\\(widths\\) = 16"),
    ({"lr": -1.0}, "'lr': expected > 0"),
    ({"latent": 0}, "'latent': expected > 0"),
    ({"bottleneck": "flat"}, "'bottleneck': expected one of"),
    ({"epoch": 3}, "unknown config key 'epoch'"),
])
def test_config_errors(values: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create_method("ae", values)
