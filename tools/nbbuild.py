"""Write a notebook from a list of (kind, source) cells, without outputs (DESIGN §2).

Used by the repository's own notebook sources under ``tools/notebooks/``; the ``parameters``
cell is tagged for papermill.
"""

from __future__ import annotations

import pprint
import sys
from pathlib import Path
from typing import Any

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nb_normalise import normalise, write_atomic  # noqa: E402


def build(cells: list[tuple[str, str]], path: str | Path) -> Path:
    """``cells``: ("md" | "code" | "params", source)."""
    nb = nbformat.v4.new_notebook()
    for kind, source in cells:
        source = source.strip("\n")
        if kind == "md":
            nb.cells.append(nbformat.v4.new_markdown_cell(source))
        else:
            cell = nbformat.v4.new_code_cell(source)
            if kind == "params":
                cell.metadata["tags"] = ["parameters"]
            nb.cells.append(cell)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"
    path = Path(path)
    write_atomic(normalise(nb), path)  # the metadata JupyterLab writes (nb_normalise.py)
    return path


def assignments(values: dict[str, Any], width: int = 100) -> str:
    """``NAME = value`` lines of a parameters cell, each value pretty-printed to fit ``width``
    columns with its continuation lines aligned under the value."""
    lines = []
    for name, value in values.items():
        pad = len(name) + 3
        text = pprint.pformat(value, width=width - pad, sort_dicts=False)
        lines.append(f"{name} = " + text.replace("\n", "\n" + " " * pad))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit("import build() from a notebook source script")
