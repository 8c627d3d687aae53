"""Real-browser tests run only when asked: ``make test-browser`` (``pytest -m browser``)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "browser" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="real-browser test: run `make test-browser` "
                                   "(pytest -m browser tests/browser)")
    for item in items:
        if item.get_closest_marker("browser") is not None:
            item.add_marker(skip)
