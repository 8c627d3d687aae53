"""Seconds of Adam's second-moment update on normal vs subnormal float32 values, with and
without :func:`reprolib.denormals.flush_denormals` (issue 9: the 600-epoch brain-MRI AE slowed
~6x after epoch ~520, once decayed moments reached the subnormal range below ~1.2e-38).

    PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_denormals.py

Measured on the repository's 2-core CPU, one thread, 2M values x 50 updates: normal 0.06 s;
subnormal 0.70 s without flushing, 0.05 s with it.
"""

from __future__ import annotations

import argparse
import time
from contextlib import nullcontext

import torch

from reprolib.denormals import flush_denormals


def time_updates(value: float, n: int, repeats: int, flush: bool) -> float:
    """Seconds for ``repeats`` in-place ``v = 0.999 v + 0.001 g^2`` updates (Adam's beta2) on
    ``n`` values all equal to ``value``, with zero gradients (a parameter that no longer
    learns)."""
    moment = torch.full((n,), value)
    grad = torch.zeros(n)
    with flush_denormals() if flush else nullcontext():
        start = time.perf_counter()
        for _ in range(repeats):
            moment.mul_(0.999).addcmul_(grad, grad, value=0.001)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for label, value in (("normal (1e-3)", 1e-3), ("subnormal (1e-40)", 1e-40)):
        for flush in (False, True):
            seconds = time_updates(value, args.n, args.repeats, flush)
            print(f"{label:18s} flush={flush!s:5s} {seconds:.3f} s")


if __name__ == "__main__":
    main()
