"""Has a model's training loss converged? The rule every table applies (issue 8, DESIGN §3).

Each trained model keeps its loss per epoch in ``method.history`` (saved beside it in the model
cache); every record also carries ``steps``, the optimiser steps taken up to the end of that
epoch. The rule: compare the mean loss over the last tenth of training (at least one epoch)
with the mean over the tenth before it; if the loss still fell by more than
:data:`CONVERGENCE_SHARE` of its earlier value, and that fall is not within the noise of the
per-epoch losses, the model is ``not converged``. Noise: over the last two tenths (when they
hold at least :data:`MIN_RECORDS_FOR_NOISE` epoch records) a least-squares line is fitted to
the loss; a fall whose slope is less than :data:`NOISE_T` standard errors below zero is noise
(GAN losses on small phantom sets move 10 % from epoch to epoch without a trend). Fewer than two
recorded epochs cannot show a plateau (``unknown``); a method that does not train (no history)
is ``n/a``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from scipy.stats import linregress

#: A model whose mean loss fell by more than this share over its last tenth of training (against
#: the tenth before) is flagged ``not converged``.
CONVERGENCE_SHARE = 0.05
#: A fall counts only when the least-squares slope over the last two tenths is this many standard
#: errors below zero (used when those tenths hold at least MIN_RECORDS_FOR_NOISE records).
NOISE_T = 2.0
MIN_RECORDS_FOR_NOISE = 6
#: Values of the ``converged`` results column.
CONVERGED, NOT_CONVERGED, UNKNOWN, NOT_TRAINED = "yes", "not converged", "unknown", "n/a"
#: History keys that are bookkeeping, not loss terms.
_BOOKKEEPING = frozenset({"epoch", "steps", "seconds", "lr"})


def loss_key(history: Sequence[Mapping[str, float]], key: str | None = None) -> str | None:
    """The loss term the rule watches: ``key`` if given, else ``loss`` if recorded, else the
    first recorded term that is not bookkeeping (``epoch``, ``steps``, ...)."""
    if not history:
        return None
    if key is not None:
        if key not in history[-1]:
            raise KeyError(f"loss term {key!r} is not in the history; recorded terms: "
                           f"{sorted(history[-1])}")
        return key
    if "loss" in history[-1]:
        return "loss"
    terms = [name for name in history[-1] if name not in _BOOKKEEPING]
    return terms[0] if terms else None


def _watched(history: Sequence[Mapping[str, float]], key: str | None) -> list[float]:
    name = loss_key(history, key)
    # A method trained in phases (f-AnoGAN: GAN, then encoder) logs the term only in its phase.
    return [float(record[name]) for record in history if name in record] if name else []


def _window(n: int) -> int:
    return min(max(1, n // 10), n // 2)


def slope_t(history: Sequence[Mapping[str, float]], key: str | None = None) -> float:
    """t statistic of the least-squares slope of the loss over the last two tenths of training
    (negative = falling); NaN when those tenths hold fewer than MIN_RECORDS_FOR_NOISE records."""
    losses = _watched(history, key)
    tail = losses[-2 * _window(len(losses)):] if len(losses) >= 2 else []
    n = len(tail)
    if n < MIN_RECORDS_FOR_NOISE:
        return math.nan
    fit = linregress(range(n), tail)
    if fit.stderr == 0.0:
        return 0.0 if fit.slope == 0.0 else math.copysign(math.inf, fit.slope)
    return float(fit.slope / fit.stderr)


def relative_drop(history: Sequence[Mapping[str, float]], key: str | None = None) -> float:
    """Fall of the mean loss over the last tenth of training relative to the tenth before it
    (positive = still falling); NaN when fewer than two epochs are recorded."""
    losses = _watched(history, key)
    if len(losses) < 2:
        return math.nan
    window = _window(len(losses))
    last = sum(losses[-window:]) / window
    before = sum(losses[-2 * window:-window]) / window
    if before == 0.0:
        return 0.0 if last == 0.0 else math.inf * (1.0 if last < 0 else -1.0)
    return (before - last) / abs(before)


def convergence_flag(history: Sequence[Mapping[str, float]], key: str | None = None,
                     share: float = CONVERGENCE_SHARE) -> str:
    """``yes``, ``not converged``, ``unknown`` (under two epochs) or ``n/a`` (no training)."""
    if not history or loss_key(history, key) is None:
        return NOT_TRAINED
    drop = relative_drop(history, key)
    if math.isnan(drop):
        return UNKNOWN
    if drop <= share:
        return CONVERGED
    t = slope_t(history, key)
    return CONVERGED if not math.isnan(t) and t > -NOISE_T else NOT_CONVERGED


def steps_taken(history: Sequence[Mapping[str, float]]) -> int:
    """Optimiser steps of the whole training (the last record's ``steps``; 0 without any)."""
    if not history or "steps" not in history[-1]:
        return 0
    return int(history[-1]["steps"])
