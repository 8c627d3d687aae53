"""The feature-level reference floors: ``padim`` (Gaussian statistics on a toy set where the
Gaussian is known, Mahalanobis against scipy, shapes, save/load) and ``knn_features`` (against a
brute-force distance on a tiny case, shapes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from distill_testkit import RGBSet
from scipy.spatial.distance import mahalanobis

from reprolib.config import ConfigError
from reprolib.methods import create_method
from reprolib.methods.knn_features.method import knn_distance
from reprolib.methods.padim.model import GaussianAccumulator, mahalanobis_map, patch_embedding

pytestmark = pytest.mark.usefixtures("offline", "one_thread")
SMALL = {"img_size": 64, "batch_size": 4}


def test_padim_gaussian_recovers_a_known_covariance() -> None:
    # 2 locations, d = 3; location 0 ~ N(mu, S), location 1 ~ N(0, I); 20000 samples
    gen = torch.Generator().manual_seed(0)
    mu = torch.tensor([1.0, -2.0, 0.5])
    cov = torch.tensor([[2.0, 0.6, 0.0], [0.6, 1.0, -0.3], [0.0, -0.3, 0.5]])
    chol = torch.linalg.cholesky(cov)
    n = 20000
    loc0 = mu + torch.randn(n, 3, generator=gen) @ chol.T
    loc1 = torch.randn(n, 3, generator=gen)
    emb = torch.stack([loc0, loc1], dim=2).reshape(n, 3, 1, 2)
    acc = GaussianAccumulator()
    for part in emb.split(3000):  # batches: the running sums must equal one pass
        acc.update(part)
    mean, sigma = acc.finish(eps=0.01)
    torch.testing.assert_close(mean[0].float(), mu, atol=0.05, rtol=0)
    torch.testing.assert_close(sigma[0].float(), cov + 0.01 * torch.eye(3), atol=0.06, rtol=0)
    torch.testing.assert_close(sigma[1].float(), 1.01 * torch.eye(3), atol=0.06, rtol=0)
    # exactly numpy's unbiased covariance of the same samples, plus eps I
    exact = np.cov(loc0.double().numpy(), rowvar=False) + 0.01 * np.eye(3)
    np.testing.assert_allclose(sigma[0].numpy(), exact, atol=1e-8)


def test_mahalanobis_map_against_scipy() -> None:
    gen = torch.Generator().manual_seed(1)
    emb = torch.randn(2, 4, 2, 3, generator=gen)
    mean = torch.randn(6, 4, generator=gen).double()
    a = torch.randn(6, 4, 4, generator=gen).double()
    inv = a @ a.transpose(1, 2) + torch.eye(4, dtype=torch.float64)
    out = mahalanobis_map(emb, mean, inv)
    assert out.shape == (2, 2, 3)
    for b in range(2):
        for i in range(2):
            for j in range(3):
                loc = i * 3 + j
                ref = mahalanobis(emb[b, :, i, j].double().numpy(), mean[loc].numpy(),
                                  inv[loc].numpy())
                assert out[b, i, j].item() == pytest.approx(ref, rel=1e-9)


def test_patch_embedding_upsamples_nearest_and_subsets() -> None:
    feats = {"a": torch.arange(8.0).reshape(1, 2, 2, 2), "b": torch.tensor([[[[7.0]]]])}
    emb = patch_embedding(feats, ["a", "b"], torch.tensor([0, 2]))
    assert emb.shape == (1, 2, 2, 2)
    torch.testing.assert_close(emb[0, 0], feats["a"][0, 0])
    torch.testing.assert_close(emb[0, 1], torch.full((2, 2), 7.0))


def test_padim_fit_score_shapes_weights_and_reload(tmp_path: Path) -> None:
    train, test = RGBSet(n=6, size=64), RGBSet(n=4, size=64, anomalous=2, seed=1)
    method = create_method("padim", {**SMALL, "n_features": 20}, device="cpu").fit(train)
    assert method.weights_used == "imagenet:efficientnet_lite0"
    # stages 2-3 of Lite0 at 64 px: the stride-8 grid, 8 x 8 locations, 20 of 152 channels
    assert method.mean.shape == (64, 20) and method.inv_cov.shape == (64, 20, 20)
    assert method.index.unique().numel() == 20 and int(method.index.max()) < 152
    scores = method.score(test)
    assert scores.maps is not None and scores.maps.shape == (4, 64, 64)
    np.testing.assert_allclose(scores.image, scores.maps.reshape(4, -1).max(axis=1))
    assert scores.image[2:].min() > scores.image[:2].max()  # the bright square stands out
    other = create_method("padim", {**SMALL, "n_features": 20}, seed=0, device="cpu")
    other.load(method.save(tmp_path / "padim.pt"))
    np.testing.assert_allclose(other.score(test).image, scores.image, rtol=1e-6)


def test_knn_distance_against_brute_force() -> None:
    rng = np.random.default_rng(0)
    bank, queries = rng.normal(size=(7, 5)), rng.normal(size=(4, 5))
    brute = np.sqrt(((queries[:, None, :] - bank[None, :, :]) ** 2).sum(-1))
    for k in (1, 3, 7):
        expected = np.sort(brute, axis=1)[:, :k].mean(axis=1)
        np.testing.assert_allclose(knn_distance(bank, queries, k), expected, rtol=1e-10)
    with pytest.raises(ValueError, match="only 7"):
        knn_distance(bank, queries, 8)


def test_knn_features_fit_score_and_brute_force_embedding() -> None:
    train, test = RGBSet(n=6, size=64), RGBSet(n=4, size=64, anomalous=2, seed=1)
    method = create_method("knn_features", {**SMALL, "k": 1}, device="cpu").fit(train)
    assert method.weights_used == "imagenet:efficientnet_lite0"
    assert method.bank.shape == (6, 40 + 112)
    scores = method.score(test)
    assert scores.image.shape == (4,) and scores.maps is None
    # brute force: pool each stage by hand, nearest training embedding
    with torch.no_grad():
        def emb(ds: RGBSet) -> torch.Tensor:
            feats = method.backbone(ds.images)
            return torch.cat([feats["layer2"].mean((2, 3)), feats["layer3"].mean((2, 3))], 1)
        dist = torch.cdist(emb(test).double(), emb(train).double()).min(dim=1).values
    np.testing.assert_allclose(scores.image, dist.numpy(), rtol=1e-5)
    assert scores.image[2:].min() > scores.image[:2].max()


def test_feature_floor_config_errors() -> None:
    with pytest.raises(ConfigError, match="k"):
        create_method("knn_features", {"k": 0})
    with pytest.raises(ConfigError, match="n_features"):
        create_method("padim", {"n_features": 500})
    with pytest.raises(ConfigError, match="layers"):
        create_method("padim", {"layers": ["layer5"]})
    with pytest.raises(ValueError, match="at least k"):
        create_method("knn_features", {**SMALL, "k": 9}, device="cpu").fit(RGBSet(n=4))
