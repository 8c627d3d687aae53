"""SPADE (Cohen & Hoshen 2020): the nearest-gallery distance against brute force, the K nearest
images against a hand search, an image equal to a training image at distance ~0, shapes, the K
cap, save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from distill_testkit import RGBSet

from reprolib.config import ConfigError
from reprolib.methods import create_method
from reprolib.methods.spade.model import correspondence_map, nearest_gallery_distance

pytestmark = pytest.mark.usefixtures("offline", "one_thread")
SMALL = {"img_size": 64, "batch_size": 4}


def test_nearest_gallery_distance_against_brute_force() -> None:
    gen = torch.Generator().manual_seed(0)
    queries, gallery = torch.randn(13, 5, generator=gen), torch.randn(40, 5, generator=gen)
    gallery[17] = queries[3]  # an exact match: distance exactly 0
    brute = torch.cdist(queries.double(), gallery.double(),
                        compute_mode="donot_use_mm_for_euclid_dist").min(dim=1).values
    for chunk in (7, 40, 1000):  # blocks smaller than, equal to and larger than the gallery
        out = nearest_gallery_distance(queries, gallery, chunk=chunk)
        torch.testing.assert_close(out.double(), brute, atol=1e-6, rtol=1e-6)
        assert out[3].item() == 0.0
    with pytest.raises(ValueError, match=r"\(Q, C\)"):
        nearest_gallery_distance(queries, gallery[:, :4])


def test_correspondence_map_against_loops() -> None:
    gen = torch.Generator().manual_seed(1)
    query, neighbours = torch.randn(3, 2, 4, generator=gen), torch.randn(2, 3, 3, 2, generator=gen)
    out = correspondence_map(query, neighbours, chunk=5)
    assert out.shape == (2, 4)
    gallery = [neighbours[k, :, i, j] for k in range(2) for i in range(3) for j in range(2)]
    for i in range(2):
        for j in range(4):
            expected = min(float((query[:, i, j] - g).norm()) for g in gallery)
            assert out[i, j].item() == pytest.approx(expected, rel=1e-5)


def test_spade_fit_score_shapes_neighbours_and_reload(tmp_path: Path) -> None:
    train, test = RGBSet(n=6, size=64), RGBSet(n=4, size=64, anomalous=2, seed=1)
    method = create_method("spade", SMALL, device="cpu").fit(train)
    assert method.weights_used == "imagenet:efficientnet_lite0"
    assert method.config.k == 50 and method.k_used == 6  # the paper's K, capped by n_train
    assert method.bank.shape == (6, 1280)  # Lite0's pooled head
    # the three pyramid levels of Lite0 at 64 px: strides 4, 8, 16
    assert {k: tuple(v.shape) for k, v in method.train_maps.items()} == {
        "layer1": (6, 24, 16, 16), "layer2": (6, 40, 8, 8), "layer3": (6, 112, 4, 4)}
    scores = method.score(test)
    assert scores.image.shape == (4,) and scores.maps is not None
    assert scores.maps.shape == (4, 64, 64) and (scores.maps >= 0).all()
    # image score: mean distance to the K nearest pooled training features (hand search)
    with torch.no_grad():
        pooled = method.backbone(test.images)["features.8"].mean(dim=(2, 3)).double()
    dist = torch.cdist(pooled, method.bank.double()).sort(dim=1).values[:, :6].mean(dim=1)
    np.testing.assert_allclose(scores.image, dist.numpy(), rtol=1e-5)
    assert scores.image[2:].min() > scores.image[:2].max()  # the bright squares stand out
    clone = create_method("spade", SMALL, device="cpu").load(method.save(tmp_path / "spade.pt"))
    assert clone.k_used == 6
    again = clone.score(test)
    np.testing.assert_allclose(again.image, scores.image, rtol=1e-6)
    np.testing.assert_allclose(again.maps, scores.maps, rtol=1e-5, atol=1e-6)


def test_spade_image_equal_to_a_training_image_scores_about_zero() -> None:
    train, other = RGBSet(n=5, size=64), RGBSet(n=2, size=64, seed=3)
    test = RGBSet(n=3, size=64)
    test.images = torch.cat([train.images[[1, 4]], other.images[:1]])
    method = create_method("spade", {**SMALL, "k": 1}, device="cpu").fit(train)
    scores = method.score(test)
    assert scores.maps is not None
    # a copy of a training image: its nearest image is itself, every feature has its twin
    assert scores.image[:2].max() < 1e-3 * scores.image[2]
    assert scores.maps[:2].max() < 1e-3 * scores.maps[2].mean()
    # with K = 3 the image score averages farther neighbours, the maps still find the twin
    wider = create_method("spade", {**SMALL, "k": 3}, device="cpu").fit(train).score(test)
    assert wider.image[0] > 0.1 * scores.image[2]
    assert wider.maps is not None and wider.maps[:2].max() < 1e-3 * wider.maps[2].mean()


def test_spade_config_errors() -> None:
    with pytest.raises(ConfigError, match="k"):
        create_method("spade", {"k": 0})
    with pytest.raises(ConfigError, match="layers"):
        create_method("spade", {"layers": ["layer0"]})
    with pytest.raises(ConfigError, match="img_size"):
        create_method("spade", {"img_size": 50})
    with pytest.raises(RuntimeError, match="fit"):
        create_method("spade", SMALL, device="cpu").score(RGBSet(n=2, size=64))
