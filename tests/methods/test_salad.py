"""Tests of the SALAD re-implementation: network shapes, rotations, the generator and
discriminator losses against hand computation, eval-mode scoring, one-epoch fit + score,
save/load, config errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from recon_testkit import SquaresSet, assert_scoring_is_eval_mode, check_save_load, check_scores

from reprolib.config import ConfigError
from reprolib.methods import create_method
from reprolib.methods.salad.model import (
    Salad,
    discriminator_losses,
    generator_losses,
    rotate_batch,
)

SMALL = {"img_size": 32, "latent": 8, "base_width": 4, "epochs": 1, "batch_size": 4}
LOG2 = math.log(2)


@pytest.mark.parametrize("size", [32, 64, 256])
def test_shapes(size: int) -> None:
    nets = Salad(size, 1, 6, 4, 16).eval()
    x = torch.rand(2, 1, size, size) * 2 - 1
    with torch.no_grad():
        z, rot = nets.encoder(x)
        x_rec = nets.generator(z)
        logit, _ = nets.image_discriminator(x_rec)
        lat = nets.latent_discriminator(z)
    assert z.shape == (2, 6) and rot.shape == (2, 4) and x_rec.shape == x.shape
    assert logit.shape == lat.shape == (2,)


def test_rotate_batch_turns_each_image_by_its_own_k() -> None:
    x = torch.arange(8.0).view(2, 1, 2, 2)
    out = rotate_batch(x, torch.tensor([0, 1]))
    assert torch.equal(out[0], x[0])
    assert torch.equal(out[1], torch.rot90(x[1], 1, dims=(1, 2)))


def test_losses_against_hand_computation() -> None:
    x = torch.zeros(1, 1, 2, 2)
    x_rec = torch.tensor([[[[2.0, 0.0], [0.0, 2.0]]]])  # L1 mean = 1
    z_prior, z_cycle = torch.zeros(1, 2), torch.tensor([[1.0, 3.0]])  # L2 mean = 5
    zero = torch.zeros(1)
    rot_logits = torch.zeros(1, 4)  # uniform: CE = ln 4
    losses = generator_losses(x, x_rec, z_prior, z_cycle, zero, zero, zero, rot_logits,
                              torch.tensor([2]), w_rec=10.0, w_adv_img=1.0, w_adv_lat=2.0,
                              w_cycle=0.5, w_ssl=3.0)
    assert float(losses["rec"]) == pytest.approx(1.0)
    assert float(losses["cycle"]) == pytest.approx(5.0)
    assert float(losses["adv_img"]) == pytest.approx(LOG2)
    assert float(losses["ssl"]) == pytest.approx(math.log(4))
    expected = 10 * 1 + 0.5 * 5 + LOG2 + 2 * LOG2 + 3 * math.log(4)
    assert float(losses["eg"]) == pytest.approx(expected)
    d = discriminator_losses(zero, zero, zero, zero, zero)
    assert float(d["d_img"]) == pytest.approx(LOG2) and float(d["d_lat"]) == pytest.approx(LOG2)


def test_fit_score_eval_mode_and_reload(tmp_path) -> None:
    data = SquaresSet(unit=False)
    method = create_method("salad", SMALL, device="cpu").fit(data)
    assert {"eg", "rec", "cycle", "adv_img", "adv_lat", "ssl", "d_img", "d_lat"} \
        <= set(method.history[0])
    scores = assert_scoring_is_eval_mode(method, data)
    check_scores(scores, len(data), 32)
    assert set(scores.extra) == {"latent", "rotation"}
    np.testing.assert_allclose(scores.image, scores.maps.mean(axis=(1, 2)), rtol=1e-5)
    check_save_load(method, data, tmp_path)


@pytest.mark.parametrize(("values", "message"), [
    ({"img_size": 8}, "img_size': expected a power of two >= 16"),
    ({"w_rec": 0.0}, "'w_rec': expected > 0"),
    ({"w_ssl": -1.0}, "'w_ssl': expected >= 0"),
    ({"max_width": "big"}, "'max_width'"),
])
def test_config_errors(values: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create_method("salad", values)
