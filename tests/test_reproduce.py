"""`make reproduce` as a researcher expects it (issue 14): jobs rerun when the reprolib code
they run changes, and only those; an unknown profile is named with the known ones."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reprolib import codestamp

ROOT = Path(__file__).resolve().parent.parent


def _sources(stem: str, profile: str = "smoke") -> set[str]:
    return {p.as_posix() for p in codestamp.job_sources(
        ROOT / "notebooks" / f"{stem}.ipynb", ROOT / "params" / stem / f"{profile}.yaml", ROOT)}


def test_a_notebook_depends_on_the_methods_it_runs_and_what_they_import() -> None:
    t1 = _sources("heteroae_t1_sota")      # smoke: ae, mkd, hetero_ae
    t2 = _sources("heteroae_t2_homo_vs_hetero")  # hetero_ae variants only
    assert "reprolib/methods/hetero_ae/method.py" in t1 & t2
    assert "reprolib/methods/ae/method.py" in t1
    assert "reprolib/methods/ae/method.py" not in t2
    assert "reprolib/methods/stfpm/method.py" not in t1  # not in the smoke params
    assert "reprolib/methods/stfpm/method.py" in _sources("heteroae_t1_sota", "default")
    assert {"reprolib/training.py", "reprolib/experiment.py", "reprolib/methods/base.py",
            "reprolib/papers/heteroae.py"} <= t1
    anogan = _sources("anogan_t1_clinical_stats")
    assert "reprolib/methods/anogan/method.py" in anogan  # named in reprolib/papers/anogan.py
    assert not any(p.startswith("reprolib/methods/hetero_ae/") for p in anogan)


def test_stamp_is_rewritten_only_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "x.code.json"
    assert codestamp.write_stamp(path, {"a.py": "1"})
    before = path.stat().st_mtime_ns
    assert not codestamp.write_stamp(path, {"a.py": "1"})
    assert path.stat().st_mtime_ns == before
    assert codestamp.write_stamp(path, {"a.py": "2"})
    # Back to what the last run recorded: dated before that run, so the job is not stale.
    done = tmp_path / "x.done"
    done.write_text(json.dumps({"a.py": "1"}))
    assert codestamp.write_stamp(path, {"a.py": "1"}, done=done)
    assert path.stat().st_mtime < done.stat().st_mtime


def _write_project(root: Path) -> None:
    """A miniature repository: two method folders, a shared module, two notebooks using one
    method each, the comparison, the real Snakefile and reprolib.codestamp."""
    (root / "reprolib" / "methods" / "alpha").mkdir(parents=True)
    (root / "reprolib" / "methods" / "beta").mkdir(parents=True)
    shutil.copy(ROOT / "Snakefile", root / "Snakefile")
    shutil.copy(ROOT / "reprolib" / "codestamp.py", root / "reprolib" / "codestamp.py")
    files = {
        "reprolib/__init__.py": "",
        "reprolib/shared.py": "X = 1\n",
        "reprolib/methods/__init__.py": "def register(name):\n    return lambda c: c\n",
        "reprolib/methods/alpha/__init__.py": "",
        "reprolib/methods/alpha/method.py":
            "from reprolib.methods import register\nfrom reprolib.methods.alpha import model\n"
            "@register(\"alpha\")\nclass A: ...\n",
        "reprolib/methods/alpha/model.py": "W = 1\n",
        "reprolib/methods/beta/__init__.py": "",
        "reprolib/methods/beta/method.py":
            "from reprolib.methods import register\n@register(\"beta\")\nclass B: ...\n",
    }
    for name, text in files.items():
        (root / name).write_text(text)
    for stem, method in (("nb_alpha", "alpha"), ("nb_beta", "beta"), ("99_comparison", None)):
        cells = [{"cell_type": "code", "metadata": {"tags": ["parameters"]}, "outputs": [],
                  "execution_count": None, "source": "PROFILE = 'default'\nMETHODS = []\n"},
                 {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                  "source": "import reprolib.shared\nfrom reprolib import methods\n"}]
        nb = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
        (root / "notebooks").mkdir(exist_ok=True)
        (root / "notebooks" / f"{stem}.ipynb").write_text(json.dumps(nb))
        (root / "params" / stem).mkdir(parents=True)
        (root / "params" / stem / "t.yaml").write_text(
            f"METHODS: [{{method: {method}}}]\n" if method else "{}\n")


def _dry_run(root: Path) -> tuple[set[str], str]:
    """Jobs a dry run of the real Snakefile would run, and what it printed first."""
    env = {**os.environ, "PYTHONPATH": ""}
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1",
                          "--config", "profile=t"], cwd=root, capture_output=True, text=True,
                         env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout + out.stderr
    jobs = {line.split("stem=")[1].strip() for line in text.splitlines() if "stem=" in line}
    if "rule comparison" in text:
        jobs.add("99_comparison")
    return jobs, text


def _finish_runs(root: Path) -> None:
    """What a successful run leaves: each job's stamp copied to its .done, newer than inputs."""
    time.sleep(0.05)
    for stamp in (root / "results" / "executed" / "t").glob(f"*{codestamp.STAMP_SUFFIX}"):
        stem = stamp.name[:-len(codestamp.STAMP_SUFFIX)]
        shutil.copy(stamp, stamp.with_name(f"{stem}{codestamp.DONE_SUFFIX}"))


def test_a_changed_source_file_marks_exactly_its_jobs_stale(tmp_path: Path) -> None:
    pytest.importorskip("snakemake")
    _write_project(tmp_path)
    jobs, text = _dry_run(tmp_path)
    assert jobs == {"nb_alpha", "nb_beta", "99_comparison"}
    assert "never run under 't' here: nb_alpha, nb_beta" in text
    _finish_runs(tmp_path)
    jobs, text = _dry_run(tmp_path)
    assert jobs == set(), text[-2000:]
    assert "up to date" in text
    # Edit alpha's model: alpha's notebook (and the comparison after it) rerun, beta's does not.
    time.sleep(0.05)
    (tmp_path / "reprolib/methods/alpha/model.py").write_text("W = 2\n")
    jobs, text = _dry_run(tmp_path)
    assert jobs == {"nb_alpha", "99_comparison"}
    assert "nb_alpha: code: reprolib/methods/alpha/model.py changed" in text
    # A module both use: both rerun.
    _finish_runs(tmp_path)
    (tmp_path / "reprolib/shared.py").write_text("X = 2\n")
    jobs, _ = _dry_run(tmp_path)
    assert jobs == {"nb_alpha", "nb_beta", "99_comparison"}
    # Undoing the edit makes the jobs current again without a rerun.
    (tmp_path / "reprolib/shared.py").write_text("X = 1\n")
    jobs, _ = _dry_run(tmp_path)
    assert jobs == set()


def test_unknown_profile_lists_the_profiles_that_exist() -> None:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    out = subprocess.run([make, "-s", "check-profile", "PROFILE=typo"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "unknown profile 'typo'" in out.stderr
    known = sorted(p.stem for p in (ROOT / "params" / "99_comparison").glob("*.yaml"))
    assert f"profiles that exist: {' '.join(known)}" in out.stderr
    ok = subprocess.run([make, "-s", "check-profile", "PROFILE=smoke"], cwd=ROOT,
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
