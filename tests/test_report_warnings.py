"""The comparison report's warnings: degenerate thresholds, one-seed spreads, seed counts,
weights (reprolib.comparison; issue 14)."""

from __future__ import annotations

import pandas as pd
import pytest

from reprolib import comparison
from reprolib.reported import load_paper_reported
from reprolib.results import COLUMNS

MAPPING = dict(comparison.FALLBACK_STANDS_IN_FOR)


def _row(**fields: object) -> dict[str, object]:
    row: dict[str, object] = {c: "" for c in COLUMNS}
    row.update({"paper": "heteroae", "table": "t1", "dataset": "phantom_cxr",
                "protocol": "image_level", "seed": 0, "threshold_policy": "best_f1",
                "profile": "unit", "img_size": 64, "epochs": 2, "weights": "none",
                "n_normal": 6, "n_abnormal": 10})
    row.update(fields)
    return row


@pytest.fixture
def ours() -> pd.DataFrame:
    rows = [
        # ae: the best-F1 threshold calls every test image abnormal (sen 1, spe 0); its F1 is
        # then 2*10/(2*10+6) = 0.769, which happens to lie within 0.05 of the paper's 0.772.
        _row(method="ae", metric="sen", value=1.0), _row(method="ae", metric="spe", value=0.0),
        _row(method="ae", metric="f1", value=20 / 26), _row(method="ae", metric="acc",
                                                             value=10 / 16),
        _row(method="ae", metric="auroc", value=0.6, threshold_policy="none"),
        # hetero_ae: a threshold that separates; one seed, random backbone.
        *[_row(method="hetero_ae", metric=m, value=v, weights="random (imagenet unavailable)")
          for m, v in (("sen", 0.8), ("spe", 0.7), ("f1", 0.89), ("acc", 0.76))],
        _row(method="hetero_ae", metric="auroc", value=0.9, threshold_policy="none",
             weights="random (imagenet unavailable)"),
    ]
    return pd.DataFrame(rows, columns=list(COLUMNS))


@pytest.fixture
def compared(ours: pd.DataFrame) -> pd.DataFrame:
    out = comparison.compare(load_paper_reported(), ours, MAPPING)
    return comparison.mark_one_seed(comparison.flag_degenerate(out, ours))


def _one(compared: pd.DataFrame, method: str, metric: str) -> pd.Series:
    rows = compared[(compared["method"] == method) & (compared["metric"] == metric)
                    & (compared["our_dataset"] == "phantom_cxr")]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def test_all_abnormal_threshold_is_degenerate_and_never_close(compared: pd.DataFrame) -> None:
    f1 = _one(compared, "ae", "f1")
    assert f1["degenerate"]
    assert abs(f1["difference"]) <= comparison.CLOSE_TOLERANCE  # close by the number alone
    assert not comparison.is_close(f1.to_frame().T).iloc[0]
    assert _one(compared, "ae", "sen")["degenerate"] and _one(compared, "ae", "acc")["degenerate"]
    # Threshold-free metrics and a threshold that separates are not flagged.
    assert not _one(compared, "ae", "auroc")["degenerate"]
    assert not _one(compared, "hetero_ae", "f1")["degenerate"]


def test_all_normal_threshold_is_degenerate_too() -> None:
    rows = pd.DataFrame([_row(method="vae", metric="sen", value=0.0),
                         _row(method="vae", metric="spe", value=1.0),
                         _row(method="vae", metric="sen", value=0.5, seed=1),
                         _row(method="vae", metric="spe", value=0.5, seed=1)],
                        columns=list(COLUMNS))
    found = comparison.degenerate_keys(rows)
    assert found == {("heteroae", "t1", "phantom_cxr", "image_level", "vae", "", "best_f1"):
                     (1, 2)}


def test_degenerate_rows_lower_the_share_within_tolerance(compared: pd.DataFrame) -> None:
    summary = comparison.table_summary(compared).set_index(["paper", "table"])
    unflagged = comparison.table_summary(compared.assign(degenerate=False)).set_index(
        ["paper", "table"])
    assert summary.loc[("heteroae", "t1"), "within_tol"] < unflagged.loc[("heteroae", "t1"),
                                                                           "within_tol"]


def test_one_seed_spread_rows_seed_counts_and_weights(compared: pd.DataFrame) -> None:
    std = compared[(compared["method"] == "hetero_ae") & (compared["metric"] == "auroc_std")
                   & (compared["paper_dataset"] == "kermany_cxr")]
    assert set(std["status"]) == {comparison.ONE_SEED}
    summary = comparison.table_summary(compared).set_index(["paper", "table"])
    assert summary.loc[("heteroae", "t1"), "seeds"] == "1"  # how many seeds, not which
    text = comparison.render_markdown(compared, comparison.table_summary(compared),
                                      profile="unit", fallback_mapping=True, mapping=MAPPING,
                                      figures={})
    assert "0.769 (n=1) **degenerate**" in text
    assert "| one seed |" in text
    assert "`hetero_ae`: **random (imagenet unavailable)**" in text
    assert "`ae`: none (trained from scratch)" in text
    assert "Generated 20" not in text  # undated: a rerun with the same numbers is unchanged


def test_figure_axis_says_what_the_points_are(compared: pd.DataFrame) -> None:
    assert comparison.ours_axis_label(compared[compared["status"] == "measured"]) \
        == "ours (one seed)"
    assert comparison.ours_axis_label(pd.DataFrame({"n_seeds": [5, 5]})) \
        == "ours (mean over 5 seeds; bars: std)"
    title = comparison.figure_title(pd.DataFrame({"our_dataset": ["", "phantom_brain"],
                                                  "metric": ["params_m", "auroc"]}),
                                    "heteroae", "t2")
    assert title == "heteroae t2: paper vs ours on phantom_brain (+ model size)"
