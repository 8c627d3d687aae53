"""Tests of the DRAEM baseline (Perlin noise and textures: tests/blocks): simulated anomalies,
network shapes, SSIM against scikit-image, focal loss and image score by hand, the learning-rate
steps, one training step, scoring and save/load."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from recon_testkit import assert_scoring_is_eval_mode, check_save_load
from skimage.metrics import structural_similarity
from tinydata import TinyDataset

from reprolib.blocks.synthetic_anomaly import procedural_texture
from reprolib.config import ConfigError
from reprolib.methods import create_method
from reprolib.methods.draem.anomalies import augment_texture, simulate_anomalies
from reprolib.methods.draem.method import max_of_mean_filtered, multistep_lr, total_steps
from reprolib.methods.draem.model import (
    DiscriminativeSubNetwork,
    ReconstructiveSubNetwork,
    focal_map,
    ssim_loss,
)

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = {"img_size": 32, "in_channels": 3, "recon_base": 4, "disc_base": 4, "epochs": 1,
        "batch_size": 4}


def test_textures_and_augmenters_keep_shape_and_range() -> None:
    rng = np.random.default_rng(0)
    for channels in (1, 3):
        for _ in range(6):
            tex = procedural_texture((32, 32), channels, rng)
            aug = augment_texture(tex, rng)
            assert tex.shape == aug.shape == (channels, 32, 32)
            assert float(aug.min()) >= 0 and float(aug.max()) <= 1


def test_simulated_anomalies_change_only_masked_pixels() -> None:
    x = torch.rand(6, 3, 32, 32) * 0.2 + 0.4
    normal, aug, mask = simulate_anomalies(x, np.random.default_rng(0), anomaly_p=1.0,
                                           rotate_p=0.0)
    assert torch.equal(normal, x) and mask.shape == (6, 1, 32, 32)
    changed = (aug != normal).any(dim=1, keepdim=True)
    assert not torch.any(changed & (mask == 0))
    assert mask.sum() > 0
    _, aug0, mask0 = simulate_anomalies(x, np.random.default_rng(0), anomaly_p=0.0,
                                        rotate_p=0.0)
    assert torch.equal(aug0, x) and mask0.sum() == 0


def test_network_shapes_follow_draem() -> None:
    recon = ReconstructiveSubNetwork(3, 3, base=8)
    assert [b[3].out_channels for b in recon.encoder.blocks] == [8, 16, 32, 64, 64]
    assert recon(torch.rand(2, 3, 32, 32)).shape == (2, 3, 32, 32)
    disc = DiscriminativeSubNetwork(6, 2, base=4)
    assert [b[3].out_channels for b in disc.encoder.blocks] == [4, 8, 16, 32, 32, 32]
    assert disc(torch.rand(2, 6, 32, 32)).shape == (2, 2, 32, 32)
    # DRAEM's widths at base 128 / 64: 1024 channels at the recon bottleneck
    assert ReconstructiveSubNetwork(3, 3).encoder.blocks[-1][3].out_channels == 1024


def test_ssim_loss_agrees_with_scikit_image() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1, 1, 48, 48, generator=gen)
    y = (x + 0.2 * torch.rand(1, 1, 48, 48, generator=gen)).clamp(0, 1)
    assert float(ssim_loss(x, x)) == pytest.approx(0.0, abs=1e-6)
    from kornia.metrics import ssim
    ours = ssim(x, y, 11, max_val=1.0)[0, 0, 5:-5, 5:-5].numpy()
    _, full = structural_similarity(x[0, 0].numpy(), y[0, 0].numpy(), data_range=1.0,
                                    gaussian_weights=True, sigma=1.5,
                                    use_sample_covariance=False, full=True)
    np.testing.assert_allclose(ours, full[5:-5, 5:-5], atol=1e-4)


def test_focal_loss_by_hand() -> None:
    # p(anomaly) = 0.75: target 1 -> -(0.25^2) log 0.75; target 0 -> -(0.75^2) log 0.25
    logits = torch.tensor([0.0, math.log(3.0)]).view(1, 2, 1, 1).repeat(1, 1, 1, 2)
    mask = torch.tensor([1.0, 0.0]).view(1, 1, 1, 2)
    expected = torch.tensor([[[-(0.25 ** 2) * math.log(0.75), -(0.75 ** 2) * math.log(0.25)]]])
    torch.testing.assert_close(focal_map(logits, mask), expected)


def test_image_score_is_max_of_the_21px_mean_filter() -> None:
    prob = torch.zeros(2, 32, 32)
    prob[0, 16, 16] = 1.0  # one hot pixel: the best 21x21 window holds it once
    prob[1, :, :] = 0.5    # flat: 0.5 where the window is fully inside
    score = max_of_mean_filtered(prob, 21)
    torch.testing.assert_close(score, torch.tensor([1 / 441, 0.5]))


def test_learning_rate_steps_at_80_and_90_percent() -> None:
    lrs = [multistep_lr(1e-4, s, 10, (0.8, 0.9), 0.2) for s in range(10)]
    assert lrs[:8] == [1e-4] * 8
    assert lrs[8] == pytest.approx(2e-5) and lrs[9] == pytest.approx(4e-6)
    assert total_steps(create_method("draem", TINY).config, 10) == 3


def test_one_training_step_scores_and_save_load(tmp_path) -> None:
    data = TinyDataset(n=4, channels=3, size=32, anomalous=1)
    method = create_method("draem", TINY, seed=0, device="cpu")
    before = {k: v.clone() for k, v in method.disc.state_dict().items()}
    method.fit(data)
    assert method.history and all(math.isfinite(v) for v in method.history[-1].values())
    assert {"loss", "l2", "ssim", "focal"} <= set(method.history[-1])
    assert any(not torch.equal(before[k], v) for k, v in method.disc.state_dict().items())
    scores = assert_scoring_is_eval_mode(method, data)
    assert scores.image.shape == (4,) and scores.maps.shape == (4, 32, 32)
    assert (scores.maps >= 0).all() and (scores.maps <= 1).all()
    check_save_load(method, data, tmp_path)


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="multiple of 32"):
        create_method("draem", {**TINY, "img_size": 48})
    with pytest.raises(ConfigError, match="odd"):
        create_method("draem", {**TINY, "score_window": 20})
    with pytest.raises(ValueError, match="expected"):
        create_method("draem", TINY, device="cpu").fit(TinyDataset(n=2, channels=1, size=32))


def test_step_budget_sets_the_learning_rate_schedule() -> None:
    method = create_method("draem", {**TINY, "batch_size": 2, "steps": 3}, device="cpu")
    assert total_steps(method.config, 4) == 3
    method.fit(TinyDataset(n=4, channels=3, size=32))
    assert method.history[-1]["steps"] == 3.0
