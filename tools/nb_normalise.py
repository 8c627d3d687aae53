"""Give notebooks the metadata JupyterLab writes, so they open unmodified (issue 16).

JupyterLab 4.6.6 marks a notebook modified as soon as its kernel starts when the notebook's
metadata differs from what the kernel reports, and writes that on the next save. Found by
opening a copy of ``00_datasets.ipynb`` in JupyterLab 4.6.6 (headless Chromium), letting the
kernel start and saving: the only changes were

- ``metadata.kernelspec``: the kernel spec's ``display_name`` ("Python 3 (ipykernel)"),
  ``language``, ``name``: what ``ipykernel.kernelspec.get_kernel_dict`` says;
- ``metadata.language_info``: the kernel's ``kernel_info_reply.language_info`` in full
  (``codemirror_mode``, ``file_extension``, ``mimetype``, ``name``, ``nbconvert_exporter``,
  ``pygments_lexer``, ``version``): what ``ipykernel.ipkernel.IPythonKernel.language_info``
  says. ``version`` is the kernel's exact Python version, so a notebook written here opens
  unmodified where the kernel runs this same Python (the project's environment; on another
  patch release JupyterLab updates that one field).

It also writes nbformat 4.5 with a unique ``id`` on every cell (it adds random ones where
missing), and the JSON layout of ``nbformat.write`` (the server writes with it). Nothing here
touches cell sources, cell metadata or outputs: other tools edit cells.

Trust: a notebook without outputs has nothing to trust, and its widgets are created by running
it; the server still logs "Notebook ... is not trusted" on the first open of any unsigned
notebook, because signatures live in each user's own database (``nbsignatures.db``), which
cannot be committed.

    python tools/nb_normalise.py            # rewrite notebooks/*.ipynb in place
    python tools/nb_normalise.py --check    # list what differs, exit 1 if anything does
    python tools/nb_normalise.py a.ipynb    # these files only
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def expected_metadata() -> dict[str, Any]:
    """``kernelspec`` and ``language_info`` as JupyterLab writes them with this environment's
    ipykernel (the kernel that ``make setup`` installs)."""
    from ipykernel.ipkernel import IPythonKernel
    from ipykernel.kernelspec import KERNEL_NAME, get_kernel_dict

    spec = get_kernel_dict()
    return {"kernelspec": {"display_name": spec["display_name"], "language": spec["language"],
                           "name": KERNEL_NAME},
            "language_info": copy.deepcopy(dict(IPythonKernel.language_info))}


def _same_minor(a: str, b: str) -> bool:
    return a.split(".")[:2] == b.split(".")[:2]


def problems(nb: Any, *, exact_version: bool = False) -> list[str]:
    """What in ``nb`` differs from what JupyterLab writes (empty when normalised).

    ``language_info.version`` is compared to major.minor only unless ``exact_version``:
    notebooks written on this project's Python 3.11 stay valid on another 3.11 patch."""
    found = []
    want = expected_metadata()
    if nb.get("nbformat") != 4 or nb.get("nbformat_minor") != 5:
        found.append(f"nbformat {nb.get('nbformat')}.{nb.get('nbformat_minor')}, expected 4.5")
    meta = nb.get("metadata", {})
    if meta.get("kernelspec") != want["kernelspec"]:
        found.append(f"kernelspec {meta.get('kernelspec')}, expected {want['kernelspec']}")
    have, info = dict(meta.get("language_info", {})), want["language_info"]
    version_ok = (have.get("version") == info["version"] if exact_version
                  else _same_minor(str(have.get("version", "")), info["version"]))
    have.pop("version", None)
    info = {k: v for k, v in info.items() if k != "version"}
    if have != info or not version_ok:
        found.append(f"language_info {meta.get('language_info')}, expected "
                     f"{want['language_info']}")
    ids = [c.get("id") for c in nb.get("cells", [])]
    if None in ids or len(set(ids)) != len(ids):
        found.append("cell ids missing or repeated")
    return found


def normalise(nb: Any) -> Any:
    """``nb`` (a NotebookNode) with JupyterLab's metadata; cells unchanged but for missing or
    repeated ids. A ``language_info.version`` of the same Python major.minor is kept, so
    re-running this on another 3.11 patch release changes nothing."""
    if nb.nbformat != 4:
        raise ValueError(f"expected an nbformat 4 notebook, found nbformat {nb.nbformat}")
    nb = nbformat.v4.upgrade(nb, from_version=4, from_minor=nb.nbformat_minor)
    want = expected_metadata()
    old_version = str(nb.metadata.get("language_info", {}).get("version", ""))
    nb.metadata["kernelspec"] = want["kernelspec"]
    nb.metadata["language_info"] = want["language_info"]
    if _same_minor(old_version, want["language_info"]["version"]):
        nb.metadata["language_info"]["version"] = old_version
    taken = {c.get("id") for c in nb.cells}
    seen: set[str] = set()
    for i, cell in enumerate(nb.cells):
        if not cell.get("id") or cell["id"] in seen:
            candidate, k = f"cell-{i:02d}", 0
            while candidate in taken:
                candidate, k = f"cell-{i:02d}-{k}", k + 1
            cell["id"] = candidate
            taken.add(candidate)
        seen.add(cell["id"])
    return nb


def dumps(nb: Any) -> str:
    """The text ``nbformat.write`` writes (and the Jupyter server, on save)."""
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def write_atomic(nb: Any, path: Path) -> None:
    """Write ``nb`` as ``nbformat.write`` does, through a temporary file and a rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(dumps(nb))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path,
                        help="notebooks (default: notebooks/*.ipynb)")
    parser.add_argument("--check", action="store_true",
                        help="only report notebooks that are not normalised; exit 1 if any")
    args = parser.parse_args(argv)
    paths = args.paths or sorted((ROOT / "notebooks").glob("*.ipynb"))
    bad = 0
    for path in paths:
        if not path.is_file():
            print(f"{path}: expected a notebook file, found nothing there", file=sys.stderr)
            return 2
        text = path.read_text(encoding="utf-8")
        nb = nbformat.reads(text, as_version=nbformat.NO_CONVERT)
        if args.check:
            found = problems(nb)
            bad += bool(found)
            for line in found:
                print(f"{path}: {line}")
            continue
        new = normalise(nb)
        if dumps(new) != text:
            write_atomic(new, path)
            print(f"normalised {path}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
