"""Tests of the Lesion2Void baseline: the lattice masker against the official loop, the
lattice's scaling, the component score by hand, network shapes, one training step with
validation selection, scoring and save/load."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from recon_testkit import assert_scoring_is_eval_mode, check_save_load
from tinydata import TinyDataset

from reprolib.config import ConfigError
from reprolib.methods import create_method
from reprolib.methods.lesion2void.method import lattice
from reprolib.methods.lesion2void.model import (
    PatchDiscriminator,
    UNet,
    component_score,
    fov_disc,
    grid_mask,
    mask_images,
)

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = {"img_size": 32, "in_channels": 3, "base": 4, "ndf": 4, "epochs": 1, "batch_size": 4}


def official_grid_mask(size: int, grid: int, patch: int, py: int, px: int) -> np.ndarray:
    """The official ``pixel_grid_mask`` loop (starts below size - patch)."""
    a = np.zeros((size, size))
    for i in range(size - patch):
        for j in range(size - patch):
            if i % grid == py and j % grid == px:
                a[i:i + patch, j:j + patch] = 1
    return a


@pytest.mark.parametrize("size,grid,patch,py,px", [(64, 12, 4, 0, 0), (64, 12, 4, 5, 11),
                                                   (50, 7, 2, 6, 3), (224, 48, 16, 40, 8)])
def test_grid_mask_matches_the_official_loop(size, grid, patch, py, px) -> None:
    ours = grid_mask(size, grid, patch, py, px).numpy()
    np.testing.assert_array_equal(ours, official_grid_mask(size, grid, patch, py, px))


def test_lattice_scales_with_the_image_and_masks_a_ninth() -> None:
    cfg = create_method("lesion2void", {**TINY, "img_size": 224}).config
    assert lattice(cfg) == (48, 16, [0, 8, 16, 24, 32, 40])  # the official 36 passes
    grid, patch, phases = lattice(create_method("lesion2void", TINY).config)
    assert (grid, patch, phases) == (7, 2, [0, 1, 2, 4, 5, 6])
    covered = sum(grid_mask(32, grid, patch, py, px) for py in phases for px in phases)
    assert covered[:30, :30].min() > 0  # every pixel away from the far border is restored
    interior = grid_mask(224, 48, 16, 0, 0)[:192, :192]
    assert float(interior.mean()) == pytest.approx(1 / 9)


def test_masked_pixels_are_noise_in_range_and_the_rest_kept() -> None:
    x = torch.full((2, 3, 32, 32), 0.25)
    mask = grid_mask(32, 7, 2, 1, 3)
    out = mask_images(x, mask, torch.Generator().manual_seed(0))
    assert torch.equal(out[..., mask == 0], x[..., mask == 0])
    assert out.min() >= -1 and out.max() <= 1 and not torch.equal(out, x)


def test_component_score_by_hand() -> None:
    # five square blobs of value 1 with sides 6, 5, 4, 3, 2 (areas 36, 25, 16, 9, 4) on zeros;
    # dropping the 2 largest and keeping ranks 3-4 sums the areas 16 + 9 = 25
    residual = np.zeros((64, 64))
    for k, side in enumerate((6, 5, 4, 3, 2)):
        residual[2 + 10 * k: 2 + 10 * k + side, 5:5 + side] = 1.0
    assert component_score(residual, None, drop_largest=2, keep_until=4) == pytest.approx(25.0)
    assert component_score(residual, None, drop_largest=0, keep_until=100) == pytest.approx(90)
    assert component_score(residual, None, drop_largest=30, keep_until=100) == 0.0
    assert component_score(np.zeros((8, 8)), None) == 0.0  # flat map: no division by zero
    disc = fov_disc(224)
    assert disc[112, 112] == 1 and disc[112, 112 + 101] == 0 and disc[112, 112 + 99] == 1


def test_network_shapes() -> None:
    net = UNet(3, 3, base=4)
    assert net(torch.rand(2, 3, 32, 32)).shape == (2, 3, 32, 32)
    assert [m[0].out_channels for m in [net.inc]] == [4]
    assert net.downs[-1][1][3].out_channels == 64  # 4 * 2**4, as milesial's 1024 at base 64
    disc = PatchDiscriminator(3, ndf=4)
    assert disc(torch.rand(2, 3, 32, 32)).shape == (2, 1, 2, 2)


def test_one_training_step_selection_scores_and_save_load(tmp_path) -> None:
    data = TinyDataset(n=4, channels=3, size=32, anomalous=1)
    method = create_method("lesion2void", TINY, seed=0, device="cpu")
    before_g = {k: v.clone() for k, v in method.net.state_dict().items()}
    before_d = {k: v.clone() for k, v in method.disc.state_dict().items()}
    method.fit(data, val=TinyDataset(n=2, channels=3, size=32, seed=1))
    record = method.history[-1]
    assert {"loss", "l1", "adv", "d_loss", "val_l1"} <= set(record)
    assert all(math.isfinite(v) for v in record.values())
    assert any(not torch.equal(before_g[k], v) for k, v in method.net.state_dict().items())
    assert any(not torch.equal(before_d[k], v) for k, v in method.disc.state_dict().items())
    assert method.selected_epoch == 1
    scores = assert_scoring_is_eval_mode(method, data)
    assert scores.image.shape == (4,) and scores.maps.shape == (4, 32, 32)
    assert (scores.maps >= 0).all() and scores.extra["mean_residual"].shape == (4,)
    np.testing.assert_array_equal(scores.image, scores.extra["components"])
    check_save_load(method, data, tmp_path)
    mean_scored = create_method("lesion2void", {**TINY, "image_score": "mean_residual"},
                                device="cpu")
    mean_scored.load_state_dict(method.state_dict() | {"config": mean_scored.config.to_dict()})
    np.testing.assert_allclose(mean_scored.score(data).image, scores.maps.mean(axis=(1, 2)),
                               rtol=1e-5)


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="multiple of 16"):
        create_method("lesion2void", {**TINY, "img_size": 40})
    with pytest.raises(ConfigError, match="smaller than grid"):
        create_method("lesion2void", {**TINY, "patch": 48})
    with pytest.raises(ConfigError, match="keep_until"):
        create_method("lesion2void", {**TINY, "keep_until": 10})


def test_step_budget_counts_optimiser_steps() -> None:
    method = create_method("lesion2void", {**TINY, "batch_size": 2, "steps": 3}, device="cpu")
    method.fit(TinyDataset(n=4, channels=3, size=32))
    assert [(r["epoch"], r["steps"]) for r in method.history] == [(1.0, 2.0), (2.0, 3.0)]
