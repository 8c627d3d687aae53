"""An exact batched Lasso solver in torch: many independent problems, one dictionary per group.

MDFSC (§3.2, §4.2) codes every 16x16 patch of every one of 896 feature channels by Lasso-LARS
against that channel's dictionary. scikit-learn solves those problems one by one (LARS in a
Python loop per target); here all problems of all channels are solved at once.

Problem (``sparse_encode`` / ``DictionaryLearning`` convention, the paper's Eq. in §3.2)::

    c* = argmin_c  1/2 ||x - D^T c||^2 + lam ||c||_1        D: (K atoms, d), x: (d,)

scikit-learn's ``LassoLars(alpha, fit_intercept=False)`` on the regression ``x ~ D^T c`` minimises
``1/(2 d) ||x - D^T c||^2 + alpha ||c||_1``, i.e. the same problem with ``lam = alpha * d``;
``sparse_encode(..., algorithm='lasso_lars', alpha=a)`` (and ``transform_alpha=a`` of the
dictionary learners) calls ``LassoLars(alpha=a / d)``, i.e. ``lam = a``.

Method (exact, not approximate): the Lasso solution is unique when the active atoms are linearly
independent, and it is then determined by its support A and signs s through
``c_A = G_AA^-1 (q_A - lam s_A)``, ``c_rest = 0`` (G = D D^T, q = D x). So

1. accelerated proximal gradient (FISTA with adaptive restart, float32) finds the support and
   signs;
2. the reduced system is solved in float64 on that support ("polish");
3. the optimality (KKT) conditions are checked in float64: ``sign(c_A) = s_A`` and
   ``|q_j - (G c)_j| <= lam`` off the support. Problems that pass are done, to round-off;
   the rest get more proximal-gradient steps and are polished again;
4. any problem still failing after ``max_rounds`` is solved by scikit-learn's ``lars_path_gram``
   (the reference itself), so the answer is exact in every case; ``LassoResult`` counts them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class LassoResult:
    """Codes (G, N, K) float64 plus how they were obtained."""

    codes: torch.Tensor
    #: proximal-gradient rounds used (each ``iters_per_round`` steps)
    rounds: int
    #: problems solved by the scikit-learn fallback (0 when every polish passed its KKT check)
    n_fallback: int
    #: largest KKT violation left (max over problems of ``|q_j - (Gc)_j| - lam`` off-support,
    #: clipped at 0), in float64
    max_kkt_violation: float
    #: (G, N) squared residuals ``||x - D^T c||^2`` when asked for (``sparse_encode``)
    residuals: torch.Tensor | None = None


def lassolars_lambda(alpha: float, n_features: int) -> float:
    """The ``lam`` of this module for scikit-learn's ``LassoLars(alpha)`` on ``n_features``-long
    targets (its loss is scaled by ``1 / (2 n_samples)`` with ``n_samples = n_features`` here)."""
    return float(alpha) * int(n_features)


def _soft(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Soft thresholding ``sign(z) max(|z| - t, 0)``, written as ``z - clip(z, -t, t)``."""
    return z - torch.maximum(torch.minimum(z, t), -t)


def _padded(gram: torch.Tensor) -> torch.Tensor:
    """(G, K+1, K+1): ``gram`` with a zero row and column K, the padding slot of
    :func:`_polish`."""
    n_groups, k, _ = gram.shape
    out = torch.zeros(n_groups, k + 1, k + 1, dtype=gram.dtype, device=gram.device)
    out[:, :k, :k] = gram
    return out


