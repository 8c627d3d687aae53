"""The convergence rule on synthetic loss curves (issue 8)."""

from __future__ import annotations

import math

import pytest

from reprolib.convergence import (
    CONVERGED,
    NOT_CONVERGED,
    NOT_TRAINED,
    UNKNOWN,
    convergence_flag,
    relative_drop,
    steps_taken,
)


def _history(losses: list[float], steps_per_epoch: int = 10) -> list[dict[str, float]]:
    return [{"epoch": float(i + 1), "loss": loss, "steps": float((i + 1) * steps_per_epoch)}
            for i, loss in enumerate(losses)]


def test_plateau_is_converged() -> None:
    losses = [1.0 / (1 + i) for i in range(10)] + [0.1] * 20
    assert convergence_flag(_history(losses)) == CONVERGED


def test_still_falling_is_not_converged() -> None:
    losses = [math.exp(-0.2 * i) for i in range(30)]  # falls ~45 % over every 3 epochs
    history = _history(losses)
    # last tenth = 3 epochs against the 3 before: a hand computation of the rule
    before, last = sum(losses[-6:-3]) / 3, sum(losses[-3:]) / 3
    assert relative_drop(history) == pytest.approx((before - last) / before)
    assert convergence_flag(history) == NOT_CONVERGED


def test_share_is_the_boundary() -> None:
    history = _history([1.0, 1.0, 1.0, 0.96])  # windows of 1 epoch: 1.0 -> 0.96, a 4 % drop
    assert relative_drop(history) == pytest.approx(0.04)
    assert convergence_flag(history, share=0.05) == CONVERGED
    assert convergence_flag(history, share=0.03) == NOT_CONVERGED


def test_rising_noisy_loss_is_converged_and_other_keys() -> None:
    history = [{"epoch": 1.0, "steps": 5.0, "g": 2.0, "d": 1.0},
               {"epoch": 2.0, "steps": 10.0, "g": 2.5, "d": 0.5}]
    assert convergence_flag(history) == CONVERGED        # watches the first term, 'g'
    assert convergence_flag(history, key="d") == NOT_CONVERGED
    with pytest.raises(KeyError, match="recorded terms"):
        convergence_flag(history, key="loss")


def test_too_short_or_untrained() -> None:
    assert convergence_flag(_history([0.5])) == UNKNOWN
    assert convergence_flag([]) == NOT_TRAINED
    assert steps_taken([]) == 0
    assert steps_taken(_history([1.0, 0.5, 0.4], steps_per_epoch=7)) == 21


def test_term_logged_only_in_the_last_phase() -> None:
    """f-AnoGAN: the GAN epochs log other terms; the encoder phase's term is judged alone."""
    from reprolib.convergence import convergence_flag
    history = [{"d_loss": 1.0, "g_loss": 2.0} for _ in range(5)]
    history += [{"izif": 1.0 / (e + 1)} for e in range(10)]
    assert convergence_flag(history) == "not converged"
    assert convergence_flag(history + [{"izif": 0.1}] * 20) == "yes"
    assert convergence_flag(history[:6]) == "unknown"


def test_a_fall_within_the_noise_is_not_a_trend() -> None:
    """A flat loss with +-15 % epoch-to-epoch noise can show a >5 % drop between two windows;
    the slope over the last two tenths is then not significant and the model is converged.
    The same drop with a clean trend stays flagged."""
    import random

    from reprolib.convergence import slope_t

    rng = random.Random(3)
    noisy = [1.0 + 0.15 * rng.uniform(-1, 1) for _ in range(100)]
    noisy[-10:] = [v - 0.06 for v in noisy[-10:]]        # a 6 % step down in the last tenth
    history = _history(noisy)
    assert relative_drop(history) > 0.05
    assert slope_t(history) > -2.0
    assert convergence_flag(history) == CONVERGED
    trend = [1.0 - 0.004 * i for i in range(100)]          # ~6 % per tenth, no noise
    assert relative_drop(_history(trend)) > 0.05
    assert slope_t(_history(trend)) < -1e6
    assert convergence_flag(_history(trend)) == NOT_CONVERGED
    # the hand computation of the slope's t on a small case: y = 10 - x + (+-1)
    tail = [10.0, 8.0, 9.0, 6.0, 7.0, 4.0]
    x_mean, sxx = 2.5, 17.5
    slope = sum((i - x_mean) * y for i, y in enumerate(tail)) / sxx
    resid = sum((y - (sum(tail) / 6) - slope * (i - x_mean)) ** 2 for i, y in enumerate(tail))
    expected = slope / math.sqrt(resid / 4 / sxx)
    assert slope_t(_history([20.0] * 24 + tail)) == pytest.approx(expected)
