"""Every committed notebook carries the metadata JupyterLab writes, so it opens unmodified
(issue 16); ``python tools/nb_normalise.py`` fixes one that does not."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("nb_normalise", ROOT / "tools" / "nb_normalise.py")
nb_normalise = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(nb_normalise)


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.stem)
def test_committed_notebook_is_normalised(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    nb = nbformat.reads(text, as_version=nbformat.NO_CONVERT)
    found = nb_normalise.problems(nb)
    assert not found, f"{path.name}: {found}; run: python tools/nb_normalise.py"
    assert nb_normalise.dumps(nb_normalise.normalise(nb)) == text, \
        f"{path.name}: not in nbformat.write's layout; run: python tools/nb_normalise.py"


def test_normalise_fixes_metadata_and_keeps_cells(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), nbformat.v4.new_code_cell("x = 1")]
    nb.cells[1].metadata["tags"] = ["parameters"]
    raw = json.loads(nbformat.writes(nb))
    raw["nbformat_minor"] = 4
    raw["metadata"] = {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                      "language": "python"}}
    for cell in raw["cells"]:
        del cell["id"]
    path = tmp_path / "t.ipynb"
    path.write_text(json.dumps(raw))
    assert nb_normalise.main(["--check", str(path)]) == 1
    assert nb_normalise.main([str(path)]) == 0
    fixed = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    assert nb_normalise.problems(fixed, exact_version=True) == []
    assert fixed.nbformat_minor == 5 and fixed.metadata.kernelspec.display_name.startswith(
        "Python 3 (")
    assert [c.source for c in fixed.cells] == ["# t", "x = 1"]
    assert fixed.cells[1].metadata == {"tags": ["parameters"]}
    assert len({c.id for c in fixed.cells}) == 2
    before = path.read_text()
    assert nb_normalise.main([str(path)]) == 0 and path.read_text() == before  # idempotent
    assert nb_normalise.main(["--check", str(path)]) == 0


def test_same_minor_version_is_kept(tmp_path: Path) -> None:
    nb = nb_normalise.normalise(nbformat.v4.new_notebook())
    version = nb.metadata.language_info.version
    major, minor = version.split(".")[:2]
    nb.metadata.language_info.version = f"{major}.{minor}.999"
    assert nb_normalise.problems(nb) == []
    assert nb_normalise.normalise(nb).metadata.language_info.version == f"{major}.{minor}.999"
    nb.metadata.language_info.version = "2.7.18"
    assert nb_normalise.problems(nb) and \
        nb_normalise.normalise(nb).metadata.language_info.version == version


def test_bad_input() -> None:
    assert nb_normalise.main(["/nonexistent/x.ipynb"]) == 2
