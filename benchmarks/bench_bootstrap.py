"""Time of the stratified bootstrap intervals (not run by the tests).

Usage: ``python benchmarks/bench_bootstrap.py [--images 300] [--side 64] [--resamples 1000]``

Image level: AUROC and AP intervals of ``images`` scores (half anomalous, AUROC about 0.75).
Pixel level: pixel AUROC and AUPR intervals of ``images`` maps of ``side`` x ``side`` float32
scores, a square lesion in half of them; the time includes the per-image histograms. Each is
timed as the best of three runs on the threads NumPy is given (set OMP_NUM_THREADS).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
from reprolib.metrics.bootstrap import image_intervals, pixel_intervals  # noqa: E402


def best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--side", type=int, default=64)
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(args.images // 2, int), np.ones(args.images - args.images // 2, int)]
    scores = rng.normal(size=labels.size) + 0.95 * labels
    maps = rng.gamma(2.0, 1.0, size=(args.images, args.side, args.side)).astype(np.float32)
    masks = np.zeros(maps.shape, dtype=np.uint8)
    lesion = max(2, args.side // 4)
    for i in range(0, args.images, 2):
        y, x = rng.integers(0, args.side - lesion, size=2)
        masks[i, y:y + lesion, x:x + lesion] = 1
        maps[i, y:y + lesion, x:x + lesion] += 1.0
    t_image = best_of(lambda: image_intervals(labels, scores, n_resamples=args.resamples))
    t_pixel = best_of(lambda: pixel_intervals(maps, masks, n_resamples=args.resamples))
    print(f"image AUROC+AP interval, {args.images} images, {args.resamples} resamples: "
          f"{t_image:.3f} s")
    print(f"pixel AUROC+AUPR interval, {args.images} maps of {args.side}x{args.side}, "
          f"{args.resamples} resamples: {t_pixel:.3f} s")


if __name__ == "__main__":
    main()
