"""Where things live: the repository, real data, generated caches and results (DESIGN §4, §6)."""

from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path:
    """The repository checkout that holds this package."""
    return Path(__file__).resolve().parent.parent


def data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """Root of the real datasets: ``root``, else ``$REPROLIB_DATA``, else ``<repo>/data``.

    Real datasets sit below it in their public folder names. Nothing is ever written here.
    A relative path is taken from the working directory if it exists there, else from the
    repository root (so params files can say ``../shared/data``).
    """
    if root is not None and str(root) != "":
        path = Path(root).expanduser()
        if not path.is_absolute() and not path.exists():
            path = repo_root() / path
        return path.resolve()
    env = os.environ.get("REPROLIB_DATA")
    if env:
        return Path(env).expanduser().resolve()
    return repo_root() / "data"


def cache_dir() -> Path:
    """Generated files (phantoms, trained models): ``$REPROLIB_CACHE``, else ``<repo>/.cache``."""
    env = os.environ.get("REPROLIB_CACHE")
    path = Path(env).expanduser().resolve() if env else repo_root() / ".cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def results_dir(results: str | os.PathLike[str] | None = None) -> Path:
    """Results root: ``results``, else ``$REPROLIB_RESULTS``, else ``<repo>/results``."""
    if results is not None and str(results) != "":
        return Path(results).expanduser().resolve()
    env = os.environ.get("REPROLIB_RESULTS")
    return Path(env).expanduser().resolve() if env else repo_root() / "results"


def figures_dir(profile: str | None = None, results: str | os.PathLike[str] | None = None) -> Path:
    """Where figures are saved: ``results/figures[/<profile>]``."""
    path = results_dir(results) / "figures"
    if profile:
        path = path / profile
    path.mkdir(parents=True, exist_ok=True)
    return path
