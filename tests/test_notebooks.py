"""Every notebook executed with papermill under the ``smoke`` profile (DESIGN §2, §3).

Executed copies go to ``$REPROLIB_EXECUTED/smoke/`` (``make test`` then runs nbval over them).
``99_comparison`` runs last, after the notebooks whose results it collects.
"""

from __future__ import annotations

import ast
import json
import os
import tempfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COLLECTOR = "99_comparison"


def _stems() -> list[str]:
    stems = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    return [s for s in stems if s != COLLECTOR] + ([COLLECTOR] if COLLECTOR in stems else [])


def _parameters_cell(stem: str) -> tuple[dict, set[str]]:
    nb = json.loads((ROOT / "notebooks" / f"{stem}.ipynb").read_text())
    cells = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"{stem}: expected one cell tagged 'parameters', found {len(cells)}"
    source = "".join(cells[0]["source"])
    names = {t.id for node in ast.parse(source).body if isinstance(node, ast.Assign)
             for t in node.targets if isinstance(t, ast.Name)}
    return nb, names


@pytest.mark.parametrize("stem", _stems())
def test_notebook_contract(stem: str) -> None:
    """Committed without outputs; one parameters cell with UPPER_CASE names incl. PROFILE;
    every params file only sets names that the parameters cell defines."""
    nb, names = _parameters_cell(stem)
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert not cell.get("outputs") and cell.get("execution_count") is None, \
                f"{stem} is committed with outputs: strip them"
    assert nb["cells"][0]["cell_type"] == "markdown", f"{stem}: first cell must be the title"
    assert "PROFILE" in names and all(n.isupper() for n in names), names
    profiles = sorted((ROOT / "params" / stem).glob("*.yaml"))
    assert any(p.stem == "smoke" for p in profiles), f"{stem}: no params/{stem}/smoke.yaml"
    for path in profiles:
        values = yaml.safe_load(path.read_text()) or {}
        unknown = sorted(set(values) - names)
        assert not unknown, f"{path}: sets {unknown}, not in the parameters cell of {stem}"


@pytest.mark.notebooks
@pytest.mark.parametrize("stem", _stems())
def test_notebook_runs_under_smoke(stem: str) -> None:
    import papermill

    out_dir = Path(os.environ.get("REPROLIB_EXECUTED", tempfile.gettempdir())) / "smoke"
    out_dir.mkdir(parents=True, exist_ok=True)
    papermill.execute_notebook(
        str(ROOT / "notebooks" / f"{stem}.ipynb"), str(out_dir / f"{stem}.ipynb"),
        parameters={**(yaml.safe_load((ROOT / "params" / stem / "smoke.yaml").read_text())
                       or {}), "PROFILE": "smoke"},
        cwd=str(ROOT), progress_bar=False, kernel_name="python3")
