"""The label-free floors (issue 8) on toy sets whose answers are known by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from reprolib.config import ConfigError
from reprolib.methods import create_method


class Images(Dataset):
    """Given (N, C, H, W) images, with a fingerprint so the model cache can key them."""

    def __init__(self, images: torch.Tensor, tag: str = "toy") -> None:
        self.images = images.float()
        self.labels = np.zeros(len(images), dtype=int)
        self.fingerprint = {"toy": tag, "n": len(images)}

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict:
        return {"image": self.images[i], "label": 0, "mask": torch.zeros(1, *self.images.shape[2:]),
                "has_mask": False, "sublabel": "", "id": str(i)}


def _random(n: int, seed: int, size: int = 8, channels: int = 1) -> torch.Tensor:
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(seed))


def _standardised(x: torch.Tensor) -> np.ndarray:
    flat = x.flatten(1).double().numpy()
    flat = flat - flat.mean(1, keepdims=True)
    return flat / flat.std(1, keepdims=True)


def test_mean_intensity_by_hand() -> None:
    train = torch.stack([torch.full((1, 4, 4), v) for v in (0.2, 0.4, 0.6)])   # means: 0.4
    test = torch.stack([torch.full((1, 4, 4), 0.4), torch.full((1, 4, 4), 0.1),
                        torch.full((1, 4, 4), 0.9)])
    test[0, 0, 0, 0] = 0.4 + 1.6                                              # mean 0.5
    method = create_method("mean_intensity", {"img_size": 4}, device="cpu").fit(Images(train))
    scores = method.score(Images(test))
    np.testing.assert_allclose(scores.image, [0.1, 0.3, 0.5], atol=1e-6)
    assert scores.maps is None


@pytest.mark.parametrize("channels", [1, 3])
def test_knn_pixels_known_answers(channels: int) -> None:
    train = _random(6, 0, channels=channels)
    other = _random(2, 1, channels=channels)
    test = torch.cat([train[2:3], 3.0 * train[4:5] - 0.5, other])      # copy, affine copy, new
    method = create_method("knn_pixels", {"img_size": 8}, device="cpu").fit(Images(train))
    scores = method.score(Images(test))
    assert scores.image[0] == pytest.approx(0.0, abs=1e-9)
    assert scores.image[1] == pytest.approx(0.0, abs=1e-6)              # standardised away
    bank, queries = _standardised(train), _standardised(other)
    expected = np.sqrt(((queries[:, None] - bank[None]) ** 2).sum(-1)).min(1)
    np.testing.assert_allclose(scores.image[2:], expected, rtol=1e-9)
    assert scores.maps.shape == (4, 8, 8) and np.all(scores.maps[0] == 0)
    np.testing.assert_allclose(scores.maps.reshape(4, -1).sum(1) * channels,
                               scores.image ** 2, rtol=1e-5)


def test_pca_recon_reconstructs_its_span_exactly() -> None:
    train = _random(5, 0)                 # 5 images: the centred data has rank 4
    test = torch.cat([train[1:2], 2.0 * train[3:4] + 1.0, _random(1, 7)])
    method = create_method("pca_recon", {"img_size": 8, "n_components": 4},
                           device="cpu").fit(Images(train))
    assert method.components.shape == (4, 64)
    scores = method.score(Images(test))
    assert scores.image[0] == pytest.approx(0.0, abs=1e-10)
    assert scores.image[1] == pytest.approx(0.0, abs=1e-10)
    # a new image: its residual off the affine span of the training images, by least squares
    bank, query = _standardised(train), _standardised(_random(1, 7))[0]
    centred = bank - bank.mean(0)
    coef, *_ = np.linalg.lstsq(centred.T, query - bank.mean(0), rcond=None)
    residual = query - bank.mean(0) - centred.T @ coef
    assert scores.image[2] == pytest.approx(np.mean(residual ** 2), rel=1e-5)
    np.testing.assert_allclose(scores.maps[2].ravel(), residual ** 2, rtol=1e-4, atol=1e-7)


def test_pca_recon_caps_components_by_the_training_set() -> None:
    method = create_method("pca_recon", {"img_size": 8}, device="cpu").fit(Images(_random(3, 0)))
    assert method.components.shape == (3, 64)          # 20 asked, 3 images
    with pytest.raises(ConfigError, match="n_components"):
        create_method("pca_recon", {"n_components": 0})


@pytest.mark.parametrize("name", ["mean_intensity", "knn_pixels", "pca_recon"])
def test_floors_survive_the_model_cache(name: str, tmp_path, monkeypatch) -> None:
    from reprolib.cache import fit_or_load

    monkeypatch.setenv("REPROLIB_CACHE", str(tmp_path))
    train, test = Images(_random(6, 0)), Images(_random(3, 1))
    first = fit_or_load(name, {"img_size": 8}, train, device="cpu")
    again = fit_or_load(name, {"img_size": 8}, train, device="cpu")
    assert again.from_cache and not first.from_cache
    np.testing.assert_array_equal(first.score(test).image, again.score(test).image)
    assert again.history == []
