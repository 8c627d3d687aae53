"""Training-loop helpers shared by every method: seeding, device, loaders, epochs (DESIGN §5, §7).

``run_epochs`` is the one loop most methods need: it feeds batches to a method's step function,
stops on a non-finite loss naming the epoch, step and term, shows a ``tqdm.auto`` progress bar
(a widget in Jupyter, text in a terminal; under ``make reproduce`` also plain progress lines
in the terminal, :mod:`reprolib.progress`) and returns per-epoch mean losses. ``optimiser_step``
is the zero-grad / backward / step triple inside those step functions.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from reprolib.progress import StepReporter

T = TypeVar("T")


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or infinite during training."""


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch and ask torch for deterministic kernels.

    On the CPU, with the same thread count, two runs with the same seed are equal to the bit.
    Returns a ``torch.Generator`` seeded the same way, for data shuffling.
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed: expected an int, got {type(seed).__name__} {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` is CUDA when present, else the CPU; ``"cuda"`` without a GPU is an error."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device '{device}' was asked for, but torch sees no CUDA device; "
                           "use device='auto' or 'cpu'")
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise ValueError(f"device: expected 'auto', 'cpu' or 'cuda[:N]', got {device!r}")
    return torch.device(device)


def make_loader(dataset: Dataset, batch_size: int, *, shuffle: bool, seed: int = 0,
                drop_last: bool = False) -> DataLoader:
    """A DataLoader with 0 workers (workers can hang inside Jupyter) and seeded shuffling."""
    if batch_size < 1:
        raise ValueError(f"batch_size: expected a positive int, got {batch_size}")
    generator = torch.Generator()
    generator.manual_seed(seed)
    n = len(dataset)  # type: ignore[arg-type]
    return DataLoader(dataset, batch_size=min(batch_size, max(n, 1)), shuffle=shuffle,
                      drop_last=drop_last and n > batch_size, num_workers=0,
                      generator=generator)


def optimiser_step(optimiser: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    """One gradient step on ``loss``: zero the gradients, backpropagate, step."""
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    optimiser.step()


def progress(iterable: Iterable[T], desc: str, total: int | None = None,
             leave: bool = False) -> Iterator[T]:
    """A tqdm.auto progress bar (hidden when ``REPROLIB_PROGRESS=0``), plus terminal lines
    under a ``make reproduce`` job (:mod:`reprolib.progress`)."""
    disable = os.environ.get("REPROLIB_PROGRESS", "1") == "0"
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    report = StepReporter(desc, total, lazy=True)
    try:
        for item in tqdm(iterable, desc=desc, total=total, leave=leave, disable=disable,
                         mininterval=1.0):
            yield item
            report.step()
    finally:
        report.close()


def _as_float(value: float | torch.Tensor) -> float:
    return float(value.detach().item()) if isinstance(value, torch.Tensor) else float(value)


def check_finite(losses: Mapping[str, float | torch.Tensor], epoch: int, step: int) -> None:
    """Raise :class:`NonFiniteLossError` if any loss term is NaN or infinite."""
    for name, value in losses.items():
        number = _as_float(value)
        if not math.isfinite(number):
            raise NonFiniteLossError(f"loss term '{name}' became {number} at epoch {epoch}, "
                                     f"step {step}: lower the learning rate or check the data")


def run_epochs(step_fn: Callable[[dict[str, Any]], Mapping[str, float | torch.Tensor]],
               loader: DataLoader, epochs: int, *, desc: str,
               history: list[dict[str, float]] | None = None,
               on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
               ) -> list[dict[str, float]]:
    """Call ``step_fn(batch)`` for every batch of every epoch; return per-epoch mean losses.

    ``step_fn`` does the forward, backward and optimiser steps and returns its loss terms.
    Each epoch's means (plus ``epoch``) are appended to ``history`` when given.
    """
    if epochs < 0:
        raise ValueError(f"epochs: expected >= 0, got {epochs}")
    records: list[dict[str, float]] = [] if history is None else history
    bar = tqdm(total=epochs * len(loader), desc=desc, leave=False, mininterval=1.0,
               disable=os.environ.get("REPROLIB_PROGRESS", "1") == "0")
    report = StepReporter(desc, epochs * len(loader), epochs=epochs)  # terminal lines
    try:
        for epoch in range(1, epochs + 1):
            sums: dict[str, float] = {}
            count = 0
            for step, batch in enumerate(loader, start=1):
                losses = step_fn(batch)
                check_finite(losses, epoch, step)
                for name, value in losses.items():
                    sums[name] = sums.get(name, 0.0) + _as_float(value)
                count += 1
                bar.update(1)
                report.step(epoch)
            means = {name: total / max(count, 1) for name, total in sums.items()}
            bar.set_postfix({k: f"{v:.4g}" for k, v in list(means.items())[:3]})
            records.append({"epoch": float(epoch), **means})
            if on_epoch_end is not None:
                on_epoch_end(epoch, means)
    finally:
        bar.close()
        report.close()
    return records
