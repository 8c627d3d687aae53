"""Which ``reprolib`` sources a notebook job runs, and whether they changed since its last run.

The run graph (``Snakefile``) gives every (notebook, profile) job a *code stamp*: a small JSON
file ``results/executed/<profile>/<stem>.code.json`` listing the SHA-256 (first 12 hex digits)
of each ``reprolib`` source file the job runs. It is rewritten only when that list changes, so
its modification time moves only when the code does, and it is an input of the job: Snakemake
reruns exactly the jobs whose code changed. A finished job copies its stamp next to its
``.done`` marker (``<stem>.done``), which is what :func:`stale_jobs` compares with to say why a
job is stale.

The sources of a job, found statically (no ``reprolib`` module is imported here, only parsed):

- every ``reprolib`` module the notebook's code cells import, and, recursively, every
  ``reprolib`` module those import (packages: their ``__init__.py``);
- the method folders ``reprolib/methods/<folder>/`` (and their imports) of every registered
  method name (``@register("name")``) that appears as a string in the job's parameters (the
  profile's params file, and the notebook's own defaults of parameters the file does not set),
  in the notebook's code cells, or in the functions and constants of a ``reprolib/papers/*.py``
  module that the notebook's code reaches (by name, through what they mention in turn).
  The method registry discovers folders at run time, so a notebook depends only on the methods
  it names, as :func:`reprolib.cache.code_version` does for the model cache.

Hashes are of the file bytes with ``\\r\\n`` read as ``\\n``, so a checkout on any platform gives
the same stamp. Standard library only: the Snakefile imports this module before any job runs.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PACKAGE = "reprolib"
STAMP_SUFFIX = ".code.json"
DONE_SUFFIX = ".done"
_REGISTER = re.compile(r"""@register\(\s*["']([A-Za-z0-9_]+)["']\s*\)""")


def file_hash(path: Path) -> str:
    """SHA-256 (12 hex digits) of a source file, line endings normalised to ``\\n``."""
    return hashlib.sha256(path.read_bytes().replace(b"\r\n", b"\n")).hexdigest()[:12]


def _module_file(root: Path, module: str) -> Path | None:
    """The file of a dotted ``reprolib`` module name below ``root`` (None if there is none)."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    base = root.joinpath(*parts)
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def _imports(tree: ast.AST, current: str, is_package: bool) -> set[str]:
    """Dotted module names (candidates) imported by a parsed module named ``current``."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = current.split(".")
                keep = len(parts) - node.level + (1 if is_package else 0)
                base = ".".join(parts[:max(keep, 0)])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    expanded: set[str] = set()
    for name in names:   # importing a.b.c runs a/__init__ and a/b/__init__ too
        parts = name.split(".")
        expanded.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return {n for n in expanded if n.split(".")[0] == PACKAGE}


def _strings(tree: ast.AST) -> set[str]:
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)}


def _names(tree: ast.AST) -> set[str]:
    """Every name and attribute name a piece of code mentions."""
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)} | {
        node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}


def _reachable_strings(module: ast.Module, used: set[str]) -> set[str]:
    """Strings in the top-level functions, classes and constants of ``module`` that the names
    ``used`` reach (directly or through what those definitions mention)."""
    defs: dict[str, list[ast.AST]] = {}
    for node in module.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defs.setdefault(node.name, []).append(node)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    defs.setdefault(target.id, []).append(node)
    todo, seen, strings = [n for n in used if n in defs], set(), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for node in defs[name]:
            strings |= _strings(node)
            todo += [n for n in _names(node) if n in defs and n not in seen]
    return strings


