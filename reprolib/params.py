"""Notebook parameters checked before any work (DESIGN §3).

A notebook declares its parameters once, in its cell tagged ``parameters``: the names, and the
types given by the default values. Its first code cell after that calls
``check_parameters(globals(), notebook="<stem>")``, which stops the run with
:class:`ParameterError` on a name the parameters cell does not declare (papermill only warns
about it and runs on with the value ignored) or a value of the wrong type (``SEEDS: 0`` for a
list), listing the expected names and types.

Types from the defaults: ``str``, ``int``, ``float`` (an int is accepted), ``bool``; a list
whose default items all have one type needs items of that type (``list[int]``); a dict whose
default values are all dicts needs dict values; ``None`` means "a text (a path) or None".
"""

from __future__ import annotations

import ast
import difflib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reprolib.paths import repo_root


class ParameterError(ValueError):
    """A notebook parameter the notebook does not declare, or a value of the wrong type."""


def notebook_path(notebook: str) -> Path:
    return repo_root() / "notebooks" / f"{notebook}.ipynb"


def _cells(notebook: str) -> list[dict[str, Any]]:
    path = notebook_path(notebook)
    if not path.is_file():
        raise ParameterError(f"notebook: expected {path} to exist, found no such file")
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _assigned(source: str) -> list[str]:
    """Names ``source`` binds (assignments, imports, definitions; IPython magics are blanked
    first)."""
    lines = ["" if line.lstrip().startswith(("%", "!")) else line
             for line in source.splitlines()]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return []
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.append(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names += [(a.asname or a.name).split(".")[0] for a in node.names]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
    return names


def declared_parameters(notebook: str) -> dict[str, Any]:
    """Names and default values of the ``parameters`` cell of ``notebooks/<notebook>.ipynb``."""
    cells = [c for c in _cells(notebook) if c.get("cell_type") == "code"
             and "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ParameterError(f"{notebook}: expected one cell tagged 'parameters', found "
                             f"{len(cells)}")
    defaults: dict[str, Any] = {}
    for node in ast.parse(_source(cells[0])).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                and isinstance(node.targets[0], ast.Name):
            defaults[node.targets[0].id] = ast.literal_eval(node.value)
    return defaults


def _kind(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "bool"
    for tp in (int, float, str, list, tuple, dict):
        if isinstance(value, tp):
            return "list" if tp is tuple else tp.__name__
    return type(value).__name__


def _same_kind(values: list[Any]) -> str | None:
    kinds = {_kind(v) for v in values}
    if kinds == {"int", "float"}:
        return "float"
    return kinds.pop() if len(kinds) == 1 else None


def expected_type(default: Any) -> str:
    """The type a parameter with this default must have, in words (``list[int]``...)."""
    kind = _kind(default)
    if kind == "None":
        return "str or None"
    if kind == "list":
        item = _same_kind(list(default))
        return f"list[{item}]" if item else "list"
    if kind == "dict":
        return "dict[str, dict]" if default and _same_kind(list(default.values())) == "dict" \
            else "dict"
    return kind


def _fits(value: Any, expected: str) -> bool:
    kind = _kind(value)
    if expected == "str or None":
        return value is None or isinstance(value, (str, os.PathLike))
    if expected == "float":
        return kind in ("int", "float")
    if expected.startswith("list"):
        if kind != "list":
            return False
        item = expected[5:-1] if expected.startswith("list[") else ""
        return not item or all(_fits(v, item) for v in value)
    if expected.startswith("dict"):
        if kind != "dict":
            return False
        return expected == "dict" or all(_kind(v) == "dict" for v in value.values())
    return kind == expected


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def check_parameters(namespace: Mapping[str, Any], notebook: str) -> dict[str, Any]:
    """Check the notebook's parameters in ``namespace`` (its ``globals()``) against the names
    and types its ``parameters`` cell declares; raise :class:`ParameterError` naming the first
    unknown name or wrongly typed value and listing what is expected. Returns the values."""
    defaults = declared_parameters(notebook)
    types = {name: expected_type(value) for name, value in defaults.items()}
    expected = ", ".join(f"{name}: {tp}" for name, tp in types.items())
    own = {n for c in _cells(notebook) if c.get("cell_type") == "code"
           for n in _assigned(_source(c))}
    # papermill's injected cell (in IPython's input history) and every UPPER_CASE global
    injected = {n for source in namespace.get("In", []) or []
                if isinstance(source, str) and source.lstrip().startswith("# Parameters")
                for n in _assigned(source)}
    candidates = injected | {n for n in namespace if n.isupper() and not n.startswith("_")}
    unknown = sorted((candidates - set(types)) - (own - injected))
    if unknown:
        name = unknown[0]
        close = difflib.get_close_matches(name, list(types), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ParameterError(f"{notebook}: unknown parameter {name!r} = "
                             f"{_short(namespace.get(name))}{hint}: expected only the "
                             f"parameters of its parameters cell: {expected}")
    for name, tp in types.items():
        if name not in namespace:
            raise ParameterError(f"{notebook}: parameter {name!r}: expected {tp}, found it "
                                 f"unset (run the parameters cell first)")
        value = namespace[name]
        if not _fits(value, tp):
            found = f"{_kind(value)} {_short(value)}"
            hint = f" (write a list: [{value}])" if tp.startswith("list") and \
                _kind(value) in ("str", "int", "float") else ""
            raise ParameterError(f"{notebook}: parameter {name!r}: expected {tp}, found "
                                 f"{found}{hint}")
    return {name: namespace[name] for name in types}
