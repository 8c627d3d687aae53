"""Tests of CycleGAN between images and proxies (reprolib.methods.cyclegan): the losses by
hand, the Gaussian-blur proxy, a registered proxy, one training step of both generators and
both discriminators, scores against image -> proxy -> image, save/load, config errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from recon_testkit import SquaresSet, check_save_load, check_scores
from step_testkit import check_one_step

from reprolib.config import ConfigError
from reprolib.methods import create_method
from reprolib.methods.cyclegan import model as cyclegan_model
from reprolib.methods.cyclegan.model import cycle_d_loss, cycle_g_losses, gaussian_blur_proxy

SMALL = {"img_size": 32, "ngf": 4, "ndf": 4, "n_blocks": 1, "epochs": 1, "batch_size": 8,
         "pool_size": 4}


def test_losses_by_hand() -> None:
    a, b = torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2)
    half = torch.full((1, 1, 2, 2), 0.5)
    logits = torch.zeros(1, 1, 3, 3)  # LSGAN against "real": 1 each
    terms = cycle_g_losses(a, b, half, half, half, half, half, half, logits, logits,
                           lambda_a=10.0, lambda_b=10.0, lambda_idt=0.5)
    assert float(terms["g_a"]) == float(terms["g_b"]) == pytest.approx(1.0)
    assert float(terms["cycle_a"]) == float(terms["cycle_b"]) == pytest.approx(5.0)
    assert float(terms["idt_a"]) == float(terms["idt_b"]) == pytest.approx(2.5)
    assert float(terms["g"]) == pytest.approx(2 + 10 + 5)
    no_idt = cycle_g_losses(a, b, half, half, half, half, None, None, logits, logits,
                            lambda_a=10.0, lambda_b=10.0, lambda_idt=0.0)
    assert float(no_idt["g"]) == pytest.approx(12.0)
    assert float(cycle_d_loss(logits + 1, logits)) == pytest.approx(0.0)
    assert float(cycle_d_loss(logits, logits + 1)) == pytest.approx(1.0)


def test_gaussian_blur_proxy_smooths_and_keeps_constants() -> None:
    config = type("C", (), {"proxy_sigma": 2.0})()
    flat = torch.full((1, 1, 16, 16), 0.3)
    torch.testing.assert_close(gaussian_blur_proxy(flat, ["a"], config), flat)
    spike = torch.zeros(1, 1, 17, 17)
    spike[0, 0, 8, 8] = 1.0
    blurred = gaussian_blur_proxy(spike, ["a"], config)
    assert float(blurred.sum()) == pytest.approx(1.0, abs=1e-5)
    assert float(blurred.max()) == pytest.approx(1 / (2 * np.pi * 4), rel=0.05)


def test_si_proxy_is_proxyanos_superpixel_image_computed_once(monkeypatch) -> None:
    from reprolib.blocks import superpixel

    # two flat halves: every superpixel lies in one half, so the SI is the image itself
    image = torch.full((1, 1, 32, 32), -0.6)
    image[..., 16:] = 0.8
    calls: list[int] = []
    compute = superpixel.compute_proxy

    def counted(img, spec):
        calls.append(1)
        assert spec.kind == "si" and spec.n_segments == 800
        return compute(img, spec)

    monkeypatch.setattr(superpixel, "compute_proxy", counted)
    monkeypatch.setattr(cyclegan_model, "_SI_CACHE", {})
    batch = torch.cat([image, image.flip(-1)])
    si = cyclegan_model.PROXIES["si"](batch, ["a", "b"], None)
    torch.testing.assert_close(si, batch, atol=1e-5, rtol=0)
    # a textured image: constant on each SLIC region, with the region means of [0, 1] pixels
    texture = torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    si = cyclegan_model.superpixel_proxy(texture, ["c"], None)
    expected = superpixel.superpixel_image(((texture[0] + 1) / 2).numpy(),
                                           n_segments=superpixel.ProxySpec().segments_at(32))
    np.testing.assert_allclose(si[0].numpy(), expected * 2 - 1, atol=1e-5)
    assert len(calls) == 3
    cyclegan_model.superpixel_proxy(torch.cat([texture, batch]), ["c", "a", "b"], None)
    assert len(calls) == 3  # cached by content: SLIC ran once per image


def test_one_step_score_and_reload(tmp_path, monkeypatch) -> None:
    data = SquaresSet(unit=False)
    method = create_method("cyclegan", SMALL, device="cpu")
    assert method.normalize == "tanh" and method.config.proxy == "gaussian_blur"
    check_one_step(method, data, ["g_a", "g_b", "d_a", "d_b"])
    assert {"g", "cycle_a", "cycle_b", "idt_a", "idt_b", "d_a", "d_b"} <= set(method.history[0])
    scores = method.score(data)
    assert all(not m.training for m in method.modules().values())
    check_scores(scores, len(data), 32)
    with torch.no_grad():
        proxy_hat = method.g_a(data.images)
        diff = method.g_b(proxy_hat) - data.images
        proxy = gaussian_blur_proxy(data.images, [], method.config)
    np.testing.assert_allclose(scores.image, (diff ** 2).mean(dim=(1, 2, 3)).numpy(), rtol=1e-5)
    np.testing.assert_allclose(scores.maps, diff.abs().mean(dim=1).numpy(), rtol=1e-5,
                               atol=1e-7)
    np.testing.assert_allclose(scores.extra["proxy_l1"],
                               (proxy_hat - proxy).abs().mean(dim=(1, 2, 3)).numpy(), rtol=1e-5)
    check_save_load(method, data, tmp_path)


def test_a_registered_proxy_is_used(monkeypatch) -> None:
    seen: list[list[str]] = []

    def negate(images: torch.Tensor, ids, config) -> torch.Tensor:
        seen.append(list(ids))
        return -images

    monkeypatch.setitem(cyclegan_model.PROXIES, "negate", negate)
    method = create_method("cyclegan", {**SMALL, "proxy": "negate"}, device="cpu")
    data = SquaresSet(n=4, unit=False)
    torch.testing.assert_close(method.proxies(data.images, ["a"] * 4), -data.images)
    method.fit(data)
    assert sorted(seen[-1]) == sorted(f"sq{i}" for i in range(4))  # ids of the batch's images


@pytest.mark.parametrize(("values", "message"), [
    ({"proxy": "superpixel_nope"}, "'proxy': expected one of"),
    ({"img_size": 48}, "img_size': expected a power of two >= 32"),
    ({"lambda_a": 0.0}, "'lambda_a': expected > 0"),
    ({"proxy_sigma": -1.0}, "'proxy_sigma': expected > 0"),
])
def test_config_errors(values: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create_method("cyclegan", values)