def _polish(gram_pad: torch.Tensor, q: torch.Tensor, lam: float, active: torch.Tensor,
            signs: torch.Tensor, group: torch.Tensor) -> torch.Tensor:
    """Solve ``G_AA c_A = q_A - lam s_A`` for flat problems (P,) of groups ``group``.

    ``gram_pad`` (G, K+1, K+1) from :func:`_padded`, float64; ``q`` (P, K) float64;
    ``active``/``signs`` (P, K). The active indices are gathered first (padded with the unit
    slot K) so that each system is only as large as the largest support.
    """
    n_prob, k = q.shape
    kmax = int(active.sum(1).max()) if n_prob else 0
    codes = torch.zeros(n_prob, k + 1, dtype=q.dtype, device=q.device)
    if kmax == 0:
        return codes[:, :k]
    slots = torch.arange(k, device=q.device).expand(n_prob, k)
    order = torch.where(active, slots, k).sort(dim=1).values[:, :kmax]  # active first, then K
    sub = gram_pad[group[:, None, None], order[:, :, None], order[:, None, :]]
    sub.diagonal(dim1=1, dim2=2).add_(order == k)  # identity where padded
    rhs = (q - lam * signs) * active
    rhs = torch.gather(torch.nn.functional.pad(rhs, (0, 1)), 1, order)
    # G_AA is symmetric positive definite when the active atoms are independent: Cholesky
    chol, info = torch.linalg.cholesky_ex(sub)
    sol = torch.cholesky_solve(rhs.unsqueeze(-1), chol).squeeze(-1)
    sol = sol * (info == 0)[:, None]
    codes.scatter_(1, order, sol)
    return codes[:, :k]


