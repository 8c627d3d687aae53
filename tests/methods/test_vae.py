"""Tests of the ``vae`` baseline: shapes, KL and negative ELBO against hand computation,
deterministic eval-mode scoring, one-epoch fit + score, save/load, config errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from recon_testkit import SquaresSet, assert_scoring_is_eval_mode, check_save_load, check_scores

from reprolib.config import ConfigError
from reprolib.methods import create_method
from reprolib.methods.vae.model import ConvVAE, kl_divergence, vae_loss

SMALL = {"img_size": 32, "widths": [4, 8, 8, 8], "latent": 8, "epochs": 1, "batch_size": 4}


@pytest.mark.parametrize("size", [32, 64, 256])
def test_shapes_and_eval_uses_the_mean(size: int) -> None:
    net = ConvVAE(size, 3, (4, 8, 8, 8), 6)
    x = torch.rand(2, 3, size, size)
    net.eval()
    with torch.no_grad():
        x_hat, mu, logvar = net(x)
        again, _, _ = net(x)
    assert x_hat.shape == x.shape and mu.shape == logvar.shape == (2, 6)
    assert torch.equal(x_hat, again)  # no sampling in eval mode


def test_kl_and_loss_against_hand_computation() -> None:
    mu = torch.tensor([[1.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(2.0)]])
    # -0.5 * [(1 + 0 - 1 - 1) + (1 + ln 2 - 0 - 2)] = 1 - ln(2) / 2
    assert float(kl_divergence(mu, logvar)[0]) == pytest.approx(1 - math.log(2) / 2)
    x = torch.zeros(1, 1, 2, 2)
    x_hat = torch.tensor([[[[1.0, 0.0], [0.5, 0.0]]]])
    total, recon, kl = vae_loss(x, x_hat, mu, logvar, kl_weight=2.0)
    assert float(recon) == pytest.approx(1.25)
    assert float(total) == pytest.approx(1.25 + 2 * (1 - math.log(2) / 2))
    assert float(kl) == pytest.approx(1 - math.log(2) / 2)


def test_fit_score_eval_mode_and_reload(tmp_path) -> None:
    data = SquaresSet()
    method = create_method("vae", SMALL, device="cpu").fit(data)
    assert set(method.history[0]) == {"epoch", "loss", "recon", "kl", "steps", "seconds"}
    scores = assert_scoring_is_eval_mode(method, data)
    check_scores(scores, len(data), 32)
    np.testing.assert_allclose(scores.image, scores.maps.mean(axis=(1, 2)), rtol=1e-5)
    assert set(scores.extra) == {"elbo", "kl"}
    check_save_load(method, data, tmp_path)


@pytest.mark.parametrize(("values", "message"), [
    ({"img_size": 24}, "img_size': expected a multiple"),
    ({"kl_weight": -1.0}, "'kl_weight': expected >= 0"),
    ({"batch_size": 0}, "'batch_size': expected > 0"),
    ({"latent": "8"}, "'latent': expected int"),
])
def test_config_errors(values: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create_method("vae", values)
