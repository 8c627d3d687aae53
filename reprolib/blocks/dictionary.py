"""Batched dictionary learning: scikit-learn's ``dict_learning`` (method 'lars') for many
independent data sets at once (one per feature channel in MDFSC, §3.2).

Objective (MDFSC §3.2; scikit-learn's ``DictionaryLearning``)::

    min_{D, W}  sum_i 1/2 ||f_i - D^T w_i||^2 + alpha ||w_i||_1,   ||d_k|| <= 1

The algorithm is scikit-learn's batch ``dict_learning`` step for step, per group:
SVD initialisation (``code, S, V = svd(X)``, ``svd_flip``, dictionary = ``S V``, first ``K``
rows), then ``max_iter`` alternations of

- sparse coding of every sample by Lasso-LARS (here the exact batched solver of
  :mod:`reprolib.blocks.lasso`, which returns the same codes);
- one block-coordinate pass over the atoms (``_update_dict``): ``d_k += (B_k - A_k D) / A_kk``,
  projected onto ``||d_k|| <= 1``; an atom with ``A_kk <= 1e-6`` is re-drawn from a random
  sample plus 1 % noise, with a ``numpy.random.RandomState(seed)`` per group drawn in
  scikit-learn's order, so even re-drawn atoms match ``dict_learning(random_state=seed)``;
- stop (per group) when the cost decrease is below ``tol`` times the cost.

MLF-SC, MDFSC's ancestor, used ``MiniBatchDictionaryLearning`` (stochastic mini-batches); the
batch algorithm is used here because it is deterministic given the data (and the seed for
re-drawn atoms) and is checked against scikit-learn directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from reprolib.blocks.lasso import sparse_encode


@dataclass
class DictionaryResult:
    """Learned dictionaries (G, K, d) float64 and per-group bookkeeping."""

    dictionaries: torch.Tensor
    #: iterations run per group (scikit-learn's ``n_iter``)
    n_iter: list[int]
    #: cost per iteration per group
    costs: list[list[float]] = field(default_factory=list)
    #: whether each group met the ``tol`` criterion before ``max_iter``
    converged: list[bool] = field(default_factory=list)
    #: atoms re-drawn from the data over the run, per group
    resampled: list[int] = field(default_factory=list)


def _svd_init(x: torch.Tensor, n_components: int) -> torch.Tensor:
    """scikit-learn's initial dictionary: ``S V`` of ``svd(X)``, signs fixed by ``svd_flip``
    (largest-magnitude entry of each column of U positive), zero rows beyond the rank."""
    u, s, vh = torch.linalg.svd(x, full_matrices=False)
    big = torch.argmax(u.abs(), dim=1, keepdim=True)  # (G, 1, r)
    signs = torch.sign(torch.gather(u, 1, big)).squeeze(1)  # (G, r)
    signs = torch.where(signs == 0, torch.ones_like(signs), signs)
    dictionary = s[:, :, None] * vh * signs[:, :, None]
    r = dictionary.shape[1]
    if n_components <= r:
        return dictionary[:, :n_components].contiguous()
    pad = torch.zeros(x.shape[0], n_components - r, x.shape[2], dtype=x.dtype, device=x.device)
    return torch.cat([dictionary, pad], dim=1)


def learn_dictionaries(x: torch.Tensor, n_components: int, alpha: float = 1.0, *,
                       max_iter: int = 100, tol: float = 1e-8, seed: int = 0,
                       **lasso_kwargs: object) -> DictionaryResult:
    """Learn one dictionary of ``n_components`` atoms per group from ``x`` (G, N, d).

    Equal to ``sklearn.decomposition.dict_learning(x[g], n_components, alpha=alpha,
    method='lars', max_iter=max_iter, tol=tol, random_state=seed)[1]`` for every group ``g``
    (up to round-off). ``lasso_kwargs`` go to :func:`reprolib.blocks.lasso.batched_lasso_gram`.
    """
    if x.ndim != 3:
        raise ValueError(f"learn_dictionaries: expected x of shape (groups, samples, features), "
                         f"got {tuple(x.shape)}")
    if n_components < 1 or max_iter < 0:
        raise ValueError(f"n_components >= 1 and max_iter >= 0 expected, got {n_components}, "
                         f"{max_iter}")
    x = x.to(torch.float64)
    n_groups, n_samples, _ = x.shape
    dictionary = _svd_init(x, n_components)
    rngs = [np.random.RandomState(seed) for _ in range(n_groups)]
    x_np: np.ndarray | None = None
    running = torch.ones(n_groups, dtype=torch.bool)
    costs: list[list[float]] = [[] for _ in range(n_groups)]
    n_iter = [0] * n_groups
    resampled = [0] * n_groups
    converged = [False] * n_groups
    for _ in range(max_iter):
        live = torch.nonzero(running).squeeze(1)
        if not len(live):
            break
        xs, ds = x[live], dictionary[live].clone()
        code = sparse_encode(xs, ds, alpha, **lasso_kwargs).codes
        a = code.transpose(1, 2) @ code  # (g, K, K)
        b = xs.transpose(1, 2) @ code  # (g, d, K)
        for k in range(n_components):
            akk = a[:, k, k]
            used = akk > 1e-6
            step = (b[:, :, k] - torch.einsum("gj,gjd->gd", a[:, k], ds)) / \
                torch.where(used, akk, torch.ones_like(akk))[:, None]
            ds[:, k] = torch.where(used[:, None], ds[:, k] + step, ds[:, k])
            for j in torch.nonzero(~used).squeeze(1).tolist():
                g = int(live[j])
                if x_np is None:
                    x_np = x.cpu().numpy()
                rng = rngs[g]
                newd = x_np[g][rng.choice(n_samples)]
                noise = rng.normal(0, 0.01 * (newd.std() or 1), size=len(newd))
                ds[j, k] = torch.from_numpy(newd + noise).to(ds)
                code[j, :, k] = 0.0
                resampled[g] += 1
            norm = torch.linalg.vector_norm(ds[:, k], dim=1).clamp(min=1.0)
            ds[:, k] = ds[:, k] / norm[:, None]
        dictionary[live] = ds
        resid = xs - code @ ds
        cost = 0.5 * (resid ** 2).sum((1, 2)) + alpha * code.abs().sum((1, 2))
        for j, g in enumerate(live.tolist()):
            costs[g].append(float(cost[j]))
            n_iter[g] += 1
            if len(costs[g]) > 1 and costs[g][-2] - costs[g][-1] < tol * costs[g][-1]:
                running[g] = False
                converged[g] = True
    return DictionaryResult(dictionary, n_iter, costs, converged, resampled)


__all__ = ["DictionaryResult", "learn_dictionaries"]
