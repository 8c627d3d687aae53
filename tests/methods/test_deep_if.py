"""Deep-IF (Ouardini et al. 2019): pooled ImageNet features + scikit-learn's IsolationForest,
reproducible by seed, equal to a forest fitted by hand on the same features, save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from distill_testkit import RGBSet
from sklearn.ensemble import IsolationForest

from reprolib.config import ConfigError
from reprolib.methods import create_method
from reprolib.methods.deep_if.model import fit_forest, forest_scores

pytestmark = pytest.mark.usefixtures("offline", "one_thread")
SMALL = {"img_size": 64, "batch_size": 4, "n_estimators": 50}


def test_forest_finds_far_points_and_is_reproducible_by_seed() -> None:
    rng = np.random.default_rng(0)
    normal = rng.normal(size=(200, 4))
    queries = np.vstack([rng.normal(size=(5, 4)), rng.normal(size=(5, 4)) + 8.0])
    a = forest_scores(fit_forest(normal, n_estimators=100, max_samples=256, seed=3), queries)
    b = forest_scores(fit_forest(normal, n_estimators=100, max_samples=256, seed=3), queries)
    c = forest_scores(fit_forest(normal, n_estimators=100, max_samples=256, seed=4), queries)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a[5:].min() > a[:5].max()  # far points are isolated sooner: higher scores
    assert ((a > 0) & (a <= 1)).all()  # s(x, n) of the paper, in (0, 1]
    # max_samples is capped by the number of training points (sklearn's "auto": min(256, N))
    assert fit_forest(normal[:20], n_estimators=5, max_samples=256, seed=0).max_samples_ == 20
    with pytest.raises(ValueError, match="N >= 2"):
        fit_forest(normal[:1], n_estimators=5, max_samples=256, seed=0)


def test_deep_if_fit_score_seed_and_reload(tmp_path: Path) -> None:
    train, test = RGBSet(n=8, size=64), RGBSet(n=4, size=64, anomalous=2, seed=1)
    method = create_method("deep_if", SMALL, seed=2, device="cpu").fit(train)
    assert method.weights_used == "imagenet:efficientnet_lite0"
    assert method.bank.shape == (8, 1280)  # Lite0's pooled head
    scores = method.score(test)
    assert scores.image.shape == (4,) and scores.maps is None
    # the same as scikit-learn's forest fitted by hand on the pooled features, seed as state
    with torch.no_grad():
        def emb(images: torch.Tensor) -> np.ndarray:
            return method.embedder.taps(images)["features.8"].mean(dim=(2, 3)).double().numpy()
        forest = IsolationForest(n_estimators=50, max_samples=8, random_state=2)
        expected = -forest.fit(emb(train.images)).score_samples(emb(test.images))
    np.testing.assert_allclose(scores.image, expected, rtol=1e-6)
    # reproducible by seed; another seed, another forest
    again = create_method("deep_if", SMALL, seed=2, device="cpu").fit(train).score(test)
    np.testing.assert_array_equal(again.image, scores.image)
    other = create_method("deep_if", SMALL, seed=3, device="cpu").fit(train).score(test)
    assert not np.array_equal(other.image, scores.image)
    # save / load: the forest is rebuilt from the stored features and the stored seed
    clone = create_method("deep_if", SMALL, seed=9, device="cpu").load(
        method.save(tmp_path / "deep_if.pt"))
    assert clone.seed == 2 and clone.weights_used == method.weights_used
    np.testing.assert_array_equal(clone.score(test).image, scores.image)


def test_deep_if_config_errors() -> None:
    with pytest.raises(ConfigError, match="n_estimators"):
        create_method("deep_if", {"n_estimators": 0})
    with pytest.raises(ConfigError, match="in_channels"):
        create_method("deep_if", {"in_channels": 1})
    with pytest.raises(RuntimeError, match="fit"):
        create_method("deep_if", SMALL, device="cpu").score(RGBSet(n=2, size=64))
