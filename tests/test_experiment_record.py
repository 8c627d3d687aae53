"""experiment.record fills the evidence columns: intervals, epochs run, steps, convergence."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from tinydata import TinyDataset

from reprolib.convergence import convergence_flag
from reprolib.experiment import (
    Evaluation,
    MethodSpec,
    find_evaluation,
    record,
    run_grid,
    training_fields,
)
from reprolib.methods import create_method
from reprolib.results import ResultRecorder, read_results


@pytest.fixture
def evaluation() -> Evaluation:
    train, test = TinyDataset(n=8), TinyDataset(n=12, anomalous=6, seed=1)
    method = create_method("conv_ae", {"img_size": 32, "epochs": 3, "batch_size": 4},
                           device="cpu").fit(train)
    method.fit_seconds = 0.0
    return Evaluation(MethodSpec("conv_ae"), "tiny", 0, method, test, method.score(test), None,
                      0.0)


def test_rows_carry_intervals_epochs_steps_and_flag(evaluation: Evaluation, tmp_path) -> None:
    recorder = ResultRecorder(paper="reference", table="t0", notebook="unit", profile="unit",
                              results=tmp_path)
    record(recorder, evaluation, policies=("best_f1",))
    recorder.write()
    frame = read_results("unit", tmp_path).set_index(["metric", "threshold_policy"])
    history = evaluation.method.history
    assert (frame["epochs"] == len(history)).all()
    assert (frame["converged"] == convergence_flag(history)).all()
    for metric in ("auroc", "ap", "pix_auroc", "pix_aupr"):
        low, value, high = frame.loc[(metric, "none"), ["ci_low", "value", "ci_high"]]
        assert low <= value <= high
    assert np.isnan(frame.loc[("f1", "best_f1"), "ci_low"])
    expected_steps = history[-1].get("steps")
    steps = frame.loc[("auroc", "none"), "steps"]
    assert (str(steps) == "" if expected_steps is None else int(steps) == expected_steps)


def test_training_fields_rules(evaluation: Evaluation) -> None:
    method = evaluation.method
    method.history = [{"loss": 1.0 / (e + 1), "steps": 5 * (e + 1)} for e in range(20)]
    assert training_fields(method) == {"epochs": 20, "steps": 100,
                                       "converged": convergence_flag(method.history)}
    method.convergence_key = "other"
    method.history = [{"loss": 1.0, "other": 2.0 - e, "steps": e} for e in range(10)]
    assert training_fields(method)["converged"] == "not converged"
    del method.convergence_key
    method.history = []  # trained (config epochs 3) but nothing recorded
    assert training_fields(method) == {"epochs": 3, "steps": None, "converged": "unknown"}


def test_find_evaluation_matches_method_or_row_name_on_dataset_and_seed() -> None:
    """Figures of every paper pick their rows by method or by variant (MethodSpec.row_name)."""
    def ev(method: str, variant: str, dataset: str = "a", seed: int = 0) -> SimpleNamespace:
        return SimpleNamespace(spec=MethodSpec(method, {}, variant), dataset=dataset, seed=seed)

    plain, variant, other_seed = ev("ae", ""), ev("hetero_ae", "homo_cnn"), ev("vae", "", seed=1)
    evaluations = [other_seed, plain, variant]
    assert find_evaluation(evaluations, "a", "ae") is plain
    assert find_evaluation(evaluations, "a", "homo_cnn") is variant
    assert find_evaluation(evaluations, "a", "hetero_ae") is variant
    assert find_evaluation(evaluations, "a", "vae") is None
    assert find_evaluation(evaluations, "a", "vae", seed=1) is other_seed
    assert find_evaluation(evaluations, "b", "ae") is None
    assert MethodSpec("proxyano", {}, "encdec").row_name == "encdec"
    assert MethodSpec("ae").row_name == "ae"


def test_dataset_config_sets_a_row_config_per_dataset() -> None:
    """A method entry's ``dataset_config`` changes its config on the named dataset only (a
    training length per dataset); the rows record the length that ran there."""
    entry = {"method": "ae", "config": {"img_size": 32, "epochs": 1, "batch_size": 8},
             "dataset_config": {"phantom_brain": {"epochs": 2}}}
    spec = MethodSpec.from_param(entry)
    assert spec.config_for("phantom_brain")["epochs"] == 2
    assert spec.config_for("phantom_cxr") == entry["config"]
    recorder = ResultRecorder(paper="heteroae", table="t1", notebook="x", profile="unit")
    sizes = {"n_train": 8, "n_test": 10}
    evs = run_grid(recorder, [entry], ["phantom_cxr", "phantom_brain"], seeds=[0],
                   dataset_options={"phantom_cxr": sizes, "phantom_brain": sizes},
                   policies=("best_f1",), protocol="image_level", device="cpu",
                   subclasses=False)
    assert [ev.method.config.epochs for ev in evs] == [1, 2]
    frame = recorder.frame()
    assert frame.groupby("dataset")["epochs"].unique().map(list).to_dict() == {
        "phantom_cxr": [1], "phantom_brain": [2]}


def test_dataset_config_refuses_bad_entries() -> None:
    with pytest.raises(ValueError, match=r"dataset_config: expected a mapping of dataset name"):
        MethodSpec.from_param({"method": "ae", "dataset_config": {"phantom_brain": 600}})
    spec = MethodSpec.from_param({"method": "ae", "dataset_config": {"brain_mri": {}}})
    with pytest.raises(ValueError, match=r"names 'brain_mri', which is not one of the table's"):
        run_grid(ResultRecorder(paper="heteroae", table="t1", notebook="x", profile="unit"),
                 [spec], ["phantom_brain"], seeds=[0])
