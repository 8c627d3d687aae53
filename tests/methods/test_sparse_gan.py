"""Tests of the Sparse-GAN re-implementation (reprolib.methods.sparse_gan): shapes, the losses
by hand, a non-negative sparse code, one training step of G and D, the latent score against
hand computation, eval-mode scoring, save/load, config errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from recon_testkit import SquaresSet, assert_scoring_is_eval_mode, check_save_load, check_scores
from step_testkit import check_one_step

from reprolib.config import ConfigError
from reprolib.methods import create_method
from reprolib.methods.sparse_gan.model import (
    SparseGANGenerator,
    latent_score,
    sparse_gan_g_losses,
)

SMALL = {"img_size": 32, "widths": [4, 8, 8], "latent": 6, "ndf": 4, "epochs": 1,
         "batch_size": 8}


@pytest.mark.parametrize("size", [32, 64])
def test_shapes_and_nonnegative_code(size: int) -> None:
    gen = SparseGANGenerator(1, (4, 8, 8, 16), 6).eval()
    x = torch.rand(2, 1, size, size) * 2 - 1
    with torch.no_grad():
        x_hat, z, s, z_hat = gen(x)
    assert x_hat.shape == x.shape and x_hat.abs().max() <= 1
    assert z.shape == s.shape == z_hat.shape == (2, 6, size // 16, size // 16)
    assert (s >= 0).all()


def test_losses_and_score_by_hand() -> None:
    x, x_hat = torch.zeros(1, 1, 2, 2), torch.tensor([[[[1.0, -1.0], [0.0, 2.0]]]])  # L1 1.0
    z, z_hat = torch.zeros(1, 2, 1, 1), torch.tensor([[[[2.0]], [[0.0]]]])  # L2 mean 2.0
    s = torch.tensor([[[[0.0]], [[3.0]]]])  # L1 mean 1.5
    terms = sparse_gan_g_losses(x, x_hat, z, s, z_hat, torch.zeros(1, 1, 3, 3), w_adv=1.0,
                                w_con=50.0, w_lat=1.0, w_sparse=2.0)
    assert float(terms["adv"]) == pytest.approx(np.log(2))
    assert float(terms["con"]) == pytest.approx(1.0)
    assert float(terms["lat"]) == pytest.approx(2.0)
    assert float(terms["sparse"]) == pytest.approx(1.5)
    assert float(terms["g"]) == pytest.approx(np.log(2) + 50 + 2 + 3)
    np.testing.assert_allclose(latent_score(z, z_hat).numpy(), [2.0])


def test_one_step_score_and_reload(tmp_path) -> None:
    data = SquaresSet(unit=False)
    method = create_method("sparse_gan", SMALL, device="cpu")
    assert method.normalize == "tanh"
    check_one_step(method, data, ["generator", "discriminator"])
    assert {"g", "adv", "con", "lat", "sparse", "d"} <= set(method.history[0])
    scores = assert_scoring_is_eval_mode(method, data)
    check_scores(scores, len(data), 32)
    with torch.no_grad():
        x_hat, z, s, z_hat = method.generator(data.images)
    np.testing.assert_allclose(scores.image, latent_score(z, z_hat).numpy(), rtol=1e-5)
    np.testing.assert_allclose(scores.maps, (x_hat - data.images).abs().mean(dim=1).numpy(),
                               rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(scores.extra["sparsity"], s.abs().mean(dim=(1, 2, 3)).numpy(),
                               rtol=1e-5)
    check_save_load(method, data, tmp_path)


@pytest.mark.parametrize(("values", "message"), [
    ({"img_size": 16, "widths": [4, 8]}, "'img_size': expected >= 32"),
    ({"img_size": 40}, "multiple of 2\\*\\*len\\(widths\\)"),
    ({"w_con": 0.0}, "'w_con': expected > 0"),
    ({"w_sparse": -1.0}, "'w_sparse': expected >= 0"),
])
def test_config_errors(values: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create_method("sparse_gan", values)
