"""Input checks shared by every metric: one clear, one-line error per kind of bad input."""

from __future__ import annotations

from typing import Any

import numpy as np


def as_numpy(values: Any) -> np.ndarray:
    """``values`` as a NumPy array without copying when possible (accepts torch tensors)."""
    if hasattr(values, "detach"):  # torch.Tensor, possibly on a GPU
        values = values.detach().cpu().numpy()
    return np.asarray(values)


def _positions(flat_indices: np.ndarray, shape: tuple[int, ...]) -> str:
    if len(shape) == 1:
        return "indices " + ", ".join(str(int(i)) for i in flat_indices)
    coords = np.unravel_index(flat_indices, shape)
    return "positions " + ", ".join(str(tuple(int(c[k]) for c in coords))
                                    for k in range(len(flat_indices)))


def check_finite(values: np.ndarray, name: str) -> None:
    """Raise ``ValueError`` naming how many NaN/inf values ``values`` holds and where."""
    if values.dtype.kind not in "fc":
        if values.dtype.kind not in "iub":
            raise ValueError(f"{name} must be numeric; found dtype {values.dtype}")
        return
    finite = np.isfinite(values)
    if finite.all():
        return
    bad = np.flatnonzero(~finite.reshape(-1))
    n_nan = int(np.isnan(values).sum())
    raise ValueError(f"{name} must be finite; found {bad.size} non-finite values "
                     f"({n_nan} NaN, {bad.size - n_nan} inf) of {values.size}, first at "
                     f"{_positions(bad[:5], values.shape)}")


def check_binary(values: np.ndarray, name: str, what: str = "labels") -> None:
    """Raise ``ValueError`` unless every value of ``values`` is 0 or 1."""
    if values.dtype.kind == "b":
        return
    if values.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be 0/1 {what}; found dtype {values.dtype}")
    bad = (values != 0) & (values != 1)
    if bad.any():
        found = np.unique(values[bad])[:5]
        raise ValueError(f"{name} must be 0/1 {what} (0 normal, 1 anomalous); found "
                         f"{int(bad.sum())} other values, e.g. {found.tolist()}")


def check_both_classes(n_positive: int, n_negative: int, what: str = "labels") -> None:
    """Raise ``ValueError`` unless both classes occur, naming the one found."""
    if n_positive > 0 and n_negative > 0:
        return
    if n_positive == 0 and n_negative == 0:
        raise ValueError(f"{what} are empty; both classes (0 normal, 1 anomalous) are needed")
    found = "normal (0)" if n_positive == 0 else "anomalous (1)"
    count = n_negative if n_positive == 0 else n_positive
    raise ValueError(f"{what} need both classes (0 normal, 1 anomalous); found only "
                     f"{found}, {count} of them")


def check_labels_scores(labels: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate image labels and scores; return (labels as bool, scores as float64).

    Labels must be 0/1 and hold both classes; scores must be finite; both 1-D of equal length.
    """
    labels_arr = as_numpy(labels)
    scores_arr = as_numpy(scores)
    if labels_arr.ndim != 1 or scores_arr.ndim != 1:
        raise ValueError(f"labels and scores must be 1-D (one value per image); found shapes "
                         f"{labels_arr.shape} and {scores_arr.shape}")
    if labels_arr.shape != scores_arr.shape:
        raise ValueError(f"labels and scores must have the same length; found "
                         f"{labels_arr.shape[0]} labels and {scores_arr.shape[0]} scores")
    check_binary(labels_arr, "labels")
    check_finite(scores_arr, "scores")
    is_anomalous = labels_arr.astype(bool)
    n_positive = int(is_anomalous.sum())
    check_both_classes(n_positive, is_anomalous.size - n_positive)
    return is_anomalous, scores_arr.astype(np.float64, copy=False)


def check_scores(scores: Any, name: str = "scores") -> np.ndarray:
    """Validate a 1-D, non-empty, finite score array; return it as float64."""
    scores_arr = as_numpy(scores)
    if scores_arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one value per image); found shape "
                         f"{scores_arr.shape}")
    if scores_arr.size == 0:
        raise ValueError(f"{name} are empty; at least one score is needed")
    check_finite(scores_arr, name)
    return scores_arr.astype(np.float64, copy=False)


def check_threshold(threshold: Any, name: str = "threshold") -> float:
    """A finite real threshold as a float."""
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number; found {threshold!r}") from None
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite; found {value}")
    return value
