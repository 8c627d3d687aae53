"""Scores kept beside the cached model they came from (issue 8: a rerun with every model in the
cache must be much faster than the first run, and scoring is most of what is left).

``<model>.scores-<hash>.npz`` sits next to ``<model>.pt`` in the model cache; the hash covers
the test and validation sets' fingerprints. The model's own cache key already covers the
method, its config, its training data, the seed, the code version and the weights, so the
scores are those ``method.score`` returns for that model on those sets: stored as returned
(float64 image scores, float32 maps, every ``extra`` entry), read back bit for bit. A file that
cannot be read, or whose length does not match the test set, is scored again.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from reprolib.atomic import temp_path
from reprolib.cache import fingerprint_of
from reprolib.config import stable_hash
from reprolib.methods import AnomalyMethod, Scores

#: Bumped when the file layout changes, so that older files are scored again, not misread.
FORMAT = 2


def scores_path(method: AnomalyMethod, test: Dataset, val: Dataset | None) -> Path | None:
    """Where the scores of ``method`` on ``test`` (and ``val``) are kept; None for a model that
    is not in the model cache (nothing to tie the scores to)."""
    model = getattr(method, "cache_path", None)
    if model is None:
        return None
    key = stable_hash({"test": fingerprint_of(test), "val": fingerprint_of(val),
                       "format": FORMAT}, 16)
    return Path(model).with_name(f"{Path(model).stem}.scores-{key}.npz")


def _arrays(prefix: str, scores: Scores) -> dict[str, np.ndarray]:
    arrays = {f"{prefix}.image": scores.image}
    if scores.maps is not None:
        arrays[f"{prefix}.maps"] = scores.maps
    arrays.update({f"{prefix}.extra.{name}": np.asarray(value)
                   for name, value in scores.extra.items()})
    return arrays


def _scores(prefix: str, data: np.lib.npyio.NpzFile) -> Scores | None:
    if f"{prefix}.image" not in data.files:
        return None
    extra_prefix = f"{prefix}.extra."
    return Scores(image=data[f"{prefix}.image"],
                  maps=data[f"{prefix}.maps"] if f"{prefix}.maps" in data.files else None,
                  extra={k[len(extra_prefix):]: data[k] for k in data.files
                         if k.startswith(extra_prefix)})


def save(path: Path, scores: Scores, val_scores: Scores | None, seconds: float) -> None:
    """Write the test (and validation) scores and the seconds their scoring took, atomically."""
    arrays = _arrays("test", scores)
    if val_scores is not None:
        arrays.update(_arrays("val", val_scores))
    tmp = temp_path(path)
    with open(tmp, "wb") as handle:
        np.savez(handle, seconds=np.float64(seconds), **arrays)
    os.replace(tmp, path)


def load(path: Path, n_test: int) -> tuple[Scores, Scores | None, float] | None:
    """The stored (test scores, validation scores, scoring seconds), or None when the file is
    missing, unreadable or not for ``n_test`` test images."""
    if not path.exists():
        return None
    try:
        with np.load(path) as data:
            scores = _scores("test", data)
            if scores is None or len(scores.image) != n_test:
                return None
            return scores, _scores("val", data), float(data["seconds"])
    except (OSError, ValueError, KeyError):
        return None


def scores_for(method: AnomalyMethod, test: Dataset, val: Dataset | None
               ) -> tuple[Scores, Scores | None, float]:
    """``method.score`` on ``test`` (and ``val``: a normal validation split, or any second set
    the table scores, such as AnoGAN's scored training patches), read from the file beside the
    cached model when it is there, else scored and kept there. Returns (test scores, val
    scores, seconds the test scoring took when it was computed). A stored hit leaves the nets
    in eval mode, as scoring does: figures that run them need frozen BatchNorm."""
    path = scores_path(method, test, val)
    stored = load(path, len(test)) if path is not None else None
    if stored is not None and (val is None or stored[1] is not None):
        method.eval_mode()
        return stored
    start = time.perf_counter()
    scores = method.score(test)
    seconds = time.perf_counter() - start
    val_scores = method.score(val) if val is not None else None
    if path is not None:
        save(path, scores, val_scores, seconds)
    return scores, val_scores, seconds
