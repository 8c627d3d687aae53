"""Has a model's training loss converged? The rule every table applies (issue 8, DESIGN §3).

Each trained model keeps its loss per epoch in ``method.history`` (saved beside it in the model
cache); every record also carries ``steps``, the optimiser steps taken up to the end of that
epoch. The rule: compare the mean loss over the last tenth of training (at least one epoch)
with the mean over the tenth before it; if the loss still fell by more than
:data:`CONVERGENCE_SHARE` of its earlier value, the model is ``not converged``. Fewer than two
recorded epochs cannot show a plateau (``unknown``); a method that does not train (no history)
is ``n/a``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

#: A model whose mean loss fell by more than this share over its last tenth of training (against
#: the tenth before) is flagged ``not converged``.
CONVERGENCE_SHARE = 0.05
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


def relative_drop(history: Sequence[Mapping[str, float]], key: str | None = None) -> float:
    """Fall of the mean loss over the last tenth of training relative to the tenth before it
    (positive = still falling); NaN when fewer than two epochs are recorded."""
    name = loss_key(history, key)
    if name is None or len(history) < 2:
        return math.nan
    # records of another training phase (f-AnoGAN's WGAN before its encoder) lack the term
    losses = [float(record[name]) for record in history if name in record]
    if len(losses) < 2:
        return math.nan
    window = max(1, len(losses) // 10)
    window = min(window, len(losses) // 2)
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
    return NOT_CONVERGED if drop > share else CONVERGED


def steps_taken(history: Sequence[Mapping[str, float]]) -> int:
    """Optimiser steps of the whole training (the last record's ``steps``; 0 without any)."""
    if not history or "steps" not in history[-1]:
        return 0
    return int(history[-1]["steps"])
