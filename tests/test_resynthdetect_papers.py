"""reprolib.papers.resynthdetect: EyeQ grade rows, variants, params consistency, and that the
notebooks' rows land beside results/paper_reported.csv in the comparison."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import roc_auc_score

from reprolib import comparison
from reprolib.experiment import Evaluation, MethodSpec
from reprolib.methods.base import Scores
from reprolib.methods.resynthdetect.method import ReSynthDetectConfig
from reprolib.papers import resynthdetect as rsd
from reprolib.reported import VARIANTS as REPORTED_VARIANTS
from reprolib.reported import load_paper_reported
from reprolib.results import ResultRecorder

ROOT = Path(__file__).resolve().parents[1]


@dataclasses.dataclass
class _Test:
    labels: np.ndarray
    sublabels: list[str]


class _Method:
    fit_seconds = 1.0
    weights_used = "none"
    history: list[dict[str, float]] = []
    config = type("C", (), {"epochs": 0})()

    def data_spec(self) -> dict[str, Any]:
        return {"img_size": 64, "channels": 3, "normalize": "unit"}


def _evaluation(options: dict[str, Any] | None = None) -> Evaluation:
    grades = [0] * 6 + [1, 1, 2, 2, 2, 4]
    labels = np.array([int(g > 0) for g in grades])
    scores = np.array([0.1, 0.5, 0.2, 0.3, 0.6, 0.05, 0.4, 0.7, 0.9, 0.2, 0.8, 0.65])
    return Evaluation(MethodSpec("resynthdetect"), "phantom_eyeq", 0, _Method(),  # type: ignore
                      _Test(labels, [f"grade{g}" for g in grades]),  # type: ignore[arg-type]
                      Scores(image=scores), None, 0.5)


def test_grade_rows_are_zero_vs_k_aurocs() -> None:
    recorder = ResultRecorder(paper="resynthdetect", table="t1", notebook="x", profile="unit")
    ev = _evaluation()
    rows = rsd.record_grades(recorder, ev, options={"clahe": True})
    assert [r["protocol"] for r in rows] == ["eyeq_0_vs_1", "eyeq_0_vs_2", "eyeq_0_vs_4"]
    scores, grades = np.asarray(ev.scores.image), np.array([0] * 6 + [1, 1, 2, 2, 2, 4])
    for row, k in zip(rows, (1, 2, 4)):
        keep = (grades == 0) | (grades == k)
        assert row["value"] == pytest.approx(roc_auc_score(grades[keep] > 0, scores[keep]))
        assert row["ci_low"] <= row["value"] <= row["ci_high"]
    frame = recorder.frame()
    assert set(frame["n_normal"]) == {6} and list(frame["n_abnormal"]) == [2, 3, 1]
    # without CLAHE (not the paper's preprocessing) the protocol says so
    other = ResultRecorder(paper="resynthdetect", table="t1", notebook="x", profile="unit")
    assert rsd.record_grades(other, ev, options={})[0]["protocol"] == "eyeq_0_vs_1_noclahe"


def test_grade_rows_need_grades() -> None:
    ev = _evaluation()
    ev.test.sublabels = None  # type: ignore[assignment]
    recorder = ResultRecorder(paper="resynthdetect", table="t1", notebook="x", profile="unit")
    with pytest.raises(ValueError, match="DR grades"):
        rsd.record_grades(recorder, ev, options={})


def test_variants_are_the_papers_rows_and_valid_configs() -> None:
    for table, names in rsd.TABLE_VARIANTS.items():
        assert set(names) == set(REPORTED_VARIANTS[("resynthdetect", table)])
        for spec in rsd.variant_specs(table, {"img_size": 32}):
            ReSynthDetectConfig(**spec["config"]).validate()
    assert rsd.variant_config("loc_random_rec_feature")["variant"] == "random_rec"
    assert rsd.variant_config("full", {"steps": 3}) == {"steps": 3}
    with pytest.raises(ValueError, match="unknown ReSynthDetect variant"):
        rsd.variant_config("nope")
    with pytest.raises(ValueError, match="table"):
        rsd.variant_specs("t9")


def _params(stem: str, profile: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "params" / stem / f"{profile}.yaml").read_text()) or {}


@pytest.mark.parametrize("profile", ["smoke", "default", "paper"])
def test_ablations_share_the_tables_models(profile: str) -> None:
    """Tables 3-4's ``full`` is Tables 1-2's ReSynthDetect (same config and data): one model."""
    rsd_configs = []
    for stem, key in (("resynthdetect_t1_eyeq", "EYEQ"), ("resynthdetect_t2_idrid", "IDRID")):
        params = _params(stem, profile)
        entries = [m for m in params["METHODS"] if m["method"] == "resynthdetect"]
        assert len(entries) == 1
        rsd_configs.append(entries[0]["config"])
        for ablation in ("resynthdetect_t3_architecture", "resynthdetect_t4_anomaly_generation"):
            other = _params(ablation, profile)
            if other.get(f"{key}_DATASET", params["DATASET"]):
                assert other[f"{key}_DATASET"] == params["DATASET"], (ablation, key)
                assert other[f"{key}_OPTIONS"] == params["DATASET_OPTIONS"], (ablation, key)
            assert other["BASE_CONFIG"] == entries[0]["config"], ablation
    assert rsd_configs[0] == rsd_configs[1]


def _row(**fields: Any) -> dict[str, Any]:
    from reprolib.results import COLUMNS
    row: dict[str, Any] = {c: "" for c in COLUMNS}
    row.update({"paper": "resynthdetect", "seed": 0, "threshold_policy": "none",
                "profile": "unit", "img_size": 64, "epochs": 2, "weights": "random",
                "n_normal": 10, "n_abnormal": 10, "converged": "yes", "value": 0.6})
    row.update(fields)
    return row


def test_rows_land_beside_the_papers_numbers() -> None:
    """Every resynthdetect number of paper_reported.csv is matched by a row of the shape the
    notebooks write (protocols, variants, policies as recorded)."""
    rows = []
    for k in ("1", "2", "3", "4", "all"):
        for method in ("f_anogan", "mkd", "draem", "lesion2void", "resynthdetect"):
            rows.append(_row(table="t1", dataset="phantom_eyeq", protocol=f"eyeq_0_vs_{k}",
                             method=method, metric="auroc"))
    for method in ("f_anogan", "memae", "wdmt_net", "draem", "resad", "resynthdetect"):
        for metric, policy in (("pix_auroc", "none"), ("pix_aupr", "none"),
                               ("pix_bacc", "youden")):
            rows.append(_row(table="t2", dataset="phantom_idrid", protocol="idrid_pixel",
                             method=method, metric=metric, threshold_policy=policy))
    for table, names in rsd.TABLE_VARIANTS.items():
        for variant in names:
            rows.append(_row(table=table, dataset="phantom_eyeq", protocol="eyeq_0_vs_all",
                             method="resynthdetect", variant=variant, metric="auroc"))
            for metric, policy in (("pix_auroc", "none"), ("pix_aupr", "none"),
                                   ("pix_bacc", "youden")):
                rows.append(_row(table=table, dataset="phantom_idrid", protocol="idrid_pixel",
                                 method="resynthdetect", variant=variant, metric=metric,
                                 threshold_policy=policy))
    reported = load_paper_reported()
    reported = reported[reported["paper"] == "resynthdetect"]
    out = comparison.compare(reported, pd.DataFrame(rows),
                             dict(comparison.FALLBACK_STANDS_IN_FOR))
    paper_rows = out[out["status"] != "ours only"] if "ours only" in set(out["status"]) \
        else out
    assert len(paper_rows) == len(reported)
    assert set(paper_rows["status"]) == {comparison.MEASURED}


def test_tables_pivot_the_rows() -> None:
    rows = [_row(table="t1", dataset="phantom_eyeq", protocol=f"eyeq_0_vs_{k}",
                 method="draem", metric="auroc", value=0.5 + 0.1 * i, ci_low=0.4, ci_high=0.9)
            for i, k in enumerate(("1", "2", "3", "4", "all"))]
    table = rsd.table1(pd.DataFrame(rows), {"clahe": True})
    assert list(table.columns) == ["0vs1", "0vs2", "0vs3", "0vs4", "0 vs all"]
    assert table.loc["draem", "0 vs all"] == "0.900 [0.400, 0.900]"
    read_back = pd.DataFrame(rows).assign(variant=np.nan)  # an empty cell of a results CSV
    assert rsd.table1(read_back, {"clahe": True}).loc["draem", "0vs1"] == "0.500 [0.400, 0.900]"
    rows = [_row(table="t3", dataset="phantom_idrid", protocol="idrid_pixel",
                 method="resynthdetect", variant=v, metric="pix_auroc", value=0.7)
            for v in ("full", "loc_only")]
    table = rsd.ablation_table(pd.DataFrame(rows), ["loc_only", "full"],
                               idrid_options={"clahe": True})
    assert list(table.index) == ["loc_only", "full"]
    assert table.loc["full", "IDRiD AUROC"] == "0.700"