def _kkt_ok(gram: torch.Tensor, q: torch.Tensor, lam: float, codes: torch.Tensor,
            active: torch.Tensor, signs: torch.Tensor, group: torch.Tensor,
            rtol: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Which polished problems satisfy the Lasso optimality conditions, and the violation."""
    corr = q - _group_matmul(codes, gram, group)
    tol = rtol * max(lam, 1.0)
    off = torch.where(active, torch.zeros_like(corr), corr.abs() - lam)
    viol = off.amax(1).clamp(min=0.0)
    sign_ok = ((codes * signs) > 0) | ~active
    return (viol <= tol) & sign_ok.all(1), viol, corr


def _group_matmul(codes: torch.Tensor, gram: torch.Tensor, group: torch.Tensor) -> torch.Tensor:
    """``codes[p] @ gram[group[p]]`` without materialising ``gram[group]`` for every problem."""
    out = torch.empty_like(codes)
    for g in torch.unique(group).tolist():
        sel = group == g
        out[sel] = codes[sel] @ gram[g]
    return out


def _fista(gram: torch.Tensor, q: torch.Tensor, lam: float, start: torch.Tensor,
           step: torch.Tensor, iters: int) -> torch.Tensor:
    """``iters`` FISTA steps with gradient-based adaptive restart on (G, N, K) problems."""
    c = start.clone()
    y = c.clone()
    t = torch.ones(q.shape[:2] + (1,), dtype=q.dtype, device=q.device)
    thresh = (lam * step)[:, None, None]
    step = step[:, None, None]
    neg_q = -q
    for _ in range(iters):
        grad = torch.baddbmm(neg_q, y, gram)  # y G - q
        c_new = _soft(torch.addcmul(y, grad, step, value=-1.0), thresh)
        diff = c_new - c
        # restart momentum where it points uphill (O'Donoghue & Candes 2015)
        restart = ((y - c_new) * diff).sum(-1, keepdim=True) > 0
        t_new = 0.5 * (1.0 + torch.sqrt(1.0 + 4.0 * t * t))
        beta = (t - 1.0) / t_new * (~restart)
        t = torch.where(restart, torch.ones_like(t_new), t_new)
        y = torch.addcmul(c_new, diff, beta)
        c = c_new
    return c


def _sklearn_fallback(gram: np.ndarray, q: np.ndarray, lam: float, n_features: int) -> np.ndarray:
    """The reference: scikit-learn's LARS-Lasso path in Gram form, last point of the path."""
    from sklearn.linear_model import lars_path_gram

    _, _, coefs = lars_path_gram(Xy=q, Gram=gram, n_samples=n_features,
                                 alpha_min=lam / n_features, method="lasso")
    return coefs[:, -1]


def batched_lasso_gram(gram: torch.Tensor, q: torch.Tensor, lam: float, *,
                       n_features: int | None = None, iters_per_round: int = 20,
                       max_rounds: int = 20, active_set_steps: int = 6, rtol: float = 1e-9,
                       fallback: bool = True, chunk: int = 1 << 19) -> LassoResult:
    """Solve ``min_c 1/2 c^T G c - q^T c + lam ||c||_1`` for every row of ``q``.

    ``gram``: (G, K, K) Gram matrices ``D D^T``, one per group (channel); ``q``: (G, N, K)
    correlations ``X D^T``. Returns float64 codes (G, N, K). ``n_features`` (the patch length d)
    is needed only by the scikit-learn fallback. ``chunk`` bounds the problems (x K) held in
    one proximal-gradient batch.
    """
    if gram.ndim != 3 or gram.shape[1] != gram.shape[2]:
        raise ValueError(f"gram: expected (groups, K, K), got {tuple(gram.shape)}")
    if q.ndim != 3 or q.shape[0] != gram.shape[0] or q.shape[2] != gram.shape[1]:
        raise ValueError(f"q: expected (groups={gram.shape[0]}, N, K={gram.shape[1]}), "
                         f"got {tuple(q.shape)}")
    if not lam > 0:
        raise ValueError(f"lam: expected a positive regularisation, got {lam}")
    n_groups, n, k = q.shape
    gram64 = gram.to(torch.float64)
    q64 = q.to(torch.float64)
    codes = torch.zeros_like(q64)
    per = max(1, chunk // max(1, n * k))
    rounds_used, n_fallback, worst = 0, 0, 0.0
    for g0 in range(0, n_groups, per):
        g1 = min(n_groups, g0 + per)
        sl = slice(g0, g1)
        res = _solve_chunk(gram64[sl], q64[sl], lam, n_features, iters_per_round, max_rounds,
                           active_set_steps, rtol, fallback)
        codes[sl] = res.codes
        rounds_used = max(rounds_used, res.rounds)
        n_fallback += res.n_fallback
        worst = max(worst, res.max_kkt_violation)
    return LassoResult(codes, rounds_used, n_fallback, worst)


def _solve_chunk(gram64: torch.Tensor, q64: torch.Tensor, lam: float, n_features: int | None,
                 iters: int, max_rounds: int, active_set_steps: int, rtol: float,
                 fallback: bool) -> LassoResult:
    n_groups, n, k = q64.shape
    gram32, q32 = gram64.to(torch.float32), q64.to(torch.float32)
    # step 1/L, L = the largest eigenvalue of each Gram matrix
    step = (1.0 / torch.linalg.eigvalsh(gram64)[:, -1].clamp(min=1e-12)).to(torch.float32)
    group = torch.arange(n_groups, device=q64.device).repeat_interleave(n)
    flat_q = q64.reshape(-1, k)
    out = torch.zeros_like(flat_q)
    done = torch.zeros(len(flat_q), dtype=torch.bool, device=q64.device)
    viol_all = torch.zeros(len(flat_q), dtype=torch.float64, device=q64.device)
    # quick exit: c = 0 is optimal where every |q_j| <= lam
    zero = flat_q.abs().amax(1) <= lam
    done |= zero
    iterate = torch.zeros_like(q32)
    gram_pad = _padded(gram64)
    few = max(n, 4096)
    rounds = 0
    while rounds < max_rounds and not bool(done.all()):
        rounds += 1
        idx = torch.nonzero(~done).squeeze(1)
        if len(idx) <= few:
            # the last few problems: one (K, K) system each, not whole channels
            flat_it = iterate.reshape(-1, k)
            grp = group[idx]
            sub = _fista(gram32[grp], q32.reshape(-1, k)[idx, None], lam, flat_it[idx, None],
                         step[grp], iters)
            flat_it[idx] = sub[:, 0]
        else:
            todo_groups = torch.unique(group[idx])
            sub = _fista(gram32[todo_groups], q32[todo_groups], lam, iterate[todo_groups],
                         step[todo_groups], iters)
            iterate[todo_groups] = sub
            flat_it = iterate.reshape(-1, k)
        cur = flat_it[idx].to(torch.float64)
        active = cur != 0
        signs = torch.sign(cur)
        for _ in range(1 + active_set_steps):
            # similar support sizes together, so each piece solves systems of its own size
            by_size = torch.argsort(active.sum(1), stable=True)
            pol = torch.empty(len(idx), k, dtype=torch.float64, device=q64.device)
            for piece in torch.split(by_size, 2048):
                i = idx[piece]
                pol[piece] = _polish(gram_pad, flat_q[i], lam, active[piece], signs[piece],
                                     group[i])
            ok, viol, corr = _kkt_ok(gram64, flat_q[idx], lam, pol, active, signs, group[idx],
                                     rtol)
            out[idx[ok]] = pol[ok]
            viol_all[idx] = viol
            done[idx[ok]] = True
            keep = ~ok
            if not bool(keep.any()):
                break
            # active-set step: drop atoms whose sign flipped, add the violators with the sign
            # of their correlation (primal-dual active-set update)
            idx, pol, corr = idx[keep], pol[keep], corr[keep]
            active, signs = active[keep], signs[keep]
            adding = ~active & (corr.abs() > lam)
            active = (active & (pol * signs > 0)) | adding
            signs = torch.where(adding, torch.sign(corr), signs) * active
    n_fallback = 0
    if not bool(done.all()):
        idx = torch.nonzero(~done).squeeze(1)
        if not fallback:
            raise RuntimeError(f"batched Lasso: {len(idx)} problems failed the KKT check after "
                               f"{rounds} rounds and the fallback is off")
        if n_features is None:
            raise ValueError("n_features is needed by the scikit-learn fallback")
        g_np = gram64.cpu().numpy()
        q_np = flat_q[idx].cpu().numpy()
        grp = group[idx].cpu().numpy()
        sol = np.stack([_sklearn_fallback(g_np[g], qq, lam, n_features)
                        for g, qq in zip(grp, q_np)])
        out[idx] = torch.from_numpy(sol).to(out)
        viol_all[idx] = 0.0
        n_fallback = len(idx)
    return LassoResult(out.reshape(n_groups, n, k), rounds, n_fallback,
                       float(viol_all.max()) if len(viol_all) else 0.0)


def sparse_encode(x: torch.Tensor, dictionary: torch.Tensor, alpha: float = 1.0, *,
                  residuals: bool = False, **kwargs: object) -> LassoResult:
    """Lasso codes of ``x`` (G, N, d) against ``dictionary`` (G, K, d), as scikit-learn's
    ``sparse_encode(x[g], dictionary[g], algorithm='lasso_lars', alpha=alpha)`` for every group
    ``g`` (objective ``1/2 ||x - D^T c||^2 + alpha ||c||_1``). Keyword arguments go to
    :func:`batched_lasso_gram`. ``residuals=True`` also returns ``||x - D^T c||^2`` per sample,
    computed in float64 as ``||x||^2 - 2 c.q + c.G c`` (no reconstruction needed)."""
    if x.ndim != 3 or dictionary.ndim != 3 or x.shape[0] != dictionary.shape[0] \
            or x.shape[2] != dictionary.shape[2]:
        raise ValueError(f"sparse_encode: expected x (G, N, d) and dictionary (G, K, d), got "
                         f"{tuple(x.shape)} and {tuple(dictionary.shape)}")
    d64 = dictionary.to(torch.float64)
    x64 = x.to(torch.float64)
    gram = torch.bmm(d64, d64.transpose(1, 2))
    q = torch.bmm(x64, d64.transpose(1, 2))
    result = batched_lasso_gram(gram, q, float(alpha), n_features=x.shape[2], **kwargs)
    if residuals:
        c = result.codes
        r = (x64 * x64).sum(-1) - 2.0 * (c * q).sum(-1) + (torch.bmm(c, gram) * c).sum(-1)
        result.residuals = r.clamp(min=0.0)
    return result


__all__ = ["LassoResult", "batched_lasso_gram", "lassolars_lambda", "sparse_encode"]