def _yaml_strings(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set().union(*(_yaml_strings(k) | _yaml_strings(v) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return set().union(*(_yaml_strings(v) for v in value))
    return set()


def method_folders(root: Path) -> dict[str, Path]:
    """Registered method name -> its folder ``reprolib/methods/<folder>`` (read, not imported)."""
    found: dict[str, Path] = {}
    for method_py in sorted((root / PACKAGE / "methods").glob("*/method.py")):
        for name in _REGISTER.findall(method_py.read_text(encoding="utf-8")):
            found[name] = method_py.parent
    return found


def _module_name(root: Path, path: Path) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def source_closure(root: Path, start: Iterable[Path]) -> set[Path]:
    """``start`` files plus every ``reprolib`` file they import, recursively."""
    todo = list(start)
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for module in _imports(tree, _module_name(root, path), path.name == "__init__.py"):
            target = _module_file(root, module)
            if target is not None and target not in seen:
                todo.append(target)
    return seen


def _notebook_cells(notebook: Path) -> tuple[list[str], str]:
    """(sources of the code cells that are not the parameters cell, the parameters cell)."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    code, params = [], ""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            params = "\n".join(lines)
        else:
            code.append("\n".join(lines))
    return code, params


def _parameter_strings(params_cell: str, params_file: Path | None) -> set[str]:
    """Strings in the params file, and in the notebook's defaults of parameters it leaves."""
    given: dict[str, Any] = {}
    if params_file is not None and params_file.is_file():
        import yaml  # a dependency of papermill and snakemake, so present where jobs run
        given = yaml.safe_load(params_file.read_text(encoding="utf-8")) or {}
    strings = _yaml_strings(given)
    for node in ast.parse(params_cell or "").body:
        if isinstance(node, ast.Assign):
            targets = {t.id for t in node.targets if isinstance(t, ast.Name)}
            if targets - set(given):
                strings |= _strings(node.value)
    return strings


def job_sources(notebook: str | os.PathLike[str], params_file: str | os.PathLike[str] | None,
                root: str | os.PathLike[str] = ".") -> list[Path]:
    """The ``reprolib`` source files (relative to ``root``, sorted) that a notebook run with
    ``params_file`` executes; see the module docstring for the rule."""
    root = Path(root).resolve()
    code, params_cell = _notebook_cells(Path(notebook))
    trees = [ast.parse(src or "") for src in code]
    start: set[Path] = {root / PACKAGE / "__init__.py"}
    for tree in trees:
        for module in _imports(tree, "__main__", False):
            target = _module_file(root, module)
            if target is not None:
                start.add(target)
    files = source_closure(root, start)
    strings = _parameter_strings(params_cell, None if params_file is None else Path(params_file))
    for tree in trees:
        strings |= _strings(tree)
    used = set().union(*(_names(tree) for tree in trees)) if trees else set()
    for path in files:
        if path.parent.name == "papers" and path.name != "__init__.py":
            strings |= _reachable_strings(ast.parse(path.read_text(encoding="utf-8")), used)
    folders = method_folders(root)
    method_start = {py for name, folder in folders.items() if name in strings
                    for py in folder.rglob("*.py")}
    files |= source_closure(root, method_start)
    return sorted(p.relative_to(root) for p in files)


def job_stamp(notebook: str | os.PathLike[str], params_file: str | os.PathLike[str] | None,
              root: str | os.PathLike[str] = ".") -> dict[str, str]:
    """``{source path: hash}`` of :func:`job_sources`."""
    root = Path(root).resolve()
    return {p.as_posix(): file_hash(root / p) for p in job_sources(notebook, params_file, root)}


def _read_json(path: Path) -> dict[str, str] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _dump(stamp: dict[str, str]) -> str:
    return json.dumps(stamp, indent=1, sort_keys=True) + "\n"


def write_stamp(path: str | os.PathLike[str], stamp: dict[str, str],
                done: str | os.PathLike[str] | None = None) -> bool:
    """Write ``stamp`` to ``path`` only if its content differs (atomic); return whether written.

    When the new content equals the stamp the last successful run recorded (``done``, e.g. after
    an edit is undone), the file is dated back to that run so the job is not stale."""
    path = Path(path)
    text = _dump(stamp)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    if done is not None and Path(done).is_file() and _read_json(Path(done)) == stamp:
        then = Path(done).stat().st_mtime - 1.0
        os.utime(path, (then, then))
    return True


@dataclass
class JobState:
    """Why a (notebook, profile) job will run, or not."""

    stem: str
    stale: bool
    reasons: list[str] = field(default_factory=list)

    def line(self) -> str:
        return f"{self.stem}: " + ("; ".join(self.reasons) if self.stale else "up to date")


def _diff(old: dict[str, str], new: dict[str, str], limit: int = 4) -> str:
    changed = sorted(p for p in new if p in old and old[p] != new[p])
    added = sorted(p for p in new if p not in old)
    removed = sorted(p for p in old if p not in new)
    parts = [f"{p} changed" for p in changed] + [f"{p} now used" for p in added] + [
        f"{p} no longer used" for p in removed]
    more = f" (+{len(parts) - limit} more)" if len(parts) > limit else ""
    return ", ".join(parts[:limit]) + more


def job_state(stem: str, profile: str, *, notebooks: str | os.PathLike[str] = "notebooks",
              params: str | os.PathLike[str] = "params",
              executed: str | os.PathLike[str] = "results/executed",
              stamp: dict[str, str] | None = None, root: str | os.PathLike[str] = ".",
              ) -> JobState:
    """Compare a job's current code stamp, notebook and params file with its last successful
    run (``<executed>/<profile>/<stem>.done``)."""
    notebook = Path(notebooks) / f"{stem}.ipynb"
    params_file = Path(params) / stem / f"{profile}.yaml"
    done = Path(executed) / profile / f"{stem}{DONE_SUFFIX}"
    if stamp is None:
        stamp = job_stamp(notebook, params_file, root)
    if not done.is_file():
        return JobState(stem, True, [f"no finished run under '{profile}' yet ({done})"])
    reasons = []
    recorded = _read_json(done)
    if recorded is None:
        reasons.append("its last run recorded no code stamp")
    elif recorded != stamp:
        reasons.append("code: " + _diff(recorded, stamp))
    since = done.stat().st_mtime
    for path, what in ((notebook, "notebook"), (params_file, "params file")):
        if path.is_file() and path.stat().st_mtime > since:
            reasons.append(f"{what} {path} is newer than the last run")
    return JobState(stem, bool(reasons), reasons)


def stale_report(states: list[JobState], profile: str) -> str:
    """Lines for the terminal: which jobs will run under ``profile`` and why."""
    stale = [s for s in states if s.stale]
    if not stale:
        return (f"reprolib: every notebook job under profile '{profile}' is up to date with "
                "its code, notebook and params (FORCE=1 reruns them all; see README).")
    never = [s.stem for s in stale if s.reasons[0].startswith("no finished run")]
    lines = [f"reprolib: {len(stale)} of {len(states)} notebook jobs under profile "
             f"'{profile}' will run:"]
    if never:
        lines.append(f"  never run under '{profile}' here: {', '.join(never)}")
    lines += [f"  {s.line()}" for s in stale if s.stem not in never]
    return "\n".join(lines) + "\n"
