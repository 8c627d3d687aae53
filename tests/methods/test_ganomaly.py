"""Tests of GANomaly: network shapes, the three generator losses, the discriminator loss and
the latent score against hand computation, eval-mode scoring, one-epoch fit + score,
save/load, config errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from recon_testkit import SquaresSet, assert_scoring_is_eval_mode, check_save_load, check_scores

from reprolib.blocks.dcgan import DCGANDiscriminator, dcgan_widths
from reprolib.config import ConfigError
from reprolib.methods import create_method
from reprolib.methods.ganomaly.model import (
    GanomalyGenerator,
    discriminator_loss,
    generator_losses,
    latent_score,
)

SMALL = {"img_size": 32, "latent": 8, "base_width": 4, "epochs": 1, "batch_size": 4}


@pytest.mark.parametrize("size", [32, 64, 256])
def test_shapes(size: int) -> None:
    gen = GanomalyGenerator(size, 1, 10, 4, 16).eval()
    disc = DCGANDiscriminator(size, 1, 4, 16).eval()
    x = torch.rand(2, 1, size, size) * 2 - 1
    with torch.no_grad():
        x_hat, z, z_hat = gen(x)
        logit, features = disc(x)
    assert x_hat.shape == x.shape and z.shape == z_hat.shape == (2, 10)
    assert logit.shape == (2,) and features.shape == (2, min(4 * size // 8, 16), 4, 4)


def test_widths_double_until_4x4_and_respect_the_cap() -> None:
    assert dcgan_widths(64, 64) == [64, 128, 256, 512]
    assert dcgan_widths(256, 64, 512) == [64, 128, 256, 512, 512, 512]
    with pytest.raises(ValueError, match="power of two"):
        dcgan_widths(48, 64)


def test_losses_against_hand_computation() -> None:
    x = torch.zeros(1, 1, 2, 2)
    x_hat = torch.tensor([[[[1.0, -1.0], [0.0, 2.0]]]])  # L1 mean = 1.0
    z, z_hat = torch.tensor([[0.0, 1.0]]), torch.tensor([[2.0, 1.0]])  # L2 mean = 2.0
    f_real, f_fake = torch.ones(1, 3), torch.zeros(1, 3)  # L2 mean = 1.0
    losses = generator_losses(x, x_hat, z, z_hat, f_real, f_fake)
    assert float(losses["con"]) == pytest.approx(1.0)
    assert float(losses["enc"]) == pytest.approx(2.0)
    assert float(losses["adv"]) == pytest.approx(1.0)
    assert float(losses["g"]) == pytest.approx(1 * 1.0 + 50 * 1.0 + 1 * 2.0)
    assert float(discriminator_loss(torch.zeros(3), torch.zeros(3))) == pytest.approx(math.log(2))
    np.testing.assert_allclose(latent_score(z, z_hat).numpy(), [2.0])


def test_fit_score_eval_mode_and_reload(tmp_path) -> None:
    data = SquaresSet(unit=False)
    method = create_method("ganomaly", SMALL, device="cpu").fit(data)
    assert {"g", "adv", "con", "enc", "d"} <= set(method.history[0])
    assert method.normalize == "tanh"
    scores = assert_scoring_is_eval_mode(method, data)
    check_scores(scores, len(data), 32)
    x = data.images.to(method.device)
    with torch.no_grad():
        x_hat, z, z_hat = method.generator(x)
    np.testing.assert_allclose(scores.image, latent_score(z, z_hat).numpy(), rtol=1e-5)
    check_save_load(method, data, tmp_path)


@pytest.mark.parametrize(("values", "message"), [
    ({"img_size": 48}, "img_size': expected a power of two"),
    ({"max_width": 2}, "'max_width': expected >= base_width"),
    ({"beta1": 1.5}, "'beta1': expected in"),
    ({"w_con": 0.0}, "'w_con': expected > 0"),
])
def test_config_errors(values: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create_method("ganomaly", values)
