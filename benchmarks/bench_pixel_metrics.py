"""Time and peak memory of the pooled pixel metrics at 5e7 pixels (not run by the tests).

Usage: ``python benchmarks/bench_pixel_metrics.py [--pixels 5e7] [--batch-images 20]
[--lesion-fraction 0.05] [--levels 4096] [--sklearn]``

Synthetic 500 x 500 float32 maps, quantised to ``levels`` values (many ties), with square
lesions covering about ``lesion-fraction`` of the pixels, are generated batch by batch and
streamed into :class:`reprolib.metrics.PixelMetricAccumulator`. Peak memory is measured with
``tracemalloc`` (NumPy reports its buffers to it) from the first ``add`` on, the batch being
generated included; ``ru_maxrss`` of the whole process is printed too. ``--sklearn`` also
times scikit-learn on the same pixels (float64 copies, so it needs several GB at 5e7).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
from reprolib.metrics import PixelMetricAccumulator  # noqa: E402

SIDE = 500


def make_batch(rng: np.random.Generator, n_images: int, lesion_fraction: float,
               levels: int) -> tuple[np.ndarray, np.ndarray]:
    """Maps in [0, 1] on ``levels`` steps, higher on average inside the lesions."""
    masks = np.zeros((n_images, SIDE, SIDE), dtype=np.uint8)
    lesion_side = int(round(SIDE * np.sqrt(lesion_fraction)))
    for i in range(n_images):
        row, col = rng.integers(0, SIDE - lesion_side + 1, 2)
        masks[i, row:row + lesion_side, col:col + lesion_side] = 1
    maps = rng.random((n_images, SIDE, SIDE), dtype=np.float32)
    maps += 0.3 * masks
    maps = np.floor(maps * (levels - 1) / 1.3) / (levels - 1)
    return maps.astype(np.float32), masks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pixels", type=float, default=5e7)
    parser.add_argument("--batch-images", type=int, default=20)
    parser.add_argument("--lesion-fraction", type=float, default=0.05)
    parser.add_argument("--levels", type=int, default=4096)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sklearn", action="store_true")
    args = parser.parse_args()

    n_images = int(round(args.pixels / SIDE**2))
    rng = np.random.default_rng(args.seed)
    accumulator = PixelMetricAccumulator()
    tracemalloc.start()
    start = time.perf_counter()
    for first in range(0, n_images, args.batch_images):
        maps, masks = make_batch(rng, min(args.batch_images, n_images - first),
                                 args.lesion_fraction, args.levels)
        accumulator.add(maps, masks)
        del maps, masks
    added = time.perf_counter()
    _, peak_add = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    auroc = accumulator.pix_auroc()
    after_auroc = time.perf_counter()
    aupr = accumulator.pix_aupr()
    after_aupr = time.perf_counter()
    bacc = accumulator.pix_bacc(0.5)
    youden = accumulator.youden_threshold()
    end = time.perf_counter()
    _, peak_metrics = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    n_pixels = accumulator.n_pixels
    mib = 2.0**20
    print(f"pixels {n_pixels:,} ({n_images} maps of {SIDE}x{SIDE}), lesion pixels "
          f"{accumulator.n_positive:,}, {args.levels} score levels")
    print(f"pix_auroc {auroc:.6f}  pix_aupr {aupr:.6f}  pix_bacc@0.5 {bacc:.6f}  "
          f"youden threshold {youden:.6f}")
    print(f"time: generate+add {added - start:.1f} s (generation included), sort+auroc "
          f"{after_auroc - added:.1f} s, aupr {after_aupr - after_auroc:.1f} s, bacc+youden "
          f"{end - after_aupr:.1f} s")
    print(f"tracemalloc peak: while adding {peak_add / mib:.0f} MiB, while computing "
          f"{peak_metrics / mib:.0f} MiB, overall {max(peak_add, peak_metrics) / mib:.0f} MiB "
          f"({max(peak_add, peak_metrics) / n_pixels:.2f} bytes/pixel); "
          f"ru_maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")

    if args.sklearn:
        from sklearn.metrics import average_precision_score, roc_auc_score

        rng = np.random.default_rng(args.seed)
        batches = [make_batch(rng, min(args.batch_images, n_images - first),
                              args.lesion_fraction, args.levels)
                   for first in range(0, n_images, args.batch_images)]
        maps = np.concatenate([b[0].ravel() for b in batches])
        masks = np.concatenate([b[1].ravel() for b in batches])
        del batches
        tracemalloc.start()
        start = time.perf_counter()
        sk_auroc = roc_auc_score(masks, maps)
        sk_ap = average_precision_score(masks, maps)
        seconds = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"sklearn: auroc {sk_auroc:.6f} (diff {abs(sk_auroc - auroc):.1e}), ap "
              f"{sk_ap:.6f} (diff {abs(sk_ap - aupr):.1e}), {seconds:.1f} s, tracemalloc "
              f"peak {peak / mib:.0f} MiB beyond the ravelled inputs")


if __name__ == "__main__":
    main()
