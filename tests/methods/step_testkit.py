"""One training step of a method (the ProxyAno baselines' tests): every loss term finite and
every trained network's parameters changed."""

from __future__ import annotations

import math

import torch
from torch.utils.data import Dataset

from reprolib.methods.base import AnomalyMethod


def parameters(method: AnomalyMethod) -> dict[str, torch.Tensor]:
    return {f"{name}.{key}": p.detach().clone() for name, module in method.modules().items()
            for key, p in module.named_parameters()}


def check_one_step(method: AnomalyMethod, data: Dataset, trained: list[str]) -> None:
    """``method`` is configured with epochs 1 and batch_size len(data): fit runs one step.
    Each module of ``trained`` must have changed, every logged loss be finite."""
    before = parameters(method)
    method.fit(data)
    assert len(method.history) == 1
    for key, value in method.history[0].items():
        assert math.isfinite(value), key
    after = parameters(method)
    for name in trained:
        keys = [k for k in before if k.startswith(f"{name}.")]
        assert keys, name
        assert any(not torch.equal(before[k], after[k]) for k in keys), f"{name} did not change"
