"""Tests of pix2pix as an anomaly detector (reprolib.methods.pix2pix): the losses by hand, one
training step of G and D, scores against the reconstruction error, eval-mode scoring (dropout
off: scoring is deterministic), save/load, config errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from recon_testkit import SquaresSet, assert_scoring_is_eval_mode, check_save_load, check_scores
from step_testkit import check_one_step

from reprolib.config import ConfigError
from reprolib.methods import create_method
from reprolib.methods.pix2pix.model import pix2pix_d_loss, pix2pix_g_losses

SMALL = {"img_size": 32, "ngf": 4, "ndf": 4, "epochs": 1, "batch_size": 8}


def test_losses_by_hand() -> None:
    x, x_hat = torch.zeros(1, 1, 2, 2), torch.tensor([[[[1.0, -1.0], [0.0, 2.0]]]])  # L1 1.0
    logits = torch.zeros(1, 1, 3, 3)
    terms = pix2pix_g_losses(x, x_hat, logits, l1_weight=100.0)
    assert float(terms["l1"]) == pytest.approx(1.0)
    assert float(terms["g_gan"]) == pytest.approx(math.log(2))
    assert float(terms["g"]) == pytest.approx(math.log(2) + 100.0)
    assert float(pix2pix_d_loss(logits, logits)) == pytest.approx(math.log(2))


def test_one_step_score_and_reload(tmp_path) -> None:
    data = SquaresSet(unit=False)
    method = create_method("pix2pix", SMALL, device="cpu")
    assert method.normalize == "tanh" and method.config.l1_weight == 100.0
    assert method.discriminator.model[0].in_channels == 2  # conditional: sees (input, output)
    check_one_step(method, data, ["generator", "discriminator"])
    assert {"g", "g_gan", "l1", "d"} <= set(method.history[0])
    scores = assert_scoring_is_eval_mode(method, data)
    check_scores(scores, len(data), 32)
    with torch.no_grad():
        diff = method.generator(data.images) - data.images
    np.testing.assert_allclose(scores.image, (diff ** 2).mean(dim=(1, 2, 3)).numpy(), rtol=1e-5)
    np.testing.assert_allclose(scores.maps, diff.abs().mean(dim=1).numpy(), rtol=1e-5,
                               atol=1e-7)
    np.testing.assert_allclose(scores.extra["l1"], scores.maps.mean(axis=(1, 2)), rtol=1e-5)
    check_save_load(method, data, tmp_path)


@pytest.mark.parametrize(("values", "message"), [
    ({"img_size": 16}, "img_size': expected a power of two >= 32"),
    ({"beta1": 1.0}, "'beta1': expected in"),
    ({"ngf": 0}, "'ngf': expected > 0"),
])
def test_config_errors(values: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create_method("pix2pix", values)


def test_a_step_budget_overrides_epochs() -> None:
    method = create_method("pix2pix", {**SMALL, "batch_size": 4, "epochs": 5, "steps": 3},
                           device="cpu").fit(SquaresSet(unit=False))
    assert method.history[-1]["steps"] == 3 and len(method.history) == 2
