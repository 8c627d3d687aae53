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
import time
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
               steps: int = 0, calls_per_step: int = 1,
               ) -> list[dict[str, float]]:
    """Call ``step_fn(batch)`` for every batch of every epoch; return per-epoch mean losses.

    ``step_fn`` does the forward, backward and optimiser steps and returns its loss terms.
    Training length: ``epochs`` passes over ``loader``, or, when ``steps > 0`` (which overrides
    ``epochs``), exactly ``steps`` counted optimiser steps: ``steps * calls_per_step`` calls of
    ``step_fn`` over ``ceil(calls / len(loader))`` epochs, the last one cut short where the
    budget ends (its means are over the batches it ran). ``calls_per_step`` is how many
    ``step_fn`` calls make one counted step (f-AnoGAN: ``n_critic`` critic steps per counted
    generator step; 1 for every other method).

    Each epoch's means are recorded with ``epoch``, ``steps`` (counted optimiser steps to the end
    of that epoch, cumulative: a second phase appended to the same ``history`` continues the
    count) and ``seconds`` (wall time, cumulative the same way), and appended to ``history``.
    """
    if epochs < 0:
        raise ValueError(f"epochs: expected >= 0, got {epochs}")
    if steps < 0 or calls_per_step < 1:
        raise ValueError(f"steps >= 0 and calls_per_step >= 1 expected, got {steps} and "
                         f"{calls_per_step}")
    records: list[dict[str, float]] = [] if history is None else history
    per_epoch = len(loader)
    if steps > 0 and per_epoch == 0:
        raise ValueError(f"{desc}: a budget of {steps} steps needs a non-empty loader")
    calls_total = steps * calls_per_step if steps > 0 else epochs * per_epoch
    if steps > 0:
        epochs = -(-calls_total // per_epoch)
    step_offset = float(records[-1].get("steps", 0.0)) if records else 0.0
    time_offset = float(records[-1].get("seconds", 0.0)) if records else 0.0
    start = time.perf_counter()
    bar = tqdm(total=calls_total, desc=desc, leave=False, mininterval=1.0,
               disable=os.environ.get("REPROLIB_PROGRESS", "1") == "0")
    report = StepReporter(desc, calls_total, epochs=epochs)  # terminal lines
    calls = 0
    try:
        for epoch in range(1, epochs + 1):
            sums: dict[str, float] = {}
            count = 0
            for step, batch in enumerate(loader, start=1):
                if calls >= calls_total:
                    break
                losses = step_fn(batch)
                check_finite(losses, epoch, step)
                for name, value in losses.items():
                    sums[name] = sums.get(name, 0.0) + _as_float(value)
                count += 1
                calls += 1
                bar.update(1)
                report.step(epoch)
            means = {name: total / max(count, 1) for name, total in sums.items()}
            bar.set_postfix({k: f"{v:.4g}" for k, v in list(means.items())[:3]})
            records.append({"epoch": float(epoch), **means,
                            "steps": step_offset + calls // calls_per_step,
                            "seconds": time_offset + time.perf_counter() - start})
            if on_epoch_end is not None:
                on_epoch_end(epoch, means)
    finally:
        bar.close()
        report.close()
    return records
