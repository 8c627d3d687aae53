"""The batched Lasso (reprolib.blocks.lasso) against scikit-learn's LassoLars: codes, supports,
alpha scaling, all-zero codes, near-degenerate atoms, the fallback path, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.decomposition import sparse_encode as sk_sparse_encode
from sklearn.linear_model import LassoLars

from reprolib.blocks.lasso import batched_lasso_gram, lassolars_lambda, sparse_encode

pytestmark = pytest.mark.usefixtures("one_thread")


def _problems(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """4 dictionaries of 12 atoms in 30 dimensions, 40 samples each. Dictionary 1 has two
    near-degenerate pairs (atom correlations 0.999 and 0.98); dictionary 2 has non-unit atoms;
    the last 5 samples of dictionary 3 are tiny (all-zero codes) and one is exactly 0."""
    rng = np.random.default_rng(seed)
    g, k, d, n = 4, 12, 30, 40
    dic = rng.standard_normal((g, k, d))
    dic /= np.linalg.norm(dic, axis=2, keepdims=True)
    for a, b, rho in ((0, 1, 0.999), (2, 3, 0.98)):
        other = dic[1, b] - (dic[1, b] @ dic[1, a]) * dic[1, a]
        dic[1, b] = rho * dic[1, a] + np.sqrt(1 - rho ** 2) * other / np.linalg.norm(other)
    dic[2] *= rng.uniform(0.5, 2.0, (k, 1))
    sparse = rng.standard_normal((g, n, k)) * (rng.random((g, n, k)) < 0.3) * 3
    x = sparse @ dic + 0.3 * rng.standard_normal((g, n, d))
    x[3, -5:] *= 0.01
    x[3, -1] = 0.0
    return x, dic


@pytest.mark.parametrize("alpha", [0.1, 1.0, 3.0])
def test_codes_match_lassolars(alpha: float) -> None:
    x, dic = _problems()
    ref = np.stack([sk_sparse_encode(x[g], dic[g], algorithm="lasso_lars", alpha=alpha)
                    for g in range(len(x))])
    res = sparse_encode(torch.from_numpy(x), torch.from_numpy(dic), alpha)
    ours = res.codes.numpy()
    assert ours.dtype == np.float64 and ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=1e-4, rtol=0)
    # same supports (scikit-learn's LARS may leave round-off dust, far below 1e-8)
    np.testing.assert_array_equal(np.abs(ours) > 1e-8, np.abs(ref) > 1e-8)
    assert res.n_fallback == 0
    # the tiny samples have all-zero codes, exactly
    assert (ours[3, -5:] == 0).all() and (ref[3, -5:] == 0).all()
    # the case is not trivial: codes of several sizes
    sizes = (np.abs(ref) > 1e-8).sum(-1)
    assert sizes.max() >= 4 and (sizes == 0).sum() >= 5


def test_lassolars_alpha_scaling() -> None:
    """LassoLars(alpha) minimises 1/(2 d) ||x - D^T c||^2 + alpha ||c||_1: lam = alpha d."""
    x, dic = _problems(1)
    alpha = 0.02
    lam = lassolars_lambda(alpha, x.shape[2])
    assert lam == pytest.approx(alpha * 30)
    ours = sparse_encode(torch.from_numpy(x[:1]), torch.from_numpy(dic[:1]), lam).codes[0]
    model = LassoLars(alpha=alpha, fit_intercept=False).fit(dic[0].T, x[0].T)
    np.testing.assert_allclose(ours.numpy(), model.coef_, atol=1e-4, rtol=0)
    assert (ours != 0).any()


def test_fallback_path_is_exact_too() -> None:
    """With no iterations to speak of, unsolved problems go to scikit-learn: still exact."""
    x, dic = _problems(2)
    ref = np.stack([sk_sparse_encode(x[g], dic[g], algorithm="lasso_lars", alpha=0.5)
                    for g in range(len(x))])
    res = sparse_encode(torch.from_numpy(x), torch.from_numpy(dic), 0.5, iters_per_round=1,
                        max_rounds=1, active_set_steps=0)
    assert res.n_fallback > 0
    np.testing.assert_allclose(res.codes.numpy(), ref, atol=1e-4, rtol=0)
    with pytest.raises(RuntimeError, match="fallback is off"):
        sparse_encode(torch.from_numpy(x), torch.from_numpy(dic), 0.5, iters_per_round=1,
                      max_rounds=1, active_set_steps=0, fallback=False)


def test_chunking_does_not_change_codes() -> None:
    x, dic = _problems(3)
    whole = sparse_encode(torch.from_numpy(x), torch.from_numpy(dic), 1.0).codes
    pieces = sparse_encode(torch.from_numpy(x), torch.from_numpy(dic), 1.0, chunk=500).codes
    torch.testing.assert_close(whole, pieces, atol=1e-10, rtol=0)


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="expected x"):
        sparse_encode(torch.zeros(2, 5, 4), torch.zeros(2, 3, 5))
    with pytest.raises(ValueError, match="gram"):
        batched_lasso_gram(torch.zeros(2, 3, 4), torch.zeros(2, 5, 3), 1.0)
    with pytest.raises(ValueError, match="lam"):
        batched_lasso_gram(torch.eye(3)[None], torch.zeros(1, 5, 3), 0.0)


def test_residuals_equal_the_reconstruction_error() -> None:
    x, dic = _problems(4)
    res = sparse_encode(torch.from_numpy(x), torch.from_numpy(dic), 1.0, residuals=True)
    recon = torch.bmm(res.codes, torch.from_numpy(dic))
    expected = ((torch.from_numpy(x) - recon) ** 2).sum(-1)
    assert res.residuals is not None
    torch.testing.assert_close(res.residuals, expected, atol=1e-9, rtol=1e-9)
