"""Tests of MemAE (reprolib.methods.memae): shapes, the loss by hand, one training step, the
score against the squared reconstruction error, eval-mode scoring, save/load, config errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from recon_testkit import SquaresSet, assert_scoring_is_eval_mode, check_save_load, check_scores
from step_testkit import check_one_step

from reprolib.config import ConfigError
from reprolib.methods import create_method
from reprolib.methods.memae.model import MemAENet, memae_loss

SMALL = {"img_size": 32, "widths": [4, 8, 8], "latent": 6, "n_items": 10, "epochs": 1,
         "batch_size": 8}


@pytest.mark.parametrize("size", [32, 64])
def test_shapes(size: int) -> None:
    net = MemAENet(1, (4, 8, 8, 16), 6, 10, None, "cosine").eval()
    x = torch.rand(2, 1, size, size)
    x_hat, att = net(x)
    assert x_hat.shape == x.shape and att.shape == (2, 10, size // 16, size // 16)
    torch.testing.assert_close(att.sum(dim=1), torch.ones(2, size // 16, size // 16))
    assert net.memory.shrink_thres == pytest.approx(0.1)


def test_loss_by_hand() -> None:
    x, x_hat = torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), 0.5)
    att = torch.tensor([[0.5, 0.5], [1.0, 0.0]])  # entropies ln 2 and 0
    terms = memae_loss(x, x_hat, att, entropy_weight=0.0002)
    assert float(terms["rec"]) == pytest.approx(0.25)
    assert float(terms["entropy"]) == pytest.approx(np.log(2) / 2, abs=1e-6)
    assert float(terms["loss"]) == pytest.approx(0.25 + 0.0002 * np.log(2) / 2)


def test_one_step_score_and_reload(tmp_path) -> None:
    data = SquaresSet()
    method = create_method("memae", SMALL, device="cpu")
    assert method.config.entropy_weight == 0.0002 and method.normalize == "unit"
    check_one_step(method, data, ["net"])
    assert {"loss", "rec", "entropy"} <= set(method.history[0])
    scores = assert_scoring_is_eval_mode(method, data)
    check_scores(scores, len(data), 32)
    with torch.no_grad():
        x_hat, _ = method.net(data.images)
    expected = ((x_hat - data.images) ** 2).mean(dim=1)
    np.testing.assert_allclose(scores.maps, expected.numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(scores.image, expected.mean(dim=(1, 2)).numpy(), rtol=1e-5)
    check_save_load(method, data, tmp_path)


@pytest.mark.parametrize(("values", "message"), [
    ({"img_size": 40}, "multiple of 2\\*\\*len\\(widths\\)"),
    ({"shrink_thres": 1.5}, "'shrink_thres': expected in \\[0, 1\\)"),
    ({"similarity": "l2"}, "'similarity': expected one of"),
    ({"n_items": 0}, "'n_items': expected > 0"),
    ({"n_items": 1}, "'shrink_thres': null means 1/N = 1"),
])
def test_config_errors(values: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create_method("memae", values)


def test_a_memory_of_one_item_gives_one_reconstruction_for_every_image() -> None:
    method = create_method("memae", {**SMALL, "n_items": 1, "shrink_thres": 0.0}, device="cpu")
    method.eval_mode()
    with torch.no_grad():
        x_hat, att = method.net(SquaresSet().images)
    torch.testing.assert_close(att, torch.ones_like(att))
    torch.testing.assert_close(x_hat, x_hat[:1].expand_as(x_hat))
