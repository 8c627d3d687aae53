"""Training length in optimiser steps (issue 8): a ``steps`` budget trains exactly that many
counted optimiser steps (``optimizer.step`` calls counted by a global hook), the last epoch cut
short; every history record carries the cumulative ``steps``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
import torch
from recon_testkit import SquaresSet
from torch.optim.optimizer import register_optimizer_step_post_hook
from torch.utils.data import DataLoader, TensorDataset

from reprolib.config import ConfigError
from reprolib.methods import create_method
from reprolib.training import run_epochs


@pytest.fixture
def step_counts() -> Iterator[Counter]:
    """Counts of ``step()`` calls per optimiser object (by id)."""
    counts: Counter = Counter()
    handle = register_optimizer_step_post_hook(lambda opt, args, kwargs: counts.update([id(opt)]))
    yield counts
    handle.remove()


def _loader(n: int = 10, batch: int = 3) -> DataLoader:
    return DataLoader(TensorDataset(torch.arange(n, dtype=torch.float32)), batch_size=batch)


def test_run_epochs_counts_epochs_when_no_budget() -> None:
    calls = []
    history = run_epochs(lambda b: calls.append(1) or {"loss": 1.0}, _loader(), 2, desc="t")
    assert len(calls) == 8                                  # 2 epochs x 4 batches
    assert [r["steps"] for r in history] == [4, 8]
    assert [r["epoch"] for r in history] == [1, 2]
    assert all(r["seconds"] >= 0 for r in history)


def test_run_epochs_step_budget_cuts_the_last_epoch() -> None:
    seen = []

    def step(batch: list[torch.Tensor]) -> dict[str, float]:
        seen.append(len(batch[0]))
        return {"loss": float(len(seen))}

    history = run_epochs(step, _loader(), 99, desc="t", steps=10)   # epochs ignored
    assert len(seen) == 10
    assert [r["steps"] for r in history] == [4, 8, 10]
    assert history[-1]["loss"] == pytest.approx((9 + 10) / 2)       # mean over its 2 batches


def test_run_epochs_calls_per_step_and_cumulative_phases() -> None:
    calls = []
    history = run_epochs(lambda b: calls.append(1) or {"a": 1.0}, _loader(), 0, desc="t",
                         steps=3, calls_per_step=5)
    assert len(calls) == 15 and history[-1]["steps"] == 3
    run_epochs(lambda b: {"b": 2.0}, _loader(), 1, desc="t", history=history)
    assert history[-1]["steps"] == 3 + 4                    # the second phase continues the count
    with pytest.raises(ValueError, match="steps"):
        run_epochs(lambda b: {}, _loader(), 1, desc="t", steps=-1)


def test_negative_steps_in_a_config_is_an_error() -> None:
    with pytest.raises(ConfigError, match="'steps'"):
        create_method("ae", {"steps": -2})


@pytest.mark.usefixtures("one_thread")
def test_shared_loop_trains_exactly_the_budget(step_counts: Counter) -> None:
    method = create_method("ae", {"img_size": 32, "widths": [4, 8, 8, 8], "latent": 8,
                                  "epochs": 1, "batch_size": 3, "steps": 7}, device="cpu")
    method.fit(SquaresSet(n=8, anomalous=0))                # 3 batches an epoch: 3 + 3 + 1
    assert sum(step_counts.values()) == 7
    assert [r["steps"] for r in method.history] == [3, 6, 7]


@pytest.mark.usefixtures("one_thread")
def test_ganomaly_budget_counts_generator_steps(step_counts: Counter) -> None:
    method = create_method("ganomaly", {"img_size": 32, "latent": 8, "base_width": 4,
                                        "epochs": 1, "batch_size": 4, "steps": 5}, device="cpu")
    method.fit(SquaresSet(n=8, anomalous=0, unit=False))
    assert sorted(step_counts.values()) == [5, 5]           # 5 generator + 5 discriminator
    assert method.history[-1]["steps"] == 5


@pytest.mark.usefixtures("one_thread")
def test_f_anogan_budget_counts_generator_then_encoder_steps(step_counts: Counter) -> None:
    config = {"img_size": 32, "z_dim": 8, "dim": 4, "batch_size": 4, "n_critic": 2,
              "epochs": 50, "encoder_epochs": 50, "steps": 3, "encoder_steps": 4}
    method = create_method("f_anogan", config, device="cpu")
    counts: dict[str, int] = {}
    handle = register_optimizer_step_post_hook(
        lambda opt, a, k: counts.update({_owner(method, opt): counts.get(_owner(method, opt),
                                                                         0) + 1}))
    try:
        method.fit(SquaresSet(n=8, anomalous=0, unit=False))
    finally:
        handle.remove()
    assert counts == {"generator": 3, "critic": 6, "encoder": 4}
    assert method.history[-1]["steps"] == 3 + 4
    assert "izif" in method.history[-1] and "critic" in method.history[0]


def _owner(method: object, opt: torch.optim.Optimizer) -> str:
    first = opt.param_groups[0]["params"][0]
    for name in ("generator", "critic", "encoder"):
        if any(first is p for p in getattr(method, name).parameters()):
            return name
    return "?"
