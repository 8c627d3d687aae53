"""The batched Lasso of ``reprolib.blocks.lasso`` against scikit-learn's ``LassoLars`` on
MDFSC-sized problems (not run by the tests).

Usage: ``python benchmarks/bench_lasso.py [--channels 16] [--images 2] [--img-size 512]
[--atoms 50] [--patch 16] [--dict-iter 10] [--threads 1] [--full-image]``

Realistic inputs: phantom EyeQ fundus images at ``img-size`` px, MDFSC's multi-scale VGG16
features (the encoder at its seeded initialisation: trained autoencoders are not at hand
here), 2-pixel crop, per-image standardisation, 16x16 patches with stride 2 (529 per channel
per 512 px image). ``channels`` channels spread over the three taps get a 50-atom dictionary
each (batched ``dict_learning``, alpha 1) from the patches of 4 training images; the patches of
``images`` test images are then coded with alpha 1 in the paper's scaling, i.e. scikit-learn's
``sparse_encode(algorithm='lasso_lars', alpha=1)`` = ``LassoLars(alpha=1/256,
fit_intercept=False)`` per channel, and by ``reprolib.blocks.lasso.sparse_encode``.

Printed: both times, the speed-up, the largest code difference, support agreement, code
sparsity (and the sparsity ``LassoLars(alpha=1)`` itself, i.e. 256x the penalty, would give),
and the time per 512 px image for all 896 channels, extrapolated from the measured channels
and, with ``--full-image``, measured end to end through ``MDFSC.residuals``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
from reprolib.blocks.dictionary import learn_dictionaries  # noqa: E402
from reprolib.blocks.lasso import lassolars_lambda, sparse_encode  # noqa: E402
from reprolib.data import get_dataset  # noqa: E402
from reprolib.methods import create_method  # noqa: E402
from reprolib.methods.mdfsc.model import N_CHANNELS  # noqa: E402


def sklearn_codes(x: np.ndarray, dictionary: np.ndarray, alpha: float) -> np.ndarray:
    """scikit-learn's codes, one channel at a time: ``sparse_encode(algorithm='lasso_lars')``,
    i.e. ``LassoLars(alpha / d, fit_intercept=False, precompute=Gram)`` on all patches."""
    from sklearn.decomposition import sparse_encode as sk_sparse_encode

    return np.stack([sk_sparse_encode(xs, ds, algorithm="lasso_lars", alpha=alpha)
                     for xs, ds in zip(x, dictionary)])


def objective(x: torch.Tensor, dictionary: torch.Tensor, codes: np.ndarray,
              alpha: float) -> np.ndarray:
    """``1/2 ||x - D^T c||^2 + alpha ||c||_1`` per problem."""
    c = torch.from_numpy(codes).to(x)
    return (0.5 * ((x - c @ dictionary) ** 2).sum(-1) + alpha * c.abs().sum(-1)).cpu().numpy()


def kkt_violation(x: torch.Tensor, dictionary: torch.Tensor, codes: np.ndarray,
                  alpha: float) -> float:
    """Largest violation of the Lasso optimality conditions: ``|D (x - D^T c)|_j <= alpha``
    off the support and ``= alpha sign(c_j)`` on it (support: ``|c_j| > 1e-12``)."""
    c = torch.from_numpy(codes).to(x)
    c = torch.where(c.abs() > 1e-12, c, torch.zeros_like(c))  # round-off dust is not support
    corr = (x - c @ dictionary) @ dictionary.transpose(1, 2)
    on = torch.where(c != 0, (corr - alpha * torch.sign(c)).abs(), torch.zeros_like(c))
    off = torch.where(c == 0, corr.abs() - alpha, torch.zeros_like(c))
    return float(torch.maximum(on, off).max().clamp(min=0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--images", type=int, default=2)
    parser.add_argument("--img-size", type=int, default=512)
    parser.add_argument("--atoms", type=int, default=50)
    parser.add_argument("--patch", type=int, default=16)
    parser.add_argument("--dict-iter", type=int, default=10)
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--full-image", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    method = create_method("mdfsc", {"img_size": args.img_size, "patch_size": args.patch,
                                     "n_atoms": args.atoms, "alpha": args.alpha,
                                     "encoder_init": "random"},
                           seed=args.seed, device=args.device)
    spec = method.data_spec()
    train = get_dataset("phantom_eyeq", "train", n_train=8, n_test=max(4, args.images), **spec)
    test = get_dataset("phantom_eyeq", "test", n_train=8, n_test=max(4, args.images), **spec)
    channels = np.linspace(0, N_CHANNELS - 1, args.channels).round().astype(int)

    def patches(data: object, n: int) -> torch.Tensor:
        x = torch.stack([data[i]["image"] for i in range(n)]).to(method.device)  # type: ignore
        p = method.feature_patches(x)[torch.from_numpy(channels)]
        return p.reshape(len(channels), -1, p.shape[-1]).to(torch.float64)

    x_train, x_test = patches(train, 4), patches(test, args.images)
    t0 = time.perf_counter()
    dictionaries = learn_dictionaries(x_train, args.atoms, args.alpha, max_iter=args.dict_iter,
                                      seed=args.seed).dictionaries
    print(f"dictionaries: {len(channels)} channels x {args.atoms} atoms x {x_train.shape[2]} "
          f"from {x_train.shape[1]} patches each, {args.dict_iter} iterations: "
          f"{time.perf_counter() - t0:.1f} s")
    n_problems = x_test.shape[0] * x_test.shape[1]
    print(f"coding {x_test.shape[1]} patches x {len(channels)} channels = {n_problems} Lasso "
          f"problems, alpha {args.alpha} (sparse_encode scaling), {args.threads} thread(s)")

    t0 = time.perf_counter()
    ref = sklearn_codes(x_test.cpu().numpy(), dictionaries.cpu().numpy(), args.alpha)
    t_sk = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = sparse_encode(x_test, dictionaries, args.alpha)
    if x_test.is_cuda:
        torch.cuda.synchronize()
    t_ours = time.perf_counter() - t0
    ours = res.codes.cpu().numpy()
    diff = np.abs(ours - ref).max()
    support = ((ours != 0) == (ref != 0)).all(-1).mean()
    nonzero = (ref != 0).sum(-1)
    print(f"scikit-learn LassoLars: {t_sk:.2f} s ({1e3 * t_sk / n_problems:.3f} ms/problem)")
    print(f"batched torch Lasso:    {t_ours:.2f} s ({1e3 * t_ours / n_problems:.3f} ms/problem; "
          f"{res.rounds} round(s), {res.n_fallback} scikit-learn fallbacks)")
    print(f"speed-up: {t_sk / t_ours:.1f}x")
    big_support = ((np.abs(ours) > 1e-4) == (np.abs(ref) > 1e-4)).all(-1).mean()
    mismatch = (ours != 0) != (ref != 0)
    print(f"max abs code difference: {diff:.3e}; identical supports (c != 0): "
          f"{100 * support:.3f} % of problems; identical supports of |c| > 1e-4: "
          f"{100 * big_support:.3f} %")
    if mismatch.any():
        print(f"  where the supports differ: |ours| <= {np.abs(ours[mismatch]).max():.2e}, "
              f"|scikit-learn| <= {np.abs(ref[mismatch]).max():.2e}")
    kkt_ours = kkt_violation(x_test, dictionaries, ours, args.alpha)
    kkt_ref = kkt_violation(x_test, dictionaries, ref, args.alpha)
    gap = objective(x_test, dictionaries, ours, args.alpha) - \
        objective(x_test, dictionaries, ref, args.alpha)
    print(f"  optimality (KKT) violation: ours {kkt_ours:.2e}, scikit-learn {kkt_ref:.2e}; "
          f"objective ours - scikit-learn: min {gap.min():.2e}, max {gap.max():.2e}")
    print(f"sparsity (alpha {args.alpha}, sparse_encode scaling): {nonzero.mean():.1f} of "
          f"{args.atoms} atoms active on average (median {np.median(nonzero):.0f}, max "
          f"{nonzero.max()}); all-zero codes: {100 * (nonzero == 0).mean():.2f} %")
    big = sparse_encode(x_test, dictionaries,
                        lassolars_lambda(args.alpha, x_test.shape[2])).codes
    nz_big = (big != 0).sum(-1).cpu().numpy()
    print(f"(LassoLars(alpha={args.alpha}) scaling, penalty x{x_test.shape[2]}: "
          f"{nz_big.mean():.2f} atoms active on average, all-zero codes "
          f"{100 * (nz_big == 0).mean():.2f} %)")
    per_image = t_ours / args.images * N_CHANNELS / len(channels)
    per_image_sk = t_sk / args.images * N_CHANNELS / len(channels)
    print(f"extrapolated to 896 channels: {per_image:.1f} s per image (ours), "
          f"{per_image_sk / 60:.1f} min per image (scikit-learn)")

    if args.full_image:
        # every channel gets the dictionary learned for the nearest measured channel
        nearest = np.abs(np.arange(N_CHANNELS)[:, None] - channels[None, :]).argmin(1)
        method.dictionaries = dictionaries.float().cpu()[torch.from_numpy(nearest)]
        method.fitted = True
        x = test[0]["image"][None].to(method.device)
        t0 = time.perf_counter()
        method.residuals(x)
        print(f"full image ({args.img_size} px, 896 channels, each with the dictionary of the "
              f"nearest measured channel): {time.perf_counter() - t0:.1f} s per image end to end"
              f" (features, patches, Lasso, residuals); "
              f"Lasso: {method.lasso_info}")


if __name__ == "__main__":
    main()
