"""Hetero-AE (Lu et al., TIP 2024): stage shapes, MSTB tokens and attention, loss (Eqs. 4-5)
against a hand computation, map/score (Eqs. 6-8), every ablation variant, config errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from reprolib.config import ConfigError
from reprolib.methods import create_method
from reprolib.methods.hetero_ae.model import (
    HeteroAENet,
    MultiScaleSparseTransformerBlock,
    SwinBranch,
    anomaly_map,
    feature_comparison_loss,
)
from tests.conftest import TinyDataset


def test_stage_shapes_resnet18_at_64px() -> None:
    net = HeteroAENet(64).eval()
    with torch.no_grad():
        enc, dec, recon = net(torch.randn(2, 3, 64, 64))
    assert [tuple(f.shape) for f in enc] == [(2, 64, 16, 16), (2, 128, 8, 8), (2, 256, 4, 4)]
    assert [tuple(f.shape) for f in dec] == [tuple(f.shape) for f in enc]
    assert recon is None
    assert net.encoder.channels == (64, 128, 256, 512)
    # decoder modules run at the input's size, then upsample x2 (F_E^4 is 2x2 at 64 px)
    assert net.decoder.stage3.blocks[1].size == (2, 2)
    assert net.decoder.stage1.blocks[1].size == (8, 8)


def test_mstb_token_counts_and_attention_shapes() -> None:
    block = MultiScaleSparseTransformerBlock(dim=16, size=(8, 8), heads=4, p2=4)
    assert block.patches == (2, 4)
    x = torch.randn(3, 16, 8, 8)
    out, attentions = block(x, return_attention=True)
    assert out.shape == x.shape
    # local tokens N = H*W = 64; regional tokens H*W/p1^2 = 16 and H*W/p2^2 = 4
    assert [tuple(a.shape) for a in attentions] == [(3, 2, 64, 16), (3, 2, 64, 4)]
    assert [r(x).shape[1] for r in block.regions] == [16, 4]
    for attn in attentions:
        assert torch.allclose(attn.sum(-1), torch.ones_like(attn.sum(-1)), atol=1e-5)
    assert block.pos_local.shape == (1, 64, 16)
    # the fast path (scaled_dot_product_attention) computes the same thing
    assert torch.allclose(block(x), out, atol=1e-5)


def test_mstb_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="heads"):
        MultiScaleSparseTransformerBlock(16, (8, 8), heads=3, p2=4)
    with pytest.raises(ValueError, match="p2"):
        MultiScaleSparseTransformerBlock(16, (8, 8), heads=2, p2=3)
    with pytest.raises(ValueError, match="not divisible"):
        MultiScaleSparseTransformerBlock(16, (6, 6), heads=2, p2=4)


def test_swin_branch_keeps_shape_with_shifted_windows() -> None:
    block = SwinBranch(8, (8, 8), heads=2, window=4, mlp_ratio=2.0)
    assert block[1].attention.shift == 2
    x = torch.randn(2, 8, 8, 8)
    assert block(x).shape == x.shape


def test_loss_matches_hand_computation() -> None:
    # one stage, one image, two pixels, two channels
    fe = torch.tensor([[[[1.0, 0.0]], [[0.0, 2.0]]]])  # pixel a: (1, 0), pixel b: (0, 2)
    fd = torch.tensor([[[[1.0, 1.0]], [[1.0, 2.0]]]])  # pixel a: (1, 1), pixel b: (1, 2)
    alpha = 0.7
    cos_a, cos_b = 1 / math.sqrt(2), 2 / math.sqrt(5)
    mse_a, mse_b = (0 + 1) / 2, (1 + 0) / 2
    per_pixel = [-alpha * cos_a + (1 - alpha) * mse_a, -alpha * cos_b + (1 - alpha) * mse_b]
    expected_stage = sum(per_pixel) / 2
    loss = feature_comparison_loss([fe], [fd], alpha)
    assert loss.item() == pytest.approx(expected_stage, abs=1e-6)
    # Eq. 5 sums the stages
    loss3 = feature_comparison_loss([fe, fe, fe], [fd, fd, fd], alpha)
    assert loss3.item() == pytest.approx(3 * expected_stage, abs=1e-6)
    # identical features: -alpha per pixel and stage
    assert feature_comparison_loss([fe], [fe], alpha).item() == pytest.approx(-alpha, abs=1e-6)


def test_anomaly_map_and_score_on_tiny_input() -> None:
    fe = [torch.ones(1, 4, 2, 2), torch.ones(1, 4, 1, 1)]
    fd = [torch.ones(1, 4, 2, 2), -torch.ones(1, 4, 1, 1)]
    fd[0][0, :, 0, 0] = torch.tensor([1.0, -1.0, 1.0, -1.0])  # orthogonal at one pixel
    amap = anomaly_map(fe, fd, (4, 4))
    assert amap.shape == (1, 4, 4)
    # stage 2 is opposite everywhere (1 - cos = 2); stage 1 adds 1 near the orthogonal pixel
    assert amap.min().item() == pytest.approx(2.0, abs=1e-5)
    assert amap[0, 0, 0].item() == pytest.approx(3.0, abs=1e-5)
    assert amap.max().item() == pytest.approx(3.0, abs=1e-5)  # Eq. 8: score = max


def _tiny_config(**changes: object) -> dict:
    config = {"img_size": 64, "epochs": 1, "batch_size": 2, "weights": "random"}
    config.update(changes)
    return config


def test_fit_updates_decoder_only_and_score_is_max_of_map() -> None:
    method = create_method("hetero_ae", _tiny_config(lr=1e-3), seed=0, device="cpu")
    enc_before = {k: v.clone() for k, v in method.net.encoder.state_dict().items()}
    dec_before = {k: v.clone() for k, v in method.net.decoder.state_dict().items()}
    data = TinyDataset(n=4, channels=3, size=64, anomalous=1)
    method.fit(data)
    assert all(torch.equal(v, method.net.encoder.state_dict()[k]) for k, v in enc_before.items())
    assert any(not torch.equal(v, method.net.decoder.state_dict()[k])
               for k, v in dec_before.items())
    assert len(method.history) == 1 and np.isfinite(method.history[0]["loss"])
    scores = method.score(data)
    assert scores.maps.shape == (4, 64, 64)
    assert np.allclose(scores.image, scores.maps.reshape(4, -1).max(1))
    assert np.allclose(scores.extra["feature_distance"], scores.maps.reshape(4, -1).mean(1))
    assert (scores.maps >= 0).all() and (scores.maps <= 6 + 1e-5).all()  # 3 stages x (1-cos)
    assert method.weights_used == "random"


def test_scoring_is_deterministic_in_eval_mode() -> None:
    method = create_method("hetero_ae", _tiny_config(), seed=1, device="cpu")
    data = TinyDataset(n=3, channels=3, size=64)
    first = method.score(data).image
    assert np.array_equal(first, method.score(data).image)


@pytest.mark.parametrize("variant", [
    "full", "resnet_to_resnet", "efficientnet_to_efficientnet", "cnntrans_to_cnntrans",
    "resnet_to_swin", "resnet_to_pvt", "resnet_to_cmt", "cnn_cnn", "trans_trans",
    "resnet_pixel", "transformer_pixel", "transformer_feature", "hetero_pixel"])
def test_every_variant_builds_and_runs_one_step(variant: str) -> None:
    from reprolib.papers.heteroae import variant_config

    config = variant_config(variant, _tiny_config())
    method = create_method("hetero_ae", config, seed=0, device="cpu")
    data = TinyDataset(n=2, channels=3, size=64, anomalous=1)
    method.fit(data)
    scores = method.score(data)
    assert scores.image.shape == (2,) and np.isfinite(scores.image).all()
    assert scores.maps.shape == (2, 64, 64)


def test_model_size_counts_params_and_flops() -> None:
    from reprolib.papers.heteroae import model_size

    full = model_size({"img_size": 64, "weights": "random"}, img_size=64)
    assert full["params_m"] == pytest.approx(
        sum(p.numel() for p in HeteroAENet(64, weights="random").parameters()) / 1e6)
    assert 0 < full["decoder_params_m"] < full["params_m"]
    assert full["flops_g"] > 0
    bigger = model_size({"img_size": 64, "weights": "random"}, img_size=128)
    assert bigger["flops_g"] > 3 * full["flops_g"]  # conv FLOPs grow with the pixel count


def test_mstb_is_cheaper_than_dense_attention() -> None:
    """§III-C: keys/values of length HW/16 and HW/64 instead of HW cut the attention cost."""
    from torch.utils.flop_counter import FlopCounterMode

    block = MultiScaleSparseTransformerBlock(64, (32, 32), heads=2, p2=8, mlp_ratio=4.0)
    x = torch.randn(1, 64, 32, 32)
    with FlopCounterMode(display=False) as counter:
        block(x, return_attention=True)
    sparse = counter.get_total_flops()
    n, c = 32 * 32, 64
    dense_attention = 2 * 2 * n * n * c  # QK^T and AV with N keys (multiply-adds x 2)
    sparse_attention = 2 * 2 * n * (n // 16 + n // 64) * (c // 2)
    assert sparse_attention < 0.1 * dense_attention
    assert sparse < dense_attention + 8 * n * c * c


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ConfigError, match="img_size"):
        create_method("hetero_ae", {"img_size": 48})
    with pytest.raises(ConfigError, match="branches"):
        create_method("hetero_ae", {"branches": ["conv", "lstm"]})
    with pytest.raises(ConfigError, match="patch_sizes"):
        create_method("hetero_ae", {"img_size": 32})
    with pytest.raises(ConfigError, match="in_channels"):
        create_method("hetero_ae", {"in_channels": 1})
    with pytest.raises(ConfigError, match="comparison"):
        create_method("hetero_ae", {"comparison": "both"})


def test_cache_round_trip(isolated_dirs: object) -> None:
    from reprolib.cache import fit_or_load

    data = TinyDataset(n=2, channels=3, size=64)
    first = fit_or_load("hetero_ae", _tiny_config(), data, seed=0, device="cpu")
    second = fit_or_load("hetero_ae", _tiny_config(), data, seed=0, device="cpu")
    assert not first.from_cache and second.from_cache
    assert second.weights_used == "random"
    assert np.allclose(first.score(data).image, second.score(data).image)


@pytest.mark.parametrize("comparison", ["feature", "pixel"])
def test_precomputed_encoder_features_give_the_same_training(comparison: str) -> None:
    data = TinyDataset(n=6, channels=3, size=64, anomalous=0)
    config = _tiny_config(epochs=2, batch_size=4, lr=1e-3, comparison=comparison)
    cached = create_method("hetero_ae", config, seed=3, device="cpu")
    assert cached._frozen_features(data) is not None
    plain = create_method("hetero_ae", config, seed=3, device="cpu")
    plain.FEATURE_CACHE_BYTES = 0  # type: ignore[misc]
    assert plain._frozen_features(data) is None
    cached.fit(data)
    plain.fit(data)
    assert [h["loss"] for h in cached.history] == pytest.approx(
        [h["loss"] for h in plain.history], rel=1e-5)
    for key, value in cached.net.state_dict().items():
        assert torch.allclose(value.float(), plain.net.state_dict()[key].float(), atol=1e-5), key
