"""Procedural phantoms, written to disk in the layout of the real dataset each stands in for
and read back through that dataset's loader (DESIGN §4).

``ensure(name, seed=..., n_train=..., n_test=..., difficulty=..., native_size=...)`` generates
a phantom set once under ``cache_dir()/phantoms/<name>/<hash of the options>/`` and returns
that folder; a second call with the same options reuses it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reprolib.atomic import sweep_stray_temps
from reprolib.data.phantoms import writers
from reprolib.paths import cache_dir

#: Bump when the generators change what they draw: old caches are then not reused.
GENERATOR_VERSION = "1"


@dataclass(frozen=True)
class PhantomSpec:
    """A phantom: the real layout it writes (a loader name), the real dataset of the paper's
    table it imitates, its native channels and its writer."""

    layout: str
    stands_in_for: str
    channels: int
    writer: Callable[..., dict[str, Any]]
    n_train: int = 200
    n_test: int = 100


PHANTOMS: dict[str, PhantomSpec] = {
    "phantom_cxr": PhantomSpec("kermany_cxr", "kermany_cxr", 1, writers.write_kermany_cxr),
    "phantom_covid": PhantomSpec("covid19", "covid19", 1, writers.write_covid19, 70, 66),
    "phantom_brain": PhantomSpec("brain_tumor_mri", "brain_tumor_mri", 1,
                                 writers.write_brain_tumor_mri),
    "phantom_oct": PhantomSpec("oct2017", "oct2017", 1, writers.write_oct2017),
    "phantom_oct_flat": PhantomSpec("oct2017", "anogan_clinical_oct", 1, writers.write_oct_flat),
    "phantom_octid": PhantomSpec("octid", "octid", 1, writers.write_octid),
    "phantom_eyeq": PhantomSpec("eyeq", "eyeq", 3, writers.write_eyeq),
    "phantom_idrid": PhantomSpec("idrid", "idrid", 3, writers.write_idrid, 134, 113),
}


def register(name: str, spec: PhantomSpec) -> None:
    PHANTOMS[name] = spec


def phantom_key(name: str, *, seed: int, n_train: int, n_test: int, difficulty: float,
                native_size: int) -> dict[str, Any]:
    return {"name": name, "seed": int(seed), "n_train": int(n_train), "n_test": int(n_test),
            "difficulty": float(difficulty), "native_size": int(native_size),
            "version": GENERATOR_VERSION}


def ensure(name: str, *, seed: int = 0, n_train: int | None = None, n_test: int | None = None,
           difficulty: float = 0.5, native_size: int = 256) -> Path:
    """The folder of phantom ``name`` with these options, generated if absent."""
    spec = PHANTOMS[name]
    n_train = spec.n_train if n_train is None else int(n_train)
    n_test = spec.n_test if n_test is None else int(n_test)
    if n_train < 1 or n_test < 2:
        raise ValueError(f"{name}: expected n_train >= 1 and n_test >= 2, "
                         f"got n_train={n_train}, n_test={n_test}")
    if not 0.0 <= float(difficulty) <= 1.0:
        raise ValueError(f"{name}: difficulty: expected a value in [0, 1], got {difficulty!r}")
    if int(native_size) < 64:
        raise ValueError(f"{name}: native_size: expected >= 64, got {native_size!r}")
    key = phantom_key(name, seed=seed, n_train=n_train, n_test=n_test, difficulty=difficulty,
                      native_size=native_size)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    target = cache_dir() / "phantoms" / name / digest
    if (target / "phantom.json").is_file():
        return target
    sweep_stray_temps(target.parent)  # generations killed earlier
    tmp = target.with_name(f"{digest}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    start = time.perf_counter()
    counts = spec.writer(tmp, n_train=n_train, n_test=n_test, seed=int(seed),
                         difficulty=float(difficulty), size=int(native_size))
    seconds = time.perf_counter() - start
    total = sum(counts.values())
    info = {**key, "layout": spec.layout, "counts": counts, "seconds": round(seconds, 3),
            "images_per_second": round(total / max(seconds, 1e-9), 1)}
    (tmp / "phantom.json").write_text(json.dumps(info, indent=1))
    try:
        os.replace(tmp, target)
    except OSError:  # another process finished first: keep its copy
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def info(folder: Path) -> dict[str, Any]:
    """What ``ensure`` recorded about a generated phantom (counts, generation speed)."""
    return json.loads((Path(folder) / "phantom.json").read_text())


def rng_for(seed: int, part: str, index: int) -> np.random.Generator:
    """Per-image generator: images do not depend on how many others are drawn."""
    return np.random.default_rng([int(seed), sum(map(ord, part)) * 7919, int(index)])
