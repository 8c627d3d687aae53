"""Tests of the MKD baseline: tap shapes, loss against hand computation, frozen source,
eval-mode scoring with gradient and difference maps, one-epoch fit + score at 64 px, config
errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from distill_testkit import RGBSet

from reprolib.config import ConfigError
from reprolib.methods import create_method
from reprolib.methods.mkd.model import MKD_TAPS, make_cloner, mkd_sample_losses

# offline: no download attempts, the backbone falls back to random init, recorded as such
pytestmark = [pytest.mark.filterwarnings("ignore:.*ImageNet weights.*"),
              pytest.mark.usefixtures("offline")]


SMALL = {"img_size": 64, "epochs": 1, "batch_size": 4}


def test_source_and_cloner_tap_shapes() -> None:
    method = create_method("mkd", SMALL, device="cpu")
    x = torch.rand(2, 3, 64, 64)
    shapes = {"pool2": (2, 128, 16, 16), "pool3": (2, 256, 8, 8), "pool4": (2, 512, 4, 4),
              "pool5": (2, 512, 2, 2)}
    assert {k: tuple(v.shape) for k, v in method.source(x).items()} == shapes
    assert {k: tuple(v.shape) for k, v in method.cloner(x).items()} == shapes
    n_source = sum(p.numel() for p in method.source.parameters())
    n_cloner = sum(p.numel() for p in method.cloner.parameters())
    assert n_cloner < n_source / 10  # the cloner is much thinner
    convs = [m for m in make_cloner(16) if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [16, 16, 16, 128, 16, 16, 256, 16, 16, 512,
                                               16, 16, 512]


def test_loss_against_hand_computation() -> None:
    # tap a: (1,0) vs (0,1): 1 - cos = 1, MSE = (1 + 1) / 2 = 1
    # tap b: (1,2) vs (2,4): 1 - cos = 0, MSE = (1 + 4) / 2 = 2.5
    source = {"a": torch.tensor([[[[1.0, 0.0]]]]), "b": torch.tensor([[[[1.0]], [[2.0]]]])}
    cloner = {"a": torch.tensor([[[[0.0, 1.0]]]]), "b": torch.tensor([[[[2.0]], [[4.0]]]])}
    terms = mkd_sample_losses(source, cloner, ["a", "b"], lamda=0.01)
    torch.testing.assert_close(terms["direction"], torch.tensor([1.0]))
    torch.testing.assert_close(terms["value"], torch.tensor([3.5]))
    torch.testing.assert_close(terms["total"], torch.tensor([1.035]))


@pytest.mark.parametrize("map_mode", ["gradient", "difference"])
def test_fit_leaves_source_unchanged_and_scores(map_mode: str) -> None:
    method = create_method("mkd", {**SMALL, "map_mode": map_mode}, seed=0, device="cpu")
    before = {k: v.clone() for k, v in method.source.state_dict().items()}
    cloner_before = {k: v.clone() for k, v in method.cloner.state_dict().items()}
    method.fit(RGBSet())
    assert all(torch.equal(before[k], v) for k, v in method.source.state_dict().items())
    assert any(not torch.equal(cloner_before[k], v)
               for k, v in method.cloner.state_dict().items())
    assert np.isfinite(method.history[0]["loss"])
    test = RGBSet(n=6, anomalous=2, seed=1)
    method.cloner.zero_grad(set_to_none=True)
    scores = method.score(test)
    assert all(p.grad is None for p in method.cloner.parameters())  # maps touch no weights
    assert scores.image.shape == (6,) and scores.maps.shape == (6, 64, 64)
    assert np.all(scores.maps >= 0) and scores.maps.max() > 0
    np.testing.assert_allclose(scores.image,
                               scores.extra["direction"] + 0.01 * scores.extra["value"],
                               rtol=1e-5)
    assert not method.cloner.training and not method.source.training
    method.config = method.config.replace(batch_size=1)
    again = method.score(test)
    np.testing.assert_allclose(again.image, scores.image, rtol=1e-4)
    np.testing.assert_allclose(again.maps, scores.maps, rtol=1e-3, atol=1e-6)


def test_gradient_map_equals_per_image_autograd() -> None:
    method = create_method("mkd", SMALL, seed=0, device="cpu")
    method.eval_mode()
    x = torch.rand(2, 3, 64, 64)
    _, batch_map = method._score_batch(x)
    x0 = x[:1].clone().requires_grad_(True)
    terms = mkd_sample_losses(method.source(x0), method.cloner(x0), MKD_TAPS, 0.01)
    (grad,) = torch.autograd.grad(terms["total"].sum(), x0)
    torch.testing.assert_close(batch_map[:1], grad.abs().sum(dim=1), rtol=1e-4, atol=1e-8)


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="in_channels"):
        create_method("mkd", {"in_channels": 1})
    with pytest.raises(ConfigError, match="multiple of 32"):
        create_method("mkd", {"img_size": 48})
    with pytest.raises(ConfigError, match="map_mode"):
        create_method("mkd", {"map_mode": "saliency"})
    with pytest.raises(ConfigError, match="cloner_thin"):
        create_method("mkd", {"cloner_thin": 0})
