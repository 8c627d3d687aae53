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


def test_agreement_tie_close_far() -> None:
    assert comparison.agreement(0.80, 0.10, 0.75, 0.95) == comparison.TIE  # inside the interval
    assert comparison.agreement(0.80, 0.03, float("nan"), float("nan")) == comparison.CLOSE
    assert comparison.agreement(0.80, 0.10, 0.85, 0.95) == comparison.FAR
    assert comparison.agreement(0.80, 0.04, 0.85, 0.95) == comparison.CLOSE
    assert comparison.agreement(float("nan"), float("nan"), 0.1, 0.2) == ""


@pytest.fixture
def evidence(ours: pd.DataFrame) -> pd.DataFrame:
    """``ours`` plus intervals, floor rows and a model that did not converge."""
    frame = ours.astype({"ci_low": object, "ci_high": object})
    ae = (frame["method"] == "ae") & (frame["metric"] == "auroc")
    frame.loc[ae, ["ci_low", "ci_high", "converged"]] = [0.55, 0.97, "not converged"]
    hetero = (frame["method"] == "hetero_ae") & (frame["metric"] == "auroc")
    frame.loc[hetero, ["ci_low", "ci_high"]] = [0.70, 0.88]  # paper 0.9067: outside
    floors = [_row(paper="heteroae", table="t1", dataset="phantom_cxr", method=m,
                   variant=v, metric="auroc", value=x, ci_low=x - 0.1, ci_high=x + 0.05,
                   converged="n/a")
              for m, v, x in [("mean_intensity", "reference_floor", 0.60),
                              ("pca_recon", "reference_floor", 0.82),
                              ("knn_pixels", "reference_floor", 0.78),
                              ("knn_pixels", "reference_floor_features", 0.88)]]
    return pd.concat([frame, pd.DataFrame(floors, columns=list(COLUMNS))], ignore_index=True)


def test_intervals_ties_floors_and_convergence(evidence: pd.DataFrame, isolated_dirs: Path
                                               ) -> None:
    out = comparison.compare(load_paper_reported(), evidence, MAPPING)
    ae = _one(out, paper="heteroae", table="t1", paper_dataset="kermany_cxr", method="ae",
              metric="auroc")
    assert ae["agreement"] == comparison.TIE  # paper 0.5987 inside [0.55, 0.97]
    assert (ae["our_ci_low"], ae["our_ci_high"]) == (0.55, 0.97)
    assert ae["converged"] == "not converged"
    assert ae["reference_floor_value"] == 0.82 and ae["reference_floor_method"] == "pca_recon"
    assert ae["reference_floor_features_value"] == 0.88
    hetero = _one(out, paper="heteroae", table="t1", paper_dataset="kermany_cxr",
                  method="hetero_ae", metric="auroc")
    assert hetero["agreement"] == comparison.FAR  # 0.85 vs 0.9067: outside the CI, > 0.05
    # The interval of several seeds: the mean of the per-seed bounds.
    assert (hetero["our_ci_low"], hetero["our_ci_high"]) == pytest.approx((0.70, 0.88))
    f1 = _one(out, paper="heteroae", table="t1", paper_dataset="kermany_cxr",
              method="hetero_ae", metric="f1", status="measured")
    assert np.isnan(f1["reference_floor_value"])  # no floor for this metric/policy
    summary = comparison.table_summary(out).set_index(["paper", "table"])
    row = summary.loc[("heteroae", "t1")]
    assert row["ties"] == 1 and row["not_converged"] == 1
    assert row["above_floor"] == "2/2"  # ae 0.95 and hetero_ae 0.85 above pca_recon's 0.82
    text = comparison.build_report("unit", ours=evidence).write().read_text()
    assert "| tie |" in text and "**not converged**" in text
    assert "0.820 (pca_recon)" in text and "0.880 (knn_pixels)" in text
    assert "[0.550, 0.970]" in text


def test_error_bars_use_the_interval_else_the_std() -> None:
    rows = pd.DataFrame({"our_mean": [0.8, 0.6], "our_std": [0.05, 0.02],
                         "our_ci_low": [0.7, np.nan], "our_ci_high": [0.85, np.nan]})
    np.testing.assert_allclose(comparison.error_bars(rows), [[0.1, 0.02], [0.05, 0.02]])
