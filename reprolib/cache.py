"""Model cache (DESIGN §5): a trained model is keyed by a hash of (method, config, dataset,
seed, code version) so that two notebooks needing the same model train it once."""

from __future__ import annotations

import inspect
import json
import os
import pickle
import shutil
import sys
import time
import zipfile
from functools import cache
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from reprolib import __version__
from reprolib.atomic import exclusive, remove_stray_temps, sweep_stray_temps, temp_path
from reprolib.codestamp import file_hash, source_closure
from reprolib.config import MethodConfig, stable_hash
from reprolib.methods import AnomalyMethod, create_method, get_method_class
from reprolib.paths import cache_dir, repo_root
from reprolib.progress import emit, labels, subject

__all__ = ["exclusive", "fit_or_load"]


def method_sources(method_name: str) -> set[Path]:
    """The files of a method's folder and every ``reprolib`` file they import, transitively."""
    folder = Path(inspect.getfile(get_method_class(method_name))).parent
    return source_closure(repo_root(), sorted(folder.rglob("*.py")))


@cache
def code_version(method_name: str) -> str:
    """Package version + hash of the code a method runs: every file of its folder and every
    ``reprolib`` module those import, transitively (found statically, as the notebook code
    stamps find a job's sources). Editing a method, or a block or the training loop it uses,
    retrains that method only; adding an unrelated block or method retrains nothing. Results
    rows record this string.
    """
    root = repo_root()
    parts = sorted((path.relative_to(root).as_posix(), file_hash(path))
                   for path in method_sources(method_name))
    return f"{__version__}+{stable_hash(parts, 10)}"


def fingerprint_of(dataset: Dataset | None) -> Any:
    """A dataset's identity for cache keys (``dataset.fingerprint``; else its class and size)."""
    if dataset is None:
        return None
    fingerprint = getattr(dataset, "fingerprint", None)
    if fingerprint is None:
        raise TypeError(f"{type(dataset).__name__} has no 'fingerprint' attribute: the model "
                        "cache cannot tell datasets apart; use reprolib.data.get_dataset")
    return fingerprint


def cache_key(name: str, config: MethodConfig, train: Dataset, seed: int,
              val: Dataset | None = None, weights: str = "none") -> dict[str, Any]:
    """What identifies a trained model. ``weights`` is what the backbones were initialised
    with on this machine, so a model trained without ImageNet weights is not reused where
    they are available."""
    return {"method": name, "config": config.to_dict(), "train": fingerprint_of(train),
            "val": fingerprint_of(val), "seed": seed, "code_version": code_version(name),
            "weights": weights}


#: What reading a damaged cache entry raises (truncated, garbage, empty, another shape,
#: corrupt JSON); such an entry is moved aside and the model retrained.
_DAMAGED = (OSError, EOFError, RuntimeError, ValueError, KeyError, TypeError, AttributeError,
            pickle.UnpicklingError, zipfile.BadZipFile)


def fit_or_load(name: str, config: MethodConfig | dict[str, Any] | None, train: Dataset, *,
                seed: int = 0, device: str | torch.device = "auto", val: Dataset | None = None,
                retrain: bool = False) -> AnomalyMethod:
    """Return method ``name`` trained on ``train``: from the cache when this exact model was
    trained before, else trained now and cached. ``method.fit_seconds`` holds the training time
    (measured when it was trained) and ``method.cache_path`` the checkpoint.

    A cache entry that cannot be read (truncated, garbage, another shape, corrupt ``.json``)
    is reported in one line on stderr naming the file, moved to ``<model folder>/corrupt/``
    and the model is retrained. Temporary files of killed writes there are removed.
    """
    method = create_method(name, config, seed=seed, device=device)
    key = cache_key(name, method.config, train, seed, val, method.weights_used)
    digest = stable_hash(key, 20)
    folder = cache_dir() / "models" / name
    path = folder / f"{digest}.pt"
    meta_path = folder / f"{digest}.json"
    with exclusive(f"{name}-{digest}"), labels(dataset=getattr(train, "name", "?"), seed=seed):
        remove_stray_temps(path)
        remove_stray_temps(meta_path)
        sweep_stray_temps(folder)
        if path.exists() and meta_path.exists() and not retrain:
            try:
                return _load_cached(method, path, meta_path)
            except DamagedCacheEntry as err:
                aside = move_aside(path, meta_path)
                print(f"model cache: {err}; moved {path.name} and {meta_path.name} aside to "
                      f"{aside}; retraining {name}", file=sys.stderr, flush=True)
                # a fresh instance: a failed load may have filled part of the weights
                method = create_method(name, config, seed=seed, device=device)
        return _fit_and_save(method, key, path, meta_path, train, val)


class DamagedCacheEntry(Exception):
    """A model-cache file that cannot be read; the message names the file."""

    def __init__(self, path: Path, expected: str, err: BaseException) -> None:
        detail = (str(err).strip().splitlines() or [""])[0][:200]
        found = f"{type(err).__name__}: {detail}" if detail else \
            f"{type(err).__name__} (an empty or cut file)"
        super().__init__(f"cannot load {path}: expected {expected}, found {found}")


def _load_cached(method: AnomalyMethod, path: Path, meta_path: Path) -> AnomalyMethod:
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if not isinstance(meta, dict):
            raise ValueError(f"a {type(meta).__name__}")
        fit_seconds = float(meta.get("fit_seconds", float("nan")))
    except _DAMAGED as err:
        raise DamagedCacheEntry(meta_path, "a JSON object with 'fit_seconds'", err) from err
    try:
        method.load(path)
    except _DAMAGED as err:
        raise DamagedCacheEntry(path, f"a torch checkpoint of this {method.name} model",
                                err) from err
    method.fit_seconds = fit_seconds
    method.cache_path = path
    method.from_cache = True
    emit(f"{subject(method.name)}: loaded from the model cache ({path.name})")
    return method


def move_aside(*paths: Path) -> Path:
    """Move damaged cache files to ``<their folder>/corrupt/`` (kept for inspection, out of
    the cache's way), with a time stamp so repeated failures do not overwrite each other."""
    aside = paths[0].parent / "corrupt"
    aside.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    for path in paths:
        if path.exists():
            shutil.move(str(path), str(aside / f"{path.name}.{stamp}-{os.getpid()}"))
    return aside


def _fit_and_save(method: AnomalyMethod, key: dict[str, Any], path: Path, meta_path: Path,
                  train: Dataset, val: Dataset | None) -> AnomalyMethod:
    start = time.perf_counter()
    method.fit(train, val)
    method.fitted = True
    method.fit_seconds = time.perf_counter() - start
    method.save(path)
    tmp = temp_path(meta_path)
    tmp.write_text(json.dumps({**key, "fit_seconds": method.fit_seconds,
                               "saved": time.strftime("%Y-%m-%dT%H:%M:%S")}, indent=1,
                              default=str))
    os.replace(tmp, meta_path)
    method.cache_path = path
    method.from_cache = False
    return method
