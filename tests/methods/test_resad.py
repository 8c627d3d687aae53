"""Tests of the ReSAD re-implementation: the region and spatial branches by hand, ReSC shapes,
the greedy coreset, nearest distances against brute force, fit / score, weights recorded,
save/load."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from distill_testkit import RGBSet

from reprolib.config import ConfigError
from reprolib.methods import create_method
from reprolib.methods.resad.model import (
    greedy_coreset,
    nearest_distance,
    pixel_features,
    region_features,
    resc,
    spatial_features,
)

pytestmark = [pytest.mark.filterwarnings("ignore:.*ImageNet weights.*"),
              pytest.mark.usefixtures("offline", "one_thread")]
SMALL = {"img_size": 32, "batch_size": 4, "coreset_ratio": 0.5}


def test_region_and_spatial_branches_by_hand() -> None:
    x = torch.arange(16, dtype=torch.float32).reshape(1, 1, 4, 4)
    region = region_features(x, 3)
    assert float(region[0, 0, 1, 1]) == pytest.approx(float(x[0, 0, :3, :3].mean()))
    assert float(region[0, 0, 0, 0]) == pytest.approx(float(x[0, 0, :2, :2].mean()))  # border
    spatial = spatial_features(x, 2)
    assert float(spatial[0, 0, 0, 1]) == pytest.approx(float(x[0, 0, :2, :2].mean()))
    assert float(spatial[0, 0, 3, 3]) == pytest.approx(float(x[0, 0, 2:, 2:].mean()))


def test_pixel_features_and_resc_shapes() -> None:
    feats = {"layer2": torch.rand(2, 40, 8, 8), "layer3": torch.rand(2, 112, 4, 4)}
    pix = pixel_features(feats, ["layer2", "layer3"])
    assert pix.shape == (2, 152, 8, 8)
    assert resc(pix, 3, 4, 64).shape == (2, 64, 8, 8)


def test_greedy_coreset_picks_far_points() -> None:
    points = torch.tensor([[0.0], [1.0], [2.0], [10.0], [11.0]])
    index = greedy_coreset(points, 3, torch.Generator().manual_seed(0)).tolist()
    assert len(set(index)) == 3
    chosen = {float(points[i]) for i in index}
    assert {0.0, 11.0} <= chosen or {0.0, 10.0} <= chosen  # both clusters' far ends covered
    assert greedy_coreset(points, 9, torch.Generator()).tolist() == [0, 1, 2, 3, 4]


def test_nearest_distance_matches_brute_force() -> None:
    gen = torch.Generator().manual_seed(0)
    bank, queries = torch.randn(30, 5, generator=gen), torch.randn(17, 5, generator=gen)
    brute = np.linalg.norm(queries.numpy()[:, None] - bank.numpy()[None], axis=2).min(axis=1)
    np.testing.assert_allclose(nearest_distance(bank, queries, chunk=4).numpy(), brute,
                               rtol=1e-5, atol=1e-5)


def test_fit_score_weights_and_save_load(tmp_path) -> None:
    train, test = RGBSet(n=4, size=32), RGBSet(n=4, size=32, anomalous=2, seed=1)
    method = create_method("resad", SMALL, seed=0, device="cpu")
    assert method.weights_used  # recorded: packaged ImageNet Lite0, or random when absent
    method.fit(train)
    # layer2 of Lite0 at 32 px: 4 x 4 pixels x 4 images = 64 features, half kept
    assert method.bank.shape == (32, 128)
    scores = method.score(test)
    assert scores.image.shape == (4,) and scores.maps.shape == (4, 32, 32)
    assert np.isfinite(scores.maps).all() and (scores.maps >= 0).all()
    np.testing.assert_allclose(scores.image, scores.maps.reshape(4, -1).max(axis=1))
    path = method.save(tmp_path / "resad.pt")
    clone = create_method("resad", SMALL, device="cpu").load(path)
    np.testing.assert_array_equal(clone.score(test).image, scores.image)
    assert clone.weights_used == method.weights_used


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="region_kernel"):
        create_method("resad", {**SMALL, "region_kernel": 2})
    with pytest.raises(ConfigError, match="coreset_ratio"):
        create_method("resad", {**SMALL, "coreset_ratio": 0.0})
