"""environment.yml and pyproject.toml describe the same pinned environment."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pyproject_pins() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return set(project["dependencies"]) | set(project["optional-dependencies"]["dev"])


def _conda_pins() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    return set(pip[0]) if pip else set()


def test_every_dependency_is_pinned() -> None:
    loose = sorted(d for d in _pyproject_pins() if "==" not in d)
    assert not loose, f"unpinned dependencies in pyproject.toml: {loose}"


def test_environment_yml_matches_pyproject() -> None:
    pyproject, conda = _pyproject_pins(), _conda_pins()
    assert pyproject == conda, (f"only in pyproject: {sorted(pyproject - conda)}; "
                                f"only in environment.yml: {sorted(conda - pyproject)}")
