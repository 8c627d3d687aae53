"""Floors in the tables (variant checks, best floor, the printed column) and the learning-curve
figure (issue 8)."""

from __future__ import annotations

import types

import pandas as pd
import pytest

from reprolib import plots
from reprolib.experiment import MethodSpec, best_floor, floor_specs, summary_table


def _row(dataset: str, method: str, variant: str, value: float) -> dict:
    return {"dataset": dataset, "protocol": "image_level", "method": method, "variant": variant,
            "metric": "auroc", "threshold_policy": "none", "value": value}


def test_floor_entries_must_carry_a_floor_variant() -> None:
    specs = floor_specs([{"method": "knn_pixels", "variant": "reference_floor"}])
    assert specs == [MethodSpec("knn_pixels", {}, "reference_floor")]
    with pytest.raises(ValueError, match="variant"):
        floor_specs([{"method": "knn_pixels"}])


def test_best_floor_and_the_summary_column() -> None:
    frame = pd.DataFrame([_row("a", "ae", "", 0.70), _row("a", "knn_pixels", "reference_floor",
                                                          0.60),
                          _row("a", "pca_recon", "reference_floor", 0.80),
                          _row("b", "ae", "", 0.55), _row("b", "pca_recon", "reference_floor",
                                                          0.50)])
    best = best_floor(frame)
    assert best.loc["a", "method"] == "pca_recon" and best.loc["b", "value"] == 0.50
    table = summary_table(frame, metrics=("auroc",))
    column = table["auroc - best floor"]
    level = "image_level"
    assert column[("a", level, "ae", "")] == "-0.100"
    assert column[("b", level, "ae", "")] == "+0.050"
    assert column[("a", level, "pca_recon", "reference_floor")] == "best floor"
    assert column[("a", level, "knn_pixels", "reference_floor")] == "floor"
    # a floor of another protocol (e.g. a sub-class row) is not this protocol's floor
    other = pd.DataFrame([{**_row("a", "pca_recon", "reference_floor", 0.99),
                           "protocol": "image_level:glioma"}])
    column = summary_table(pd.concat([frame, other]), metrics=("auroc",))["auroc - best floor"]
    assert column[("a", level, "ae", "")] == "-0.100"


class _Method:
    convergence_key = None

    def __init__(self, history: list[dict]) -> None:
        self.history = history


def _ev(name: str, dataset: str, history: list[dict], variant: str = "") -> types.SimpleNamespace:
    return types.SimpleNamespace(spec=MethodSpec(name, {}, variant), dataset=dataset,
                                 method=_Method(history))


def test_learning_curves_mark_flagged_models_and_share_panels(tmp_path) -> None:
    falling = [{"epoch": e, "loss": 1.0 / e, "steps": 5 * e} for e in range(1, 21)]
    flat = [{"epoch": e, "loss": 1.0, "steps": 5 * e} for e in range(1, 21)]
    evaluations = {("a", 0): _ev("a", "d1", falling), ("b", 0): _ev("b", "d1", flat),
                   ("b2", 0): _ev("b2", "d1", flat),          # same model as b: one panel
                   ("floor", 0): _ev("knn_pixels", "d1", [], "reference_floor")}
    fig = plots.learning_curves(evaluations, path=tmp_path / "curves.png")
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["a (not converged)", "b / b2"]
    assert (tmp_path / "curves.png").exists()
    assert "d1" in fig._suptitle.get_text()
    assert fig.axes[0].get_yscale() == "log"


def test_bar_rows_keep_method_and_variant_apart() -> None:
    """Table I with EfficientNet-Lite0 rows: one bar per (method, variant), never an average
    of four methods' ``efficientnet_lite0`` rows; Tables II-IV (one method): the variant."""
    from reprolib.papers.heteroae import row_names, table_rows

    methods = ["ae", {"method": "stfpm", "config": {}},
               {"method": "stfpm", "config": {}, "variant": "efficientnet_lite0"},
               {"method": "rd4ad", "config": {}, "variant": "efficientnet_lite0"}]
    assert table_rows(methods) == ["ae", "stfpm", "stfpm:efficientnet_lite0",
                                   "rd4ad:efficientnet_lite0"]
    assert row_names(["hetero_ae", "hetero_ae"], ["full", "resnet_pixel"]) == [
        "full", "resnet_pixel"]
