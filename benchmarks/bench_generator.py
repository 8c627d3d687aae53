"""Speed of ReSynthDetect's anomaly generator (§3.3): synthetic images per second, one thread.

Each synthetic image is one target and one source (RGB float [0, 1]): three augmentations of the
source, a random crop, a Perlin mask, its distance transform and the paste. Also times the
parts on their own. Images are smoothed noise (the speed does not depend on content).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_generator.py --sizes 256 768 --n 50
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from reprolib.blocks.perlin import perlin_mask
from reprolib.blocks.synthetic_anomaly import SelfMixGenerator, augment, blend_weight


def _per_second(fn, n: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - start)


def measure(size: int, n: int, batch: int) -> dict[str, float]:
    """Images (or parts) per second at ``size`` px."""
    g = torch.Generator().manual_seed(0)
    images = torch.nn.functional.avg_pool2d(torch.rand(batch, 3, size, size, generator=g),
                                            5, 1, 2)
    rng = np.random.default_rng(0)
    rows = {}
    for name, gen in (("full", SelfMixGenerator()),
                      ("no Perlin (rectangle)", SelfMixGenerator(use_perlin=False)),
                      ("no self-mix", SelfMixGenerator(self_mix=False)),
                      ("texture source", SelfMixGenerator(source="texture"))):
        rows[name] = batch * _per_second(lambda gen=gen: gen.batch(images, rng),
                                         max(1, n // batch))
    rows["  part: 3 augmentations (whole image)"] = _per_second(
        lambda: augment(images[0], rng), n)
    side = size // 3
    rows[f"  part: Perlin mask ({side} px crop)"] = _per_second(
        lambda: perlin_mask((side, side), rng, max_scale=4), n)
    mask = perlin_mask((side, side), np.random.default_rng(1), max_scale=2, rotate=(0, 0),
                       threshold=0.2)
    rows[f"  part: blend weight, EDT ({side} px crop)"] = _per_second(
        lambda: blend_weight(mask), n)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 768])
    parser.add_argument("--n", type=int, default=48, help="images per measurement")
    parser.add_argument("--batch", type=int, default=8, help="images per generator.batch call")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch threads {torch.get_num_threads()}; images per second (higher is better)")
    for size in args.sizes:
        print(f"\n{size} x {size} px")
        for name, value in measure(size, args.n, args.batch).items():
            print(f"  {name:<42s} {value:8.1f} /s")


if __name__ == "__main__":
    main()
