"""results/paper_reported.csv: row counts per table from the papers' text, names, values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reprolib.reported import (
    FRACTION_METRICS,
    KNOWN_METRICS,
    METHODS,
    MODEL_SIZE_METRICS,
    PAPER_TABLES,
    REPORTED_COLUMNS,
    VARIANTS,
    PaperReportedError,
    load_paper_reported,
)

# Rows per (paper, table), derived from the tables as printed.
EXPECTED_ROWS: dict[tuple[str, str], int] = {
    # 4 methods (aCAE, P_D, GAN_R, AnoGAN) x 5 columns (precision, recall, sen, spe, AUC)
    ("anogan", "t1"): 4 * 5,
    # 9 methods x 3 datasets (brain MRI, OCT, fundus) x 3 metrics (AUC, ACC, F1)
    ("proxyano", "t1"): 9 * 3 * 3,
    # 6 rows (AE, f-AnoGAN, GANomaly, Sparse-GAN, SI approach, final) x 3 (normal, abnormal, gap)
    ("proxyano", "t2"): 6 * 3,
    # 7 proxies (indices 0-6) x 1 metric (AUC)
    ("proxyano", "t3"): 7 * 1,
    # 8 configurations x 1 metric (AUC)
    ("proxyano", "t4"): 8 * 1,
    # 2 score spaces x 2 datasets x 1 metric (AUC)
    ("proxyano", "t5"): 2 * 2 * 1,
    # Fig. 11: only 2 numbers are in the text (k = 2048: 0.837; no memory: 0.828)
    ("proxyano", "f11"): 2,
    # 4 datasets x 5 metrics x 9 methods, + 4 datasets x 5 metrics of "± std" for Hetero-AE
    ("heteroae", "t1"): 4 * 5 * 9 + 4 * 5,
    # 7 encoder/decoder rows x (2 datasets x 3 metrics + params + FLOPs)
    ("heteroae", "t2"): 7 * (2 * 3 + 2),
    # 3 decoder rows x (2 datasets x 5 metrics + params)
    ("heteroae", "t3"): 3 * (2 * 5 + 1),
    # 6 rows (3 auto-encoders x with/without feature comparison) x 2 datasets x 5 metrics
    ("heteroae", "t4"): 6 * 2 * 5,
    # 5 methods x 5 protocols (0vs1, 0vs2, 0vs3, 0vs4, 0vsall)
    ("resynthdetect", "t1"): 5 * 5,
    # 6 methods x 3 pixel metrics (AUROC, ACC, AUPR)
    ("resynthdetect", "t2"): 6 * 3,
    # 5 configurations x (3 IDRiD pixel metrics + 1 EyeQ AUROC)
    ("resynthdetect", "t3"): 5 * (3 + 1),
    # 4 generators x (3 IDRiD pixel metrics + 1 EyeQ AUROC)
    ("resynthdetect", "t4"): 4 * (3 + 1),
    # 5 methods x 3 datasets x 2 metrics (AP, AUC)
    ("mdfsc", "t1"): 5 * 3 * 2,
    # 2 feature sources x 3 datasets x 2 metrics
    ("mdfsc", "t2"): 2 * 3 * 2,
    # 2 methods x 3 datasets x 2 metrics
    ("mdfsc", "t3"): 2 * 3 * 2,
}


@pytest.fixture(scope="module")
def reported() -> pd.DataFrame:
    return load_paper_reported()


def test_row_counts_per_table(reported: pd.DataFrame) -> None:
    counts = reported.groupby(["paper", "table"]).size().to_dict()
    assert counts == EXPECTED_ROWS
    assert len(reported) == sum(EXPECTED_ROWS.values()) == 622


def test_every_table_is_listed_with_a_notebook(reported: pd.DataFrame) -> None:
    present = set(zip(reported["paper"], reported["table"]))
    assert present <= set(PAPER_TABLES)
    for key, entry in PAPER_TABLES.items():
        assert entry.notebook.startswith(f"{key[0]}_{key[1]}_"), entry.notebook
        assert (key in present) == entry.numbers_in_text, key


def test_names_and_values(reported: pd.DataFrame) -> None:
    assert set(reported["metric"]) <= KNOWN_METRICS
    assert set(reported["method"]) <= set(METHODS)
    values = reported["value"].to_numpy(dtype=float)
    assert np.isfinite(values).all()
    fractions = reported[reported["metric"].str.removesuffix("_std").isin(FRACTION_METRICS)]
    assert ((fractions["value"] >= 0) & (fractions["value"] <= 1)).all()
    sizes = reported[reported["metric"].isin(MODEL_SIZE_METRICS)]
    assert (sizes["dataset"] == "").all() and (sizes["value"] > 1).all()
    assert (reported.loc[~reported["metric"].isin(MODEL_SIZE_METRICS), "dataset"] != "").all()
    thresholded = ~reported["metric"].str.removesuffix("_std").isin(
        {"auroc", "ap", "pix_auroc", "pix_aupr", "score_normal", "score_abnormal", "score_gap"}
        | MODEL_SIZE_METRICS)
    assert (reported.loc[thresholded, "threshold_policy"] != "none").all()
    assert (reported.loc[~thresholded, "threshold_policy"] == "none").all()
    assert reported["source"].str.len().min() > 10


def test_metric_names_are_results_metric_names(reported: pd.DataFrame) -> None:
    from reprolib.metrics import METRIC_NAMES, THRESHOLD_POLICIES
    assert set(reported["metric"]) <= set(METRIC_NAMES)
    # "unspecified" exists only here: the paper thresholded but did not say how.
    assert set(reported["threshold_policy"]) <= set(THRESHOLD_POLICIES) | {"unspecified"}


def test_keys_are_unique_and_variants_documented(reported: pd.DataFrame) -> None:
    key = ["paper", "table", "dataset", "protocol", "method", "variant", "metric"]
    assert not reported.duplicated(key).any()
    for (paper, table), group in reported.groupby(["paper", "table"]):
        used = set(group["variant"]) - {""}
        assert used == set(VARIANTS.get((paper, table), {})), (paper, table)


def _value(frame: pd.DataFrame, **keys: str) -> float:
    mask = np.ones(len(frame), dtype=bool)
    for column, value in keys.items():
        mask &= (frame[column] == value).to_numpy()
    assert mask.sum() == 1, keys
    return float(frame.loc[mask, "value"].iloc[0])


def test_spot_values_as_printed(reported: pd.DataFrame) -> None:
    assert _value(reported, paper="anogan", method="anogan", metric="spe") == 0.8928
    assert _value(reported, paper="heteroae", table="t1", dataset="covid19", method="hetero_ae",
                  metric="spe_std") == pytest.approx(0.0289)
    assert _value(reported, paper="heteroae", table="t1", dataset="kermany_cxr", method="ae",
                  metric="spe") == pytest.approx(0.0386)
    assert _value(reported, paper="heteroae", table="t2", variant="resnet_to_swin",
                  metric="flops_g") == 48
    assert _value(reported, paper="proxyano", table="t1", dataset="idrid", method="ganomaly",
                  metric="pix_f1") == 0.658
    assert _value(reported, paper="resynthdetect", table="t1", protocol="eyeq_0_vs_3",
                  method="lesion2void") == 0.877
    assert _value(reported, paper="mdfsc", table="t1", dataset="octid", method="spade",
                  metric="auroc") == 0.8240


def test_numbers_repeated_across_tables_agree(reported: pd.DataFrame) -> None:
    """Rows the papers print twice must agree (a check on the transcription)."""
    r = reported
    # ProxyAno: the final model of Table IV is Table I's OCT AUC; SI rows of Tables III/IV.
    assert _value(r, paper="proxyano", table="t4", variant="full") == _value(
        r, paper="proxyano", table="t1", dataset="oct2017", method="proxyano", variant="",
        metric="auroc")
    assert _value(r, paper="proxyano", table="t3", variant="si") == _value(
        r, paper="proxyano", table="t4", variant="si")
    for ds in ["brain_tumor_mri", "oct2017"]:
        assert _value(r, paper="proxyano", table="t5", dataset=ds, variant="latent_space") == \
            _value(r, paper="proxyano", table="t1", dataset=ds, method="proxyano", variant="",
                   metric="auroc")
    # Table I's Auto-Encoder [14] is Table IV's EncDec row (same model, same 0.783 on OCT).
    assert _value(r, paper="proxyano", table="t1", dataset="oct2017", variant="encdec",
                  metric="auroc") == _value(r, paper="proxyano", table="t4", variant="encdec")
    # Hetero-AE: the full model rows of Tables II, III, IV coincide.
    for ds in ["kermany_cxr", "brain_tumor_mri"]:
        for metric in ["auroc", "f1", "acc"]:
            values = {_value(r, paper="heteroae", table=t, dataset=ds, variant="full",
                             metric=metric) for t in ["t2", "t3", "t4"]}
            assert len(values) == 1, (ds, metric, values)
    # ReSynthDetect: the full model of Tables 3 and 4 is Table 2's / Table 1's "Ours".
    for t in ["t3", "t4"]:
        for metric in ["pix_auroc", "pix_bacc", "pix_aupr"]:
            assert _value(r, paper="resynthdetect", table=t, variant="full", metric=metric) == \
                _value(r, paper="resynthdetect", table="t2", method="resynthdetect",
                       metric=metric)
        assert _value(r, paper="resynthdetect", table=t, variant="full", metric="auroc") == \
            _value(r, paper="resynthdetect", table="t1", protocol="eyeq_0_vs_all",
                   method="resynthdetect")
    # MDFSC: "our method" of Tables 2 and 3 (Table 1 differs on IDRiD in the paper itself).
    for ds in ["eyeq", "idrid", "octid"]:
        for metric in ["ap", "auroc"]:
            assert _value(r, paper="mdfsc", table="t2", dataset=ds, variant="full",
                          metric=metric) == _value(r, paper="mdfsc", table="t3", dataset=ds,
                                                   variant="full", metric=metric)


def test_missing_column_is_named(tmp_path: Path, reported: pd.DataFrame) -> None:
    path = tmp_path / "reported.csv"
    reported.drop(columns=["threshold_policy"]).to_csv(path, index=False)
    with pytest.raises(PaperReportedError, match="missing column 'threshold_policy'"):
        load_paper_reported(path)


def test_bad_values_are_refused(tmp_path: Path, reported: pd.DataFrame) -> None:
    path = tmp_path / "reported.csv"
    bad = reported.copy()
    bad.loc[3, "metric"] = "auc"
    bad.to_csv(path, index=False)
    with pytest.raises(PaperReportedError, match="unknown metric 'auc'"):
        load_paper_reported(path)
    bad = reported.astype({"value": object})
    bad.loc[5, "value"] = "n/a"
    bad.to_csv(path, index=False)
    with pytest.raises(PaperReportedError, match="row 5"):
        load_paper_reported(path)


def test_columns_constant() -> None:
    assert REPORTED_COLUMNS[:6] == ("paper", "table", "dataset", "protocol", "method", "variant")
