"""Batched dictionary learning (reprolib.blocks.dictionary) against scikit-learn's
``dict_learning`` (method 'lars'), re-drawn atoms included, and reproducibility by seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.decomposition import dict_learning

from reprolib.blocks.dictionary import learn_dictionaries

pytestmark = pytest.mark.usefixtures("one_thread")


def _data(n: int = 60, d: int = 16, groups: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((groups, n, d))
    x[1] *= 3.0
    return x


@pytest.mark.parametrize("max_iter", [1, 8])
def test_matches_sklearn_dict_learning(max_iter: int) -> None:
    x = _data()
    res = learn_dictionaries(torch.from_numpy(x), 6, 1.0, max_iter=max_iter, seed=0)
    for g in range(len(x)):
        _, ref, errors, n_iter = dict_learning(x[g], 6, alpha=1.0, method="lars",
                                               max_iter=max_iter, random_state=0,
                                               return_n_iter=True)
        np.testing.assert_allclose(res.dictionaries[g].numpy(), ref, atol=1e-6, rtol=0)
        np.testing.assert_allclose(res.costs[g], errors, rtol=1e-8)
        assert res.n_iter[g] == n_iter
    norms = torch.linalg.vector_norm(res.dictionaries, dim=-1)
    assert (norms <= 1 + 1e-12).all()


def test_resampled_atoms_match_sklearn_and_follow_the_seed() -> None:
    """More atoms than features: the SVD leaves zero atoms, which are re-drawn from the data
    with the seeded generator, in scikit-learn's order."""
    x = _data(n=30, d=5, groups=2, seed=1)
    res = learn_dictionaries(torch.from_numpy(x), 8, 0.5, max_iter=4, seed=3)
    assert min(res.resampled) > 0
    for g in range(len(x)):
        _, ref, _ = dict_learning(x[g], 8, alpha=0.5, method="lars", max_iter=4,
                                  random_state=3)
        np.testing.assert_allclose(res.dictionaries[g].numpy(), ref, atol=1e-6, rtol=0)
    again = learn_dictionaries(torch.from_numpy(x), 8, 0.5, max_iter=4, seed=3)
    assert torch.equal(res.dictionaries, again.dictionaries)
    other = learn_dictionaries(torch.from_numpy(x), 8, 0.5, max_iter=4, seed=4)
    assert not torch.allclose(res.dictionaries, other.dictionaries)


def test_stops_per_group_on_tolerance() -> None:
    x = _data(groups=2)
    res = learn_dictionaries(torch.from_numpy(x), 4, 1.0, max_iter=200, tol=1e-3, seed=0)
    for g in range(2):
        _, _, _, n_iter = dict_learning(x[g], 4, alpha=1.0, method="lars", max_iter=200,
                                        tol=1e-3, random_state=0, return_n_iter=True)
        assert res.n_iter[g] == n_iter < 200
        assert res.converged[g]


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="groups, samples, features"):
        learn_dictionaries(torch.zeros(5, 4), 2)
