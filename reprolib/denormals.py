"""Flush subnormal floats to zero while a long CPU training runs.

Measured on this repository's 2-core CPU: elementwise updates on subnormal float32 values
(below ~1.2e-38) run ~13x slower than on normal ones (``benchmarks/bench_denormals.py``).
Adam's second-moment estimate of a parameter whose gradient stays near zero decays by
``beta2 = 0.999`` per step and, after tens of thousands of steps, crosses that range: the
600-epoch AE on the real brain MRI (issue 9) slowed from ~11 s to ~65 s per epoch after epoch
~520. Flushing changes only values below 1.2e-38 (they become 0), far under any loss or
weight that matters. ``torch.set_flush_denormal`` is process-wide, so the context restores the
default (no flushing) on exit: a method trained after this one computes exactly as without it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def flush_denormals() -> Iterator[bool]:
    """Flush subnormal floats to zero inside the block (on CPUs with SSE3; yields whether the
    CPU supports it); torch's default, no flushing, is restored on exit."""
    supported = torch.set_flush_denormal(True)
    try:
        yield supported
    finally:
        torch.set_flush_denormal(False)
