"""Shared fixtures: an isolated cache/results folder per test session, a tiny dataset, offline
backbones and single-threaded torch (opt in with ``pytest.mark.usefixtures``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from tinydata import TinyDataset

os.environ.setdefault("REPROLIB_OFFLINE", "1")
os.environ.setdefault("REPROLIB_PROGRESS", "0")
os.environ.setdefault("MPLBACKEND", "Agg")

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def tiny_dataset() -> TinyDataset:
    return TinyDataset()


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No download attempts: ImageNet backbones fall back to random init, recorded as such."""
    monkeypatch.setenv("REPROLIB_OFFLINE", "1")
    monkeypatch.setenv("REPROLIB_PROGRESS", "0")


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Tiny tensors: one torch thread avoids oversubscribing a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the model cache and results at a temporary folder."""
    monkeypatch.setenv("REPROLIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("REPROLIB_RESULTS", str(tmp_path / "results"))
    return tmp_path
