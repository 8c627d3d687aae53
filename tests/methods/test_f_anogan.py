"""Tests of f-AnoGAN: residual generator / critic / encoder shapes, the gradient penalty and the
izi_f terms against hand computation, frozen G and critic during encoder training, eval-mode
scoring, one-epoch fit + score, save/load, config errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from recon_testkit import SquaresSet, assert_scoring_is_eval_mode, check_save_load, check_scores
from torch import nn

from reprolib.config import ConfigError
from reprolib.methods import create_method
from reprolib.methods.f_anogan.model import (
    Critic,
    Generator,
    gradient_penalty,
    izif_terms,
    width_multipliers,
)

SMALL = {"img_size": 32, "z_dim": 8, "dim": 4, "epochs": 1, "encoder_epochs": 1,
         "batch_size": 4, "n_critic": 2}


def test_width_multipliers_match_the_64px_reference() -> None:
    assert width_multipliers(64) == [8, 8, 4, 2, 1]
    assert width_multipliers(256) == [8, 8, 8, 8, 4, 2, 1]
    with pytest.raises(ValueError, match="4 \\* 2\\*\\*k"):
        width_multipliers(48)


@pytest.mark.parametrize("size", [32, 64, 256])
def test_shapes(size: int) -> None:
    gen, critic = Generator(size, 1, 8, 2).eval(), Critic(size, 1, 2)
    encoder = Critic(size, 1, 2, out_dim=8, tanh=True)
    z = torch.randn(3, 8)
    with torch.no_grad():
        x = gen(z)
        code = encoder(x)
    assert x.shape == (3, 1, size, size) and x.abs().max() <= 1
    assert critic(x).shape == (3,) and critic.features(x).shape == (3, 2 * 8 * 16)
    assert code.shape == (3, 8) and code.abs().max() <= 1
    assert not any(isinstance(m, nn.BatchNorm2d) for m in critic.modules())


class Linear(nn.Module):
    """Critic f(x) = sum(w * x): its input gradient is w everywhere."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.w).flatten(1).sum(dim=1)


def test_gradient_penalty_and_izif_terms_against_hand_computation() -> None:
    w = torch.full((1, 1, 2, 2), 1.5)  # ||w||_2 = 3
    real, fake = torch.rand(4, 1, 2, 2), torch.rand(4, 1, 2, 2)
    assert float(gradient_penalty(Linear(w), real, fake)) == pytest.approx((3 - 1) ** 2)
    x = torch.zeros(2, 1, 2, 2)
    x_rec = torch.tensor([[1.0, 1.0, 1.0, 1.0], [2.0, 0.0, 0.0, 0.0]]).view(2, 1, 2, 2)
    image, feature = izif_terms(x, x_rec, torch.zeros(2, 2), torch.tensor([[1.0, 3.0],
                                                                           [0.0, 0.0]]))
    np.testing.assert_allclose(image.numpy(), [1.0, 1.0])
    np.testing.assert_allclose(feature.numpy(), [5.0, 0.0])


def test_fit_freezes_g_and_critic_then_scores_in_eval_mode(tmp_path) -> None:
    data = SquaresSet(unit=False)
    method = create_method("f_anogan", SMALL, device="cpu")
    method.fit_gan(data)
    g_before = {k: v.clone() for k, v in method.generator.state_dict().items()}
    d_before = {k: v.clone() for k, v in method.critic.state_dict().items()}
    e_before = {k: v.clone() for k, v in method.encoder.state_dict().items()}
    method.fit_encoder(data)
    for k, v in method.generator.state_dict().items():
        assert torch.equal(v, g_before[k]), k
    for k, v in method.critic.state_dict().items():
        assert torch.equal(v, d_before[k]), k
    assert any(not torch.equal(v, e_before[k]) for k, v in method.encoder.state_dict().items())
    assert all(p.requires_grad for p in method.generator.parameters())
    assert {"critic", "w_dist", "gp", "g_last"} <= set(method.history[0])
    assert {"izif", "izif_image", "izif_feature"} <= set(method.history[1])
    scores = assert_scoring_is_eval_mode(method, data)
    check_scores(scores, len(data), 32)
    np.testing.assert_allclose(scores.image, scores.extra["residual"] + scores.extra["feature"],
                               rtol=1e-6)
    check_save_load(method, data, tmp_path)


@pytest.mark.parametrize(("values", "message"), [
    ({"img_size": 96}, "img_size': expected a power of two"),
    ({"n_critic": 0}, "'n_critic': expected > 0"),
    ({"betas": [0.0, 1.0]}, "'betas': expected two values"),
    ({"betas": [0.5]}, "config key 'betas': expected 2 values"),
])
def test_config_errors(values: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create_method("f_anogan", values)
