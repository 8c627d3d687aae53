"""Protocol names of changed-data rows, sub-class rows, and how the comparison treats them."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from reprolib import comparison
from reprolib.experiment import Evaluation, MethodSpec, load_for, record_subclasses, run_grid
from reprolib.methods import Scores
from reprolib.protocols import (
    is_paper_protocol,
    parse_protocol,
    protocol_name,
    subclass_protocol,
)
from reprolib.reported import load_paper_reported
from reprolib.results import COLUMNS, ResultRecorder


def test_protocol_names() -> None:
    assert protocol_name("image_level") == "image_level"
    assert protocol_name("image_level", {"dedup": True}) == "image_level_dedup"
    assert protocol_name("image_level", {"dedup": False, "n_train": 5}) == "image_level"
    assert protocol_name("image_level", {"standardize": True, "dedup": True, "clahe": True}) \
        == "image_level_dedup_clahe_std"
    # the paper's own preprocessing is no tag; leaving it out is one
    assert protocol_name("idrid_pixel", {"clahe": True}, {"clahe": True}) == "idrid_pixel"
    assert protocol_name("idrid_pixel", {}, {"clahe": True}) == "idrid_pixel_noclahe"
    assert subclass_protocol("image_level_dedup", "glioma") == "image_level_dedup:glioma"
    assert parse_protocol("image_level_dedup_std:Viral Pneumonia") == (
        "image_level", ("dedup", "std"), "Viral Pneumonia")
    assert parse_protocol("idrid_pixel_crops") == ("idrid_pixel_crops", (), "")
    assert is_paper_protocol("eyeq_0_vs_all") and is_paper_protocol("")
    assert not is_paper_protocol("image_level_dedup")
    assert not is_paper_protocol("image_level:virus")
    with pytest.raises(ValueError, match="subclass: expected a non-empty"):
        subclass_protocol("image_level", "")
    with pytest.raises(ValueError, match="without a sub-class"):
        protocol_name("image_level:virus", {"dedup": True})


def _toy(labels: list[int], subs: list[str], scores: list[float]) -> Evaluation:
    method = SimpleNamespace(data_spec=lambda: {"img_size": 32}, weights_used="random",
                             config=SimpleNamespace(epochs=3), fit_seconds=1.0)
    test = SimpleNamespace(labels=np.asarray(labels), sublabels=subs)
    return Evaluation(MethodSpec("ae"), "toy", 0, method, test,  # type: ignore[arg-type]
                      Scores(np.asarray(scores)), None, 0.5)


def test_subclass_rows_by_hand() -> None:
    ev = _toy([0, 0, 0, 1, 1, 1, 1], ["n", "n", "n", "glioma", "glioma", "meningioma",
                                        "meningioma"], [0, 1, 2, 3, 4, 0.5, 1.5])
    recorder = ResultRecorder(paper="heteroae", table="t1", notebook="x", profile="unit")
    rows = record_subclasses(recorder, ev, protocol="image_level")
    frame = recorder.frame()
    assert list(frame["protocol"]) == ["image_level:glioma", "image_level:meningioma"]
    assert list(frame["metric"]) == ["auroc", "auroc"]
    assert list(frame["threshold_policy"]) == ["none", "none"]
    # glioma above every normal; meningioma 0.5 beats 1 of 3 normals, 1.5 beats 2 of 3
    assert frame["value"].tolist() == pytest.approx([1.0, 0.5])
    assert frame["n_normal"].tolist() == [3, 3] and frame["n_abnormal"].tolist() == [2, 2]
    assert [r["protocol"] for r in rows] == list(frame["protocol"])


def test_no_subclass_rows_for_a_single_abnormal_class() -> None:
    recorder = ResultRecorder(paper="heteroae", table="t1", notebook="x", profile="unit")
    ev = _toy([0, 1, 1], ["NORMAL", "PNEUMONIA", "PNEUMONIA"], [0, 1, 2])
    assert record_subclasses(recorder, ev, protocol="image_level") == []
    assert recorder.frame().empty


def test_run_grid_rows_with_and_without_dedup_on_a_phantom() -> None:
    """Phantom chest X-rays carry bacteria/virus sub-labels: subclass rows for both data
    variants, one model (the training split is the same)."""
    recorder = ResultRecorder(paper="heteroae", table="t1", notebook="x", profile="unit")
    evs = run_grid(recorder, [{"method": "ae", "config": {"img_size": 32, "epochs": 1,
                                                          "batch_size": 8}}],
                   ["phantom_cxr"], seeds=[0],
                   dataset_options={"phantom_cxr": {"n_train": 12, "n_test": 10}},
                   policies=("best_f1",), protocol="image_level", device="cpu",
                   data_variants=[{}, {"dedup": True}])
    frame = recorder.frame()
    protocols = set(frame["protocol"])
    assert {"image_level", "image_level_dedup"} <= protocols
    subs = sorted(p for p in protocols if ":" in p)
    assert subs == ["image_level:bacteria", "image_level:virus", "image_level_dedup:bacteria",
                    "image_level_dedup:virus"]
    options = {"n_train": 12, "n_test": 10}
    assert load_for(evs[0].method, "phantom_cxr", "train", options=options) is load_for(
        evs[0].method, "phantom_cxr", "train", options={**options, "dedup": True})
    assert evs[1].test.fingerprint["options"]["dedup"] is True
    assert "dedup" not in evs[0].test.fingerprint["options"]


def test_comparison_keeps_changed_data_rows_apart() -> None:
    paper = load_paper_reported()
    key = dict(paper="heteroae", table="t1", dataset="kermany_cxr", method="ae",
               metric="auroc")
    assert len(paper[(paper[list(key)] == pd.Series(key)).all(axis=1)]) == 1

    def row(protocol: str, value: float) -> dict:
        base = {c: "" for c in COLUMNS}
        base.update(key, protocol=protocol, value=value, seed=0, threshold_policy="none",
                    profile="unit")
        return base

    only_changed = pd.DataFrame([row("image_level_dedup", 0.4), row("image_level:virus", 0.3)])
    out = comparison.compare(paper, only_changed)
    mine = out[(out["paper_dataset"] == "kermany_cxr") & (out["method"] == "ae")
               & (out["metric"] == "auroc") & (out["status"] != "ours only")]
    assert list(mine["status"]) == ["not run yet"]
    extra = out[out["status"] == "ours only"]
    assert set(extra["our_protocol"]) == {"image_level_dedup", "image_level:virus"}
    both = pd.DataFrame([row("image_level_dedup", 0.4), row("image_level", 0.7)])
    out = comparison.compare(paper, both)
    match = out[(out["paper_dataset"] == "kermany_cxr") & (out["method"] == "ae")
                & (out["metric"] == "auroc") & (out["status"] == "measured")]
    assert list(match["our_protocol"]) == ["image_level"] and match["our_mean"].iloc[0] == 0.7
    # an unrecorded protocol still matches a paper number of a single protocol
    out = comparison.compare(paper, pd.DataFrame([row("", 0.6)]))
    assert (out[(out["paper_dataset"] == "kermany_cxr") & (out["method"] == "ae")
                & (out["metric"] == "auroc")]["status"] == "measured").any()
