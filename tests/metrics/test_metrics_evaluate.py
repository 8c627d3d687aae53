"""evaluate_scores rows, metric names and the results schema."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from reprolib.metrics import (
    METRIC_DESCRIPTIONS,
    METRIC_NAMES,
    THRESHOLD_POLICIES,
    evaluate_scores,
    score_summary,
    thresholded_metrics,
)
from reprolib.reported import KNOWN_METRICS
from reprolib.results import ResultRecorder, read_results


def _by_key(rows: list[dict]) -> dict[tuple[str, str], float]:
    keys = [(row["metric"], row["threshold_policy"]) for row in rows]
    assert len(keys) == len(set(keys)), "duplicate (metric, policy) rows"
    return {(row["metric"], row["threshold_policy"]): row["value"] for row in rows}


def test_names_cover_the_papers_and_policies() -> None:
    assert THRESHOLD_POLICIES == ("best_f1", "youden", "normal_val", "given", "none")
    assert set(METRIC_NAMES) >= KNOWN_METRICS  # every metric of paper_reported.csv
    assert {"auroc_std", "pix_aupr_std"} <= set(METRIC_NAMES)
    assert set(METRIC_DESCRIPTIONS) == set(METRIC_NAMES)
    assert len(set(METRIC_NAMES)) == len(METRIC_NAMES)


def test_score_summary_gap() -> None:
    summary = score_summary([0, 0, 1, 1], [1.0, 2.0, 4.0, 6.0])
    assert summary == {"score_normal": 1.5, "score_abnormal": 5.0, "score_gap": 3.5}


def test_image_rows() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 60)
    scores = rng.integers(0, 5, 60) + labels
    val = rng.integers(0, 5, 20).astype(float)
    rows = evaluate_scores(labels, scores, policies=("best_f1", "youden", "normal_val"),
                           val_scores=val)
    values = _by_key(rows)
    with_ci = {"auroc", "ap"}
    assert all(set(row) == {"metric", "value", "threshold_policy"}
               | ({"ci_low", "ci_high"} if row["metric"] in with_ci else set()) for row in rows)
    assert all(isinstance(row["value"], float) for row in rows)
    assert {row["metric"] for row in rows} <= set(METRIC_NAMES)
    assert values["auroc", "none"] == pytest.approx(roc_auc_score(labels, scores))
    assert values["ap", "none"] == pytest.approx(average_precision_score(labels, scores))
    assert values["score_gap", "none"] == pytest.approx(
        scores[labels == 1].mean() - scores[labels == 0].mean())
    for policy in ("best_f1", "youden", "normal_val"):
        stats = thresholded_metrics(labels, scores, policy, val_scores=val)
        for name, value in stats.items():
            assert values[name, policy] == pytest.approx(value)
    assert not any(key[0].startswith("pix_") for key in values)


def test_normal_val_without_val_scores_is_skipped_with_a_warning() -> None:
    with pytest.warns(RuntimeWarning, match="normal_val' skipped"):
        rows = evaluate_scores([0, 1, 0, 1], [0.1, 0.6, 0.5, 0.9])
    assert {row["threshold_policy"] for row in rows} == {"none", "best_f1"}


def test_pixel_rows_given_and_youden() -> None:
    rng = np.random.default_rng(1)
    masks = np.zeros((4, 8, 8), dtype=np.uint8)
    masks[2:, 2:5, 2:5] = 1
    maps = (rng.integers(0, 4, masks.shape) + 2 * masks).astype(np.float32) / 5
    labels, scores = np.array([0, 0, 1, 1]), maps.max(axis=(1, 2))
    given = _by_key(evaluate_scores(labels, scores, policies=("best_f1",), maps=maps,
                                    masks=masks, pixel_threshold=0.5))
    assert given["pix_auroc", "none"] == pytest.approx(roc_auc_score(masks.ravel(), maps.ravel()))
    assert given["pix_aupr", "none"] == pytest.approx(
        average_precision_score(masks.ravel(), maps.ravel()))
    assert given["pix_threshold", "given"] == 0.5
    assert given["pix_acc", "given"] == pytest.approx(((maps >= 0.5) == masks).mean())
    youden = _by_key(evaluate_scores(labels, scores, policies=("best_f1",), maps=maps,
                                     masks=masks))
    assert {"pix_bacc", "pix_acc", "pix_f1", "pix_threshold"} == {
        metric for metric, policy in youden if policy == "youden"}
    assert youden["pix_bacc", "youden"] >= given["pix_bacc", "given"]


def test_rows_pass_the_results_schema(tmp_path) -> None:
    rows = evaluate_scores([0, 1, 0, 1, 1], [0.1, 0.6, 0.5, 0.9, 0.4], policies=("best_f1",))
    recorder = ResultRecorder(paper="reference", table="t0", notebook="metrics_test",
                              profile="smoke", results=tmp_path)
    recorder.add_metrics(rows, dataset="phantom_cxr", method="ae")
    recorder.write()
    frame = read_results("smoke", tmp_path)
    assert len(frame) == len(rows)
