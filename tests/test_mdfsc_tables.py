"""MDFSC's table glue (reprolib.papers.mdfsc): rows land beside the paper's numbers in
99_comparison, Table 1's MDFSC model is the ``full`` model of Tables 2 and 3 in every profile,
loader labels and protocols per dataset, and the score cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from reprolib import comparison
from reprolib.experiment import MethodSpec
from reprolib.papers import mdfsc
from reprolib.reported import load_paper_reported
from reprolib.results import ResultRecorder

ROOT = Path(__file__).resolve().parents[1]
STEMS = {"t1": "mdfsc_t1_sota", "t2": "mdfsc_t2_features", "t3": "mdfsc_t3_recon_loss"}
PROFILES = ("smoke", "default", "paper")


def _params(table: str, profile: str) -> dict:
    return yaml.safe_load((ROOT / "params" / STEMS[table] / f"{profile}.yaml").read_text())


def _specs(table: str, params: dict) -> list[MethodSpec]:
    if table == "t1":
        items = mdfsc.t1_methods(params["BASELINES"], params["MDFSC_CONFIG"])
    else:
        items = mdfsc.variant_specs(table, params["MDFSC_CONFIG"], params["VARIANTS"],
                                    params.get("IMAGENET_BACKBONE", "vgg16"))
    return [MethodSpec.from_param(item) for item in items]


@pytest.mark.parametrize("profile", PROFILES)
def test_table1_mdfsc_is_the_full_model_of_tables_2_and_3(profile: str) -> None:
    """Same config => same cached model and scores (trained once for the three tables)."""
    configs = {t: _params(t, profile)["MDFSC_CONFIG"] for t in STEMS}
    assert configs["t1"] == configs["t2"] == configs["t3"]
    t1 = [s for s in _specs("t1", _params("t1", profile)) if s.method == "mdfsc"]
    for table in ("t2", "t3"):
        full = [s for s in _specs(table, _params(table, profile)) if s.variant == "full"]
        assert len(t1) == len(full) == 1 and full[0].config == t1[0].config
    datasets = {t: _params(t, profile)["DATASETS"] for t in STEMS}
    assert datasets["t1"] == datasets["t2"] == datasets["t3"]


def test_variant_configs() -> None:
    base = {"img_size": 160, "steps": 40, "dict_iter": 10}
    lite = mdfsc.variant_config("imagenet_features", base, "efficientnet_lite0")
    assert lite["features"] == "imagenet" and lite["imagenet_backbone"] == "efficientnet_lite0"
    assert lite["epochs"] == 0 and lite["steps"] == 0
    recon = mdfsc.variant_config("ae_recon_loss", base)
    assert recon == {"img_size": 160, "steps": 40, "scorer": "ae_recon_loss"}
    with pytest.raises(ValueError, match="unknown MDFSC variant"):
        mdfsc.variant_config("vgg", base)
    with pytest.raises(ValueError, match="table"):
        mdfsc.variant_specs("t1")


def test_loader_labels_and_protocols() -> None:
    options = mdfsc.with_loader_protocols(["phantom_eyeq", "idrid", "phantom_octid"],
                                          {"phantom_eyeq": {"n_train": 5}})
    assert options == {"phantom_eyeq": {"n_train": 5, "protocol": "mdfsc"},
                       "idrid": {"protocol": "mdfsc"}, "phantom_octid": {}}
    assert [mdfsc.protocol_of(d) for d in ("phantom_eyeq", "eyeq", "idrid", "phantom_octid")] \
        == ["eyeq_quality", "eyeq_quality", "image_level", "image_level"]
    with pytest.raises(ValueError, match="EyeQ, IDRiD and OCTID"):
        mdfsc.protocol_of("phantom_cxr")
    with pytest.raises(ValueError, match="loader protocol"):
        mdfsc.with_loader_protocols(["eyeq"], {"eyeq": {"protocol": "resynthdetect"}})


def test_rows_land_beside_the_papers_numbers(isolated_dirs: Path) -> None:
    """Every one of the paper's 54 numbers finds our row (paper, table, dataset, protocol,
    method, variant, metric), for the phantoms of `default` and the real sets of `paper`."""
    reported = load_paper_reported()
    reported = reported[reported["paper"] == "mdfsc"]
    assert len(reported) == 54
    for profile, datasets in (("default", ["phantom_eyeq", "phantom_idrid", "phantom_octid"]),
                              ("paper", ["eyeq", "idrid", "octid"])):
        frames = []
        for table in STEMS:
            recorder = ResultRecorder(paper="mdfsc", table=table, notebook=STEMS[table],
                                      profile=profile)
            for spec in _specs(table, _params(table, profile)):
                for dataset in datasets:
                    for metric in mdfsc.METRICS:
                        recorder.add(dataset=dataset, method=spec.method,
                                     variant=spec.variant, metric=metric, value=0.7,
                                     protocol=mdfsc.protocol_of(dataset), ci_low=0.6,
                                     ci_high=0.8)
            frames.append(recorder.frame())
        out = comparison.compare(reported, pd.concat(frames, ignore_index=True))
        paper_rows = out[out["paper_value"].notna()]
        assert len(paper_rows) == 54
        assert (paper_rows["status"] != comparison.NOT_RUN).all(), \
            paper_rows[paper_rows["status"] == comparison.NOT_RUN][
                ["table", "paper_dataset", "method", "variant", "metric"]]
        assert set(paper_rows["our_protocol"]) == {"eyeq_quality", "image_level"}


def test_score_cache_scores_once(isolated_dirs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from reprolib.methods.mean_intensity import method as mean_method

    options = {"phantom_octid": {"n_train": 6, "n_test": 6}}
    spec = {"method": "mean_intensity", "config": {"img_size": 32}}
    recorder = ResultRecorder(paper="mdfsc", table="t1", notebook="x", profile="smoke")
    first = mdfsc.run_table(recorder, [spec], ["phantom_octid"], seeds=[0],
                            dataset_options=options, device="cpu")[0]
    assert list(Path(first.method.cache_path).parent.glob("*.scores-*.npz"))

    def fail(*args, **kwargs):
        raise AssertionError("scored again")

    cls = type(first.method)
    assert cls.__module__ == mean_method.__name__
    monkeypatch.setattr(cls, "score", fail)
    second = mdfsc.run_table(recorder, [spec], ["phantom_octid"], seeds=[0],
                             dataset_options=options, device="cpu")[0]
    np.testing.assert_array_equal(second.scores.image, first.scores.image)
    assert second.score_seconds == pytest.approx(first.score_seconds)
    frame = recorder.frame()
    assert set(frame["protocol"]) >= {"image_level"}
    assert not frame["metric"].str.startswith("pix_").any()
