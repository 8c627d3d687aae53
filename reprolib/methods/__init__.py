"""Method registry (DESIGN §5). Each sub-folder ``reprolib/methods/<name>/`` registers its
methods with :func:`register` in its ``method.py``; folders are discovered automatically."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch

from reprolib.config import MethodConfig
from reprolib.methods.base import AnomalyMethod, Scores

M = TypeVar("M", bound=type[AnomalyMethod])

_REGISTRY: dict[str, type[AnomalyMethod]] = {}
_DISCOVERED = False


class UnknownMethodError(KeyError):
    """A method name that no folder registers."""

    def __str__(self) -> str:  # KeyError quotes its message otherwise
        return str(self.args[0])


def register(name: str) -> Callable[[M], M]:
    """Class decorator: make a method available under ``name``."""

    def wrap(cls: M) -> M:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"method name '{name}' is registered twice "
                             f"({_REGISTRY[name].__module__} and {cls.__module__})")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return wrap


def _discover() -> None:
    global _DISCOVERED
    if _DISCOVERED:
        return
    _DISCOVERED = True
    here = Path(__file__).parent
    for info in sorted(pkgutil.iter_modules([str(here)]), key=lambda i: i.name):
        if info.ispkg and (here / info.name / "method.py").exists():
            importlib.import_module(f"reprolib.methods.{info.name}.method")


def available_methods() -> list[str]:
    """Every registered method name, sorted."""
    _discover()
    return sorted(_REGISTRY)


def get_method_class(name: str) -> type[AnomalyMethod]:
    """The class registered as ``name``; an unknown name lists the known ones."""
    _discover()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownMethodError(f"unknown method '{name}'; known methods: "
                                 f"{', '.join(sorted(_REGISTRY))}") from None


def create_method(name: str, config: MethodConfig | dict[str, Any] | None = None, *,
                  seed: int = 0, device: str | torch.device = "auto") -> AnomalyMethod:
    """Build method ``name`` from a config (validated before anything is trained)."""
    return get_method_class(name)(config, seed=seed, device=device)


__all__ = ["AnomalyMethod", "Scores", "UnknownMethodError", "available_methods",
           "create_method", "get_method_class", "register"]
