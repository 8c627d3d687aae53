"""Write a notebook from a list of (kind, source) cells, without outputs (DESIGN §2).

Used by the repository's own notebook sources under ``tools/notebooks/``; the ``parameters``
cell is tagged for papermill.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat


def build(cells: list[tuple[str, str]], path: str | Path) -> Path:
    """``cells``: ("md" | "code" | "params", source)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
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
    nbformat.write(nb, path)
    return path


if __name__ == "__main__":
    sys.exit("import build() from a notebook source script")
