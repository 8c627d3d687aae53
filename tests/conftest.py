"""Shared fixtures: an isolated cache/results folder per test session, a tiny dataset."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tinydata import TinyDataset

os.environ.setdefault("REPROLIB_OFFLINE", "1")
os.environ.setdefault("REPROLIB_PROGRESS", "0")
os.environ.setdefault("MPLBACKEND", "Agg")

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def tiny_dataset() -> TinyDataset:
    return TinyDataset()


@pytest.fixture
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the model cache and results at a temporary folder."""
    monkeypatch.setenv("REPROLIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("REPROLIB_RESULTS", str(tmp_path / "results"))
    return tmp_path
