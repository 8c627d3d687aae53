"""Typed, validated method configs (DESIGN §5).

A config is a dataclass; ``build_config`` turns a plain dict (from a params YAML file) into one,
failing before any training on an unknown key or a value of the wrong type, naming the key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints


class ConfigError(ValueError):
    """A method config with an unknown key, a missing value or a value of the wrong type."""


@dataclasses.dataclass
class MethodConfig:
    """Base class of every method config. Subclasses add typed fields with defaults.

    ``steps``: training length in optimiser steps. 0 (the default) trains for the config's
    ``epochs``; a positive value overrides ``epochs`` and trains exactly that many steps of the
    method's counted optimiser (the generator's for the GANs, as their reference code counts
    iterations), the last epoch cut short where the budget ends (``reprolib.training.run_epochs``).
    Methods that do not train ignore it.
    """

    steps: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def replace(self: C, **changes: Any) -> C:
        """A validated copy with some fields changed."""
        return build_config(type(self), {**self.to_dict(), **changes})


C = TypeVar("C", bound=MethodConfig)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(key: str, value: Any, tp: Any) -> Any:
    """Check ``value`` against the annotation ``tp``; return it (ints widen to float, lists to
    tuples where the annotation asks). Raise ConfigError naming ``key`` otherwise."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin is Literal:
        if value not in get_args(tp):
            raise ConfigError(f"config key '{key}': expected one of {list(get_args(tp))}, "
                              f"got {value!r}")
        return value
    if origin in (Union, types.UnionType):
        errors = []
        for arg in get_args(tp):
            if arg is type(None):
                if value is None:
                    return None
                continue
            try:
                return _coerce(key, value, arg)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(f"config key '{key}': expected {_type_name(tp)}, got "
                          f"{type(value).__name__} {value!r}")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key '{key}': expected a {origin.__name__} "
                              f"({_type_name(tp)}), got {type(value).__name__} {value!r}")
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"config key '{key}': expected {len(args)} values, "
                                  f"got {len(value)}")
            items = [_coerce(f"{key}[{i}]", v, a) for i, (v, a) in enumerate(zip(value, args))]
        else:
            item_tp = args[0] if args else Any
            items = [_coerce(f"{key}[{i}]", v, item_tp) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}': expected a dict, got {type(value).__name__}")
        return dict(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"config key '{key}': expected float, got "
                              f"{type(value).__name__} {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"config key '{key}': expected int, got "
                              f"{type(value).__name__} {value!r}")
        return value
    if tp in (bool, str):
        if not isinstance(value, tp):
            raise ConfigError(f"config key '{key}': expected {tp.__name__}, got "
                              f"{type(value).__name__} {value!r}")
        return value
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(f"config key '{key}': expected {tp.__name__}, got "
                          f"{type(value).__name__} {value!r}")
    return value


def build_config(cls: type[C], values: C | dict[str, Any] | None = None) -> C:
    """Validate ``values`` against the dataclass ``cls`` and build it.

    Unknown keys and wrongly typed values raise :class:`ConfigError` naming the key.
    """
    if values is None:
        values = {}
    if isinstance(values, cls):
        values = values.to_dict()
    if not isinstance(values, dict):
        raise ConfigError(f"{cls.__name__}: expected a dict of settings, got "
                          f"{type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"{cls.__name__}: unknown config key '{unknown[0]}'"
                          f"{' (and ' + str(unknown[1:]) + ')' if len(unknown) > 1 else ''}; "
                          f"known keys: {sorted(fields)}")
    hints = get_type_hints(cls)
    kwargs = {k: _coerce(k, v, hints[k]) for k, v in values.items()}
    missing = [name for name, f in fields.items()
               if name not in kwargs and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"{cls.__name__}: missing config key '{missing[0]}'")
    config = cls(**kwargs)
    if getattr(config, "steps", 0) < 0:
        raise ConfigError(f"config key 'steps': expected >= 0 (0: train for 'epochs'), "
                          f"got {config.steps}")
    validate = getattr(config, "validate", None)
    if callable(validate):
        validate()
    return config


def stable_hash(obj: Any, length: int = 16) -> str:
    """Short SHA-256 of a JSON-serialisable object, independent of dict key order."""
    text = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


__all__ = ["ConfigError", "MethodConfig", "build_config", "stable_hash"]
