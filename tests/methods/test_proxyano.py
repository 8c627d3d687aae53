"""Tests of ProxyAno (reprolib.methods.proxyano): the pseudo-abnormal proxy constructor, one
training step of each module (module 1 frozen during module 2), the scores against hand
computation (Eqs. 13-14, Table V), eval-mode scoring, save/load, ablation switches and config
errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from recon_testkit import SquaresSet, assert_scoring_is_eval_mode, check_save_load, check_scores

from reprolib.blocks import superpixel as sp
from reprolib.config import ConfigError
from reprolib.methods import create_method
from reprolib.methods.proxyano.model import (
    EncDec,
    frobenius,
    memae_available,
    paste_patches,
    pixel_map,
    squared_error,
)

SMALL = {"img_size": 32, "widths": [8, 16, 32, 32], "latent": 8, "memory_items": 16,
         "d_width": 4, "epochs": 1, "batch_size": 4}


@pytest.fixture(autouse=True)
def _cache(isolated_dirs, one_thread):  # noqa: PT004
    sp.clear_memory_cache()
    yield
    sp.clear_memory_cache()


def test_paste_patches_shape_mask_and_content() -> None:
    gen = torch.Generator().manual_seed(0)
    image = torch.rand(5, 2, 32, 32)
    proxy = torch.rand(5, 2, 32, 32)
    pseudo, mask, boxes = paste_patches(proxy, image, gen, 0.125, 0.5)
    assert pseudo.shape == proxy.shape and mask.shape == (5, 1, 32, 32)
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    for i, (h, w, sy, sx, dy, dx) in enumerate(boxes.tolist()):
        assert 4 <= h <= 16 and 4 <= w <= 16
        assert mask[i].sum().item() == h * w
        torch.testing.assert_close(pseudo[i, :, dy:dy + h, dx:dx + w],
                                   image[i, :, sy:sy + h, sx:sx + w], rtol=0, atol=0)
        outside = mask[i, 0] == 0
        assert torch.equal(pseudo[i][:, outside], proxy[i][:, outside])
    assert len({tuple(b) for b in boxes.tolist()}) > 1  # random sizes and places
    with pytest.raises(ValueError, match="same shape"):
        paste_patches(proxy[:, :1], image, gen)


def test_scores_against_hand_computation() -> None:
    z = torch.tensor([[[[3.0]], [[0.0]]], [[[1.0]], [[1.0]]]])  # (2, 2, 1, 1)
    z_hat = torch.tensor([[[[0.0]], [[4.0]]], [[[1.0]], [[1.0]]]])
    torch.testing.assert_close(frobenius(z, z_hat), torch.tensor([5.0, 0.0]))  # Eq. 13
    x = torch.tensor([[[[0.0, 1.0], [0.5, 0.5]]]])
    x_hat = torch.tensor([[[[1.0, 1.0], [0.0, 0.5]]]])
    torch.testing.assert_close(pixel_map(x, x_hat), torch.tensor([[[1.0, 0.0], [0.5, 0.0]]]))
    torch.testing.assert_close(frobenius(x, x_hat), torch.tensor([1.25 ** 0.5]))
    two = torch.cat([x, x])  # ||.||^2 of Eqs. 7-10: per image sum (1.25), or pixel mean
    assert squared_error(x_hat.repeat(2, 1, 1, 1), two, "sum").item() == pytest.approx(1.25)
    assert squared_error(x_hat.repeat(2, 1, 1, 1), two, "mean").item() == pytest.approx(1.25 / 4)


def test_method_scores_are_eq13_and_table_v_through_the_nets() -> None:
    data = SquaresSet(n=6, size=32, anomalous=2)
    method = create_method("proxyano", SMALL, device="cpu").fit(data)
    scores = assert_scoring_is_eval_mode(method, data)
    check_scores(scores, 6, 32)
    x = torch.stack([data[i]["image"] for i in range(6)])
    with torch.no_grad():
        p_hat = method.proxy_net(x)[0]
        i_hat = method.recon_net(p_hat)[0]
        z, z_hat = method.proxy_net.encoder(x), method.proxy_net.encoder(i_hat)
    latent = ((z - z_hat) ** 2).sum(dim=(1, 2, 3)).sqrt().numpy()
    image_space = ((x - i_hat) ** 2).sum(dim=(1, 2, 3)).sqrt().numpy()
    np.testing.assert_allclose(scores.image, latent, rtol=1e-5)
    np.testing.assert_allclose(scores.extra["latent"], latent, rtol=1e-5)
    np.testing.assert_allclose(scores.extra["image_space"], image_space, rtol=1e-5)
    np.testing.assert_allclose(scores.maps, (x - i_hat).abs().mean(dim=1).numpy(), atol=1e-6)
    assert scores.maps.max() <= 1.0  # |I - I^| of [0, 1] images: threshold 0.5 applies as is
    image_scored = create_method("proxyano", {**SMALL, "score_space": "image"}, device="cpu")
    image_scored.load_state_dict(method.state_dict())
    np.testing.assert_allclose(image_scored.score(data).image, image_space, rtol=1e-5)


def test_one_step_of_each_module_and_module_1_frozen_in_module_2() -> None:
    data = SquaresSet(n=4, size=32, anomalous=0)
    method = create_method("proxyano", SMALL, device="cpu")
    proxies = sp.proxies_for(data, method.config.proxy_spec())
    wrapped = sp.ProxyDataset(data, proxies)
    before = {k: v.clone() for k, v in method.proxy_net.state_dict().items()}
    method._fit_proxy_module(wrapped)
    after_1 = {k: v.clone() for k, v in method.proxy_net.state_dict().items()}
    changed = [k for k in before if not torch.equal(before[k], after_1[k])]
    assert any(k.startswith("encoder") for k in changed)
    assert any(k.startswith("decoder") for k in changed)
    assert "memory.memory" in changed and bool(method.proxy_net.memory.initialised)
    assert "proxy_l2" in method.history[-1]
    recon_before = {k: v.clone() for k, v in method.recon_net.state_dict().items()}
    d_before = {k: v.clone() for k, v in method.discriminator.state_dict().items()}
    method._fit_reconstruction_module(wrapped)
    for key, value in method.proxy_net.state_dict().items():
        assert torch.equal(value, after_1[key]), f"module 1 changed during module 2: {key}"
    assert any(not torch.equal(v, recon_before[k])
               for k, v in method.recon_net.state_dict().items())
    assert any(not torch.equal(v, d_before[k])
               for k, v in method.discriminator.state_dict().items())
    last = method.history[-1]
    for term in ("rec_l2", "global_l2", "local_l2", "rec_adv", "global_adv", "local_adv",
                 "l2", "g", "d"):
        assert term in last and np.isfinite(last[term]), term
    c = method.config
    assert last["l2"] == pytest.approx(last["rec_l2"] + c.w_global * last["global_l2"]
                                       + c.w_local * last["local_l2"], rel=1e-5)
    assert all(p.requires_grad for p in method.proxy_net.parameters())


def test_generator_loss_is_eq11() -> None:
    method = create_method("proxyano", SMALL, device="cpu")
    torch.manual_seed(0)
    x, p_hat = torch.rand(2, 1, 32, 32), torch.rand(2, 1, 32, 32)
    pseudo, mask, _ = paste_patches(p_hat, x, torch.Generator().manual_seed(0))
    method.recon_net.eval()
    method.discriminator.eval()
    terms, _ = method.generator_terms(x, p_hat, pseudo, mask)
    c = method.config
    expected = (terms["rec_l2"] + c.w_adv * terms["rec_adv"]
                + c.w_global * (terms["global_l2"] + c.w_adv * terms["global_adv"])
                + c.w_local * (terms["local_l2"] + c.w_adv * terms["local_adv"]))
    torch.testing.assert_close(terms["g"], expected)
    i_hat_p = method.recon_net(pseudo)[0]
    torch.testing.assert_close(terms["local_l2"],  # per-image squared norm (l2: sum)
                               ((mask * (i_hat_p - x)) ** 2).sum() / 2)
    no_repair, _ = method.generator_terms(x, p_hat, None, None)
    assert set(no_repair) == {"rec_l2", "rec_adv", "l2", "g"}


def test_proxies_are_computed_once_per_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = sp.compute_proxy
    monkeypatch.setattr(sp, "compute_proxy", lambda image, spec: calls.append(1)
                        or real(image, spec))
    data = SquaresSet(n=4, size=32, anomalous=0)
    create_method("proxyano", {**SMALL, "epochs": 3}, device="cpu").fit(data)
    assert len(calls) == 4  # 3 epochs of each module, one SLIC per image
    create_method("proxyano", SMALL, seed=1, device="cpu").fit(data)
    assert len(calls) == 4  # a second model on the same data reuses them


def test_save_load_round_trip(tmp_path) -> None:
    data = SquaresSet(n=4, size=32, anomalous=2)
    method = create_method("proxyano", SMALL, device="cpu").fit(data)
    check_save_load(method, data, tmp_path)


@pytest.mark.parametrize("changes", [
    {"proxy": "none"},  # Table IV row 1: EncDec
    {"proxy": "none", "memory_items": 0},
    {"memory_items": 0, "w_global": 0.0, "w_local": 0.0},  # row 4: 2xEncDec + SI
    {"proxy": "canny_block", "w_global": 0.0, "w_local": 0.0, "memory_items": 0},  # Table III
    {"paste_on": "slic", "patch_from": "other", "w_adv": 0.0, "commitment": 0.25},
])
def test_ablation_variants_train_and_score(changes: dict) -> None:
    data = SquaresSet(n=4, size=32, anomalous=2)
    method = create_method("proxyano", {**SMALL, **changes}, device="cpu").fit(data)
    check_scores(method.score(data), 4, 32)
    assert "l2" in method.history[-1]
    if changes.get("memory_items") == 0:
        assert method.proxy_net.memory is None
    if changes.get("proxy") == "none":
        assert "recon_net" not in method.modules()


def test_colour_images() -> None:
    data = SquaresSet(n=4, size=32, channels=3, anomalous=2)
    method = create_method("proxyano", {**SMALL, "in_channels": 3}, device="cpu").fit(data)
    check_scores(method.score(data), 4, 32)
    assert method.proxies(data).shape == (4, 3, 32, 32)


def test_encdec_shapes_at_256() -> None:
    net = EncDec(1, 2, (32, 64, 128, 256), 64).eval()
    with torch.no_grad():
        out, z, z_tilde = net(torch.rand(1, 1, 256, 256))
    assert out.shape == (1, 2, 256, 256) and z.shape == (1, 64, 16, 16)
    assert torch.equal(z, z_tilde)


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="image-like proxy"):
        create_method("proxyano", {**SMALL, "proxy": "canny"}, device="cpu")
    with pytest.raises(ConfigError, match="patch_min"):
        create_method("proxyano", {**SMALL, "patch_min": 0.6}, device="cpu")
    with pytest.raises(ConfigError, match="img_size"):
        create_method("proxyano", {**SMALL, "img_size": 48}, device="cpu")
    with pytest.raises(ConfigError, match="memory_items"):
        create_method("proxyano", {**SMALL, "memory_items": -1}, device="cpu")


def test_memae_memory_switch() -> None:
    config = {**SMALL, "proxy": "none", "memory": "memae", "score_space": "image"}
    if not memae_available():
        with pytest.raises(NotImplementedError, match="proxyano-baselines"):
            create_method("proxyano", config, device="cpu")
        return
    data = SquaresSet(n=4, size=32, anomalous=2)
    method = create_method("proxyano", config, device="cpu")
    items = method.proxy_net.memory.items.detach().clone()
    method.fit(data)
    assert not torch.equal(items, method.proxy_net.memory.items)  # trained by gradient
    assert {"l2", "entropy"} <= set(method.history[-1])
    check_scores(method.score(data), 4, 32)


def test_step_budgets_per_module() -> None:
    data = SquaresSet(n=4, size=32, anomalous=0)  # one batch per epoch
    method = create_method("proxyano", {**SMALL, "epochs": 50, "steps": 3, "proxy_steps": 2},
                           device="cpu").fit(data)
    proxy_records = [r for r in method.history if "proxy_l2" in r]
    recon_records = [r for r in method.history if "rec_l2" in r]
    assert len(proxy_records) == 2 and len(recon_records) == 3
    assert [r["steps"] for r in method.history] == [1, 2, 3, 4, 5]  # cumulative
