"""reprolib.comparison on a tiny synthetic results frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reprolib import comparison
from reprolib.reported import load_paper_reported
from reprolib.results import COLUMNS

MAPPING = dict(comparison.FALLBACK_STANDS_IN_FOR)


def _row(**fields: object) -> dict[str, object]:
    row: dict[str, object] = {c: "" for c in COLUMNS}
    row.update({"seed": 0, "threshold_policy": "none", "profile": "unit", "img_size": 64,
                "epochs": 2, "weights": "random", "n_normal": 10, "n_abnormal": 10,
                "converged": "yes"})
    row.update(fields)
    return row


@pytest.fixture
def ours() -> pd.DataFrame:
    rows = []
    for seed, value in [(0, 0.80), (1, 0.90), (2, 0.85)]:
        rows.append(_row(paper="heteroae", table="t1", dataset="phantom_cxr", method="hetero_ae",
                         metric="auroc", value=value, seed=seed))
    rows += [
        _row(paper="heteroae", table="t1", dataset="phantom_cxr", method="hetero_ae",
             metric="f1", value=0.70, threshold_policy="normal_val"),
        _row(paper="heteroae", table="t1", dataset="phantom_cxr", method="hetero_ae",
             metric="f1", value=0.75, threshold_policy="best_f1"),
        _row(paper="heteroae", table="t1", dataset="phantom_cxr", method="ae", metric="auroc",
             value=0.95),
        _row(paper="heteroae", table="t2", dataset="phantom_brain", method="hetero_ae",
             variant="full", metric="params_m", value=11.5),
        # Ambiguous: Table 1 of ReSynthDetect has five protocols for the same key.
        _row(paper="resynthdetect", table="t1", dataset="phantom_eyeq", method="draem",
             metric="auroc", value=0.6),
        _row(paper="resynthdetect", table="t1", dataset="phantom_eyeq", method="resynthdetect",
             protocol="eyeq_0_vs_all", metric="auroc", value=0.7),
        # A real dataset stands for itself.
        _row(paper="mdfsc", table="t1", dataset="octid", protocol="image_level", method="spade",
             metric="ap", value=0.5),
        _row(paper="mdfsc", table="t1", dataset="octid", protocol="image_level", method="spade",
             metric="ap", value=0.6, seed=1),
        _row(paper="heteroae", table="t1", dataset="phantom_cxr", method="hetero_ae",
             metric="threshold", value=0.3, threshold_policy="best_f1"),
        _row(paper="reference", table="t0", dataset="phantom_cxr", method="conv_ae",
             metric="auroc", value=0.6),
    ]
    return pd.DataFrame(rows, columns=list(COLUMNS))


@pytest.fixture
def compared(ours: pd.DataFrame) -> pd.DataFrame:
    return comparison.compare(load_paper_reported(), ours, MAPPING)


def _one(frame: pd.DataFrame, **keys: str) -> pd.Series:
    mask = np.ones(len(frame), dtype=bool)
    for column, value in keys.items():
        mask &= (frame[column] == value).to_numpy()
    assert mask.sum() == 1, (keys, frame[mask])
    return frame[mask].iloc[0]


def test_mean_std_over_seeds_and_difference(compared: pd.DataFrame) -> None:
    row = _one(compared, paper="heteroae", table="t1", paper_dataset="kermany_cxr",
               method="hetero_ae", metric="auroc")
    assert row["status"] == "measured" and row["our_dataset"] == "phantom_cxr"
    assert row["our_mean"] == pytest.approx(0.85)
    assert row["our_std"] == pytest.approx(np.std([0.80, 0.90, 0.85], ddof=1))
    assert row["n_seeds"] == 3 and row["seeds"] == "0,1,2"
    assert row["difference"] == pytest.approx(0.85 - 0.9067)
    assert np.isnan(_one(compared, paper="heteroae", table="t1", paper_dataset="kermany_cxr",
                         method="ae", metric="auroc")["our_std"])
    spread = _one(compared, paper="heteroae", table="t1", paper_dataset="kermany_cxr",
                  method="hetero_ae", metric="auroc_std")
    assert spread["paper_value"] == pytest.approx(0.008)
    assert spread["our_mean"] == pytest.approx(np.std([0.80, 0.90, 0.85], ddof=1))
    assert _one(compared, paper="heteroae", table="t1", paper_dataset="kermany_cxr",
                method="hetero_ae", metric="f1_std")["status"] == comparison.NOT_RUN


def test_threshold_policy_preference(compared: pd.DataFrame) -> None:
    row = _one(compared, paper="heteroae", table="t1", paper_dataset="kermany_cxr",
               method="hetero_ae", metric="f1", status="measured")
    assert row["our_threshold_policy"] == "best_f1" and row["our_mean"] == 0.75
    extra = _one(compared, paper="heteroae", table="t1", status="ours only",
                 our_threshold_policy="normal_val")
    assert extra["our_mean"] == 0.70 and np.isnan(extra["paper_value"])
    assert "threshold" not in set(compared["metric"])


def test_protocol_dataset_and_model_size_matching(compared: pd.DataFrame) -> None:
    hit = _one(compared, paper="resynthdetect", table="t1", method="resynthdetect",
               protocol="eyeq_0_vs_all")
    assert hit["status"] == "measured" and hit["paper_value"] == 0.722
    others = compared[(compared["paper"] == "resynthdetect") & (compared["table"] == "t1")
                      & (compared["method"] == "resynthdetect")
                      & (compared["protocol"] != "eyeq_0_vs_all")]
    assert len(others) == 4 and (others["status"] == comparison.NOT_RUN).all()
    assert _one(compared, paper="resynthdetect", method="draem", table="t1",
                status="ours only")["our_protocol"] == ""
    size = _one(compared, paper="heteroae", table="t2", variant="full", metric="params_m")
    assert size["our_mean"] == 11.5 and size["difference"] == pytest.approx(11.5 - 17)
    spade = _one(compared, paper="mdfsc", table="t1", method="spade", metric="ap",
                 paper_dataset="octid")
    assert spade["status"] == "measured" and spade["our_dataset"] == "octid"
    assert spade["our_mean"] == pytest.approx(0.55)
    # The spread over seeds has no paper number here: shown as "± std", not as an extra row.
    assert not compared.loc[compared["status"] == "ours only", "metric"].str.endswith(
        "_std").any()


def test_every_paper_number_appears_once_when_nothing_matches() -> None:
    reported = load_paper_reported()
    empty = pd.DataFrame(columns=list(COLUMNS))
    out = comparison.compare(reported, empty, MAPPING)
    assert len(out) == len(reported)
    assert (out["status"] == comparison.NOT_RUN).all()
    summary = comparison.table_summary(out)
    assert summary["measured"].sum() == 0
    assert summary["paper_numbers"].sum() == len(reported)


def test_summary_counts(compared: pd.DataFrame) -> None:
    summary = comparison.table_summary(compared).set_index(["paper", "table"])
    assert summary.loc[("heteroae", "t1"), "measured"] == 4  # auroc x2, auroc_std, f1
    assert summary.loc[("heteroae", "t1"), "paper_numbers"] == 200
    # hetero_ae vs ae on kermany_cxr AUROC: paper best is hetero_ae, ours is ae.
    assert summary.loc[("heteroae", "t1"), "same_best"] == "0/1"
    assert summary.loc[("anogan", "t1"), "measured"] == 0
    assert summary.loc[("heteroae", "t1"), "verdict"] == "partly measured"
    assert summary.loc[("anogan", "t1"), "verdict"] == comparison.NOT_RUN


def test_verdict_needs_every_number_closeness_and_the_papers_data() -> None:
    assert comparison._verdict(3, 3, 0.95, True) == "reproduced"
    assert comparison._verdict(3, 3, 0.95, False) == "close on stand-in data"
    assert comparison._verdict(3, 3, 0.5, True) == "not reproduced"
    assert comparison._verdict(3, 3, float("nan"), True) == "not reproduced"
    assert comparison._verdict(3, 2, 1.0, True) == "partly measured"
    assert comparison._verdict(3, 0, 1.0, True) == comparison.NOT_RUN
    assert comparison._verdict(0, 0, 1.0, True) == ""


def test_report_written_with_figures(ours: pd.DataFrame, isolated_dirs: Path) -> None:
    report = comparison.build_report("unit", ours=ours)
    path = report.write()
    assert path == isolated_dirs / "results" / "unit" / "comparison.md"
    text = path.read_text()
    assert comparison.NOT_RUN in text and "## heteroae t1" in text
    assert "0.850 ± 0.050 (n=3)" in text
    assert "Results without a paper table" in text
    figures = isolated_dirs / "results" / "figures" / "unit"
    assert (figures / "99_comparison_heteroae_t1.png").exists()
    assert (figures / "99_comparison_overview.png").exists()
    assert not (figures / "99_comparison_anogan_t1.png").exists()
    assert ("heteroae", "t1") in report.figures
    assert not list(path.parent.glob(".*tmp*"))


def test_reads_results_folder(isolated_dirs: Path, ours: pd.DataFrame) -> None:
    folder = isolated_dirs / "results" / "unit"
    folder.mkdir(parents=True)
    ours[ours["metric"] == "auroc"].to_csv(folder / "heteroae_t1_sota.csv", index=False)
    report = comparison.build_report("unit")
    assert (report.compared["status"] == "measured").sum() >= 2


def test_bad_input_is_refused(ours: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="missing column 'seed'"):
        comparison.summarise_ours(ours.drop(columns=["seed"]), MAPPING)
    with pytest.raises(ValueError, match="profile"):
        comparison.build_report("")
    report = comparison.build_report("unit", ours=ours)
    with pytest.raises(KeyError, match="unknown table"):
        report.table("heteroae", "t9")


@pytest.mark.notebooks
def test_notebook_runs_on_a_results_folder(isolated_dirs: Path, ours: pd.DataFrame) -> None:
    papermill = pytest.importorskip("papermill")
    results = isolated_dirs / "results"
    (results / "unit").mkdir(parents=True)
    ours[ours["paper"] == "heteroae"].to_csv(results / "unit" / "heteroae_t1_sota.csv",
                                             index=False)
    notebook = Path(__file__).resolve().parents[1] / "notebooks" / "99_comparison.ipynb"
    papermill.execute_notebook(str(notebook), str(isolated_dirs / "out.ipynb"),
                               parameters={"PROFILE": "unit", "RESULTS_DIR": str(results)},
                               progress_bar=False, log_output=False)
    text = (results / "unit" / "comparison.md").read_text()
    assert "profile `unit`" in text and "## heteroae t1" in text
    assert (results / "figures" / "unit" / "99_comparison_heteroae_t1.png").exists()
