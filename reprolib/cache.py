"""Model cache (DESIGN §5): a trained model is keyed by a hash of (method, config, dataset,
seed, code version) so that two notebooks needing the same model train it once."""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import os
import time
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from reprolib import __version__
from reprolib.config import MethodConfig, stable_hash
from reprolib.methods import AnomalyMethod, create_method, get_method_class
from reprolib.paths import cache_dir, repo_root
from reprolib.progress import emit, labels, subject


@contextlib.contextmanager
def exclusive(name: str) -> Iterator[None]:
    """An inter-process lock (``cache_dir()/locks/<name>.lock``): when two notebooks need the
    same model at once (parallel snakemake jobs), the second waits for the first to train it and
    then loads it from the cache instead of training it twice."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock; at worst the work is done twice
        yield
        return
    path = cache_dir() / "locks" / f"{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@cache
def _source_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.py")):
        digest.update(path.relative_to(folder).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def code_version(method_name: str) -> str:
    """Package version + hash of the method's folder, ``reprolib/blocks`` and the method base.

    Editing a method retrains only that method; results rows record this string.
    """
    folder = Path(inspect.getfile(get_method_class(method_name))).parent
    lib = repo_root() / "reprolib"
    parts = [_source_hash(folder), _source_hash(lib / "blocks"),
             hashlib.sha256((lib / "methods" / "base.py").read_bytes()).hexdigest()[:12]]
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


def fit_or_load(name: str, config: MethodConfig | dict[str, Any] | None, train: Dataset, *,
                seed: int = 0, device: str | torch.device = "auto", val: Dataset | None = None,
                retrain: bool = False) -> AnomalyMethod:
    """Return method ``name`` trained on ``train``: from the cache when this exact model was
    trained before, else trained now and cached. ``method.fit_seconds`` holds the training time
    (measured when it was trained) and ``method.cache_path`` the checkpoint."""
    method = create_method(name, config, seed=seed, device=device)
    key = cache_key(name, method.config, train, seed, val, method.weights_used)
    digest = stable_hash(key, 20)
    folder = cache_dir() / "models" / name
    path = folder / f"{digest}.pt"
    meta_path = folder / f"{digest}.json"
    with exclusive(f"{name}-{digest}"), labels(dataset=getattr(train, "name", "?"), seed=seed):
        return _fit_or_load_locked(method, key, path, meta_path, train, val, retrain)


def _fit_or_load_locked(method: AnomalyMethod, key: dict[str, Any], path: Path,
                        meta_path: Path, train: Dataset, val: Dataset | None,
                        retrain: bool) -> AnomalyMethod:
    if path.exists() and meta_path.exists() and not retrain:
        method.load(path)
        meta = json.loads(meta_path.read_text())
        method.fit_seconds = float(meta.get("fit_seconds", float("nan")))
        method.cache_path = path
        method.from_cache = True
        emit(f"{subject(method.name)}: loaded from the model cache ({path.name})")
        return method
    start = time.perf_counter()
    method.fit(train, val)
    method.fitted = True
    method.fit_seconds = time.perf_counter() - start
    method.save(path)
    tmp = meta_path.with_name(meta_path.name + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps({**key, "fit_seconds": method.fit_seconds,
                               "saved": time.strftime("%Y-%m-%dT%H:%M:%S")}, indent=1,
                              default=str))
    os.replace(tmp, meta_path)
    method.cache_path = path
    method.from_cache = False
    return method
