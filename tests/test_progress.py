"""Terminal progress lines of training loops under a `make reproduce` job (reprolib.progress)."""

from __future__ import annotations

import re

import torch
from torch.utils.data import TensorDataset

from reprolib import progress
from reprolib.training import make_loader, run_epochs


def _job(monkeypatch, name: str = "nb_x") -> None:
    monkeypatch.setenv("REPROLIB_JOB", name)
    monkeypatch.setenv("REPROLIB_PROGRESS", "1")
    monkeypatch.setenv("REPROLIB_PROGRESS_INTERVAL", "0")


def test_run_epochs_writes_one_readable_line_per_update(monkeypatch, capfd) -> None:
    _job(monkeypatch)
    loader = make_loader(TensorDataset(torch.zeros(6, 1)), batch_size=2, shuffle=False)
    with progress.labels(dataset="phantom_cxr", seed=0):
        run_epochs(lambda batch: {"loss": 1.0}, loader, 2, desc="ae")
    err = capfd.readouterr().err
    lines = re.findall(r"\[nb_x\][^\r\n]*", err)  # the tqdm bar draws on stderr too
    for line in lines:
        assert f"{line}\n" in err  # each of ours is one whole line
    assert lines[0] == "[nb_x] ae on phantom_cxr, seed 0: started, 2 epochs of 3 steps"
    middle = lines[1:-1]
    assert len(middle) == 6
    assert re.fullmatch(r"\[nb_x\] ae on phantom_cxr, seed 0: epoch 1/2, step 1/6, "
                        r"0:\d\d elapsed, ~0:\d\d left", middle[0])
    assert middle[-1].startswith("[nb_x] ae on phantom_cxr, seed 0: epoch 2/2, step 6/6")
    assert re.fullmatch(r"\[nb_x\] ae on phantom_cxr, seed 0: finished 6 steps in 0:\d\d",
                        lines[-1])


def test_no_lines_outside_a_job_or_when_silenced(monkeypatch, capfd) -> None:
    monkeypatch.delenv("REPROLIB_JOB", raising=False)
    monkeypatch.setenv("REPROLIB_PROGRESS", "1")
    loader = make_loader(TensorDataset(torch.zeros(4, 1)), batch_size=2, shuffle=False)
    run_epochs(lambda batch: {"loss": 1.0}, loader, 1, desc="ae")
    assert "started" not in capfd.readouterr().err  # no job lines (the tqdm bar may draw)
    _job(monkeypatch)
    monkeypatch.setenv("REPROLIB_PROGRESS", "0")
    run_epochs(lambda batch: {"loss": 1.0}, loader, 1, desc="ae")
    assert capfd.readouterr().err == ""


def test_a_short_inner_loop_stays_quiet(monkeypatch, capfd) -> None:
    _job(monkeypatch)
    monkeypatch.setenv("REPROLIB_PROGRESS_INTERVAL", "3600")
    reporter = progress.StepReporter("anogan mapping", 3, lazy=True)
    for _ in range(3):
        reporter.step()
    reporter.close()
    assert "[nb_x]" not in capfd.readouterr().err
