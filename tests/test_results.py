"""Results schema, atomic writes, rerun replacement, reader (DESIGN §6)."""

from __future__ import annotations

import pandas as pd
import pytest

from reprolib.results import COLUMNS, ResultRecorder, ResultsSchemaError, read_results, write_rows


def _recorder(tmp_path, **kw) -> ResultRecorder:
    return ResultRecorder(paper="heteroae", table="t1", notebook="heteroae_t1_sota",
                          profile="smoke", results=tmp_path, **kw)


def test_write_and_read_back(tmp_path) -> None:
    rec = _recorder(tmp_path)
    rec.add(dataset="phantom_cxr", method="ae", metric="auroc", value=0.7, seed=0)
    rec.add(dataset="phantom_cxr", method="ae", metric="f1", value=0.6, seed=0,
            threshold_policy="best_f1")
    path = rec.write()
    assert path == tmp_path / "smoke" / "heteroae_t1_sota.csv"
    frame = read_results("smoke", tmp_path)
    assert list(frame.columns) == list(COLUMNS)
    assert sorted(frame["metric"]) == ["auroc", "f1"]
    assert not list(path.parent.glob(".*tmp*"))  # nothing left aside


def test_rerun_replaces_its_own_rows_and_keeps_others(tmp_path) -> None:
    rec = _recorder(tmp_path)
    rec.add(dataset="phantom_cxr", method="ae", metric="auroc", value=0.7)
    rec.add(dataset="phantom_cxr", method="vae", metric="auroc", value=0.8)
    rec.write()
    again = _recorder(tmp_path)
    again.add(dataset="phantom_cxr", method="ae", metric="auroc", value=0.9)
    again.write()
    frame = read_results("smoke", tmp_path).set_index("method")
    assert frame.loc["ae", "value"] == 0.9 and frame.loc["vae", "value"] == 0.8
    assert len(frame) == 2


def test_missing_column_is_named(tmp_path) -> None:
    folder = tmp_path / "smoke"
    folder.mkdir()
    pd.DataFrame({"paper": ["x"], "value": [1.0]}).to_csv(folder / "bad.csv", index=False)
    with pytest.raises(ResultsSchemaError, match="bad.csv: missing column 'table'"):
        read_results("smoke", tmp_path)


def test_unknown_metric_and_nan_value_rejected(tmp_path) -> None:
    rec = _recorder(tmp_path)
    rec.add(dataset="d", method="ae", metric="accuracyy", value=0.5)
    with pytest.raises(ResultsSchemaError, match="unknown metric name 'accuracyy'"):
        rec.write()
    rec = _recorder(tmp_path)
    rec.add(dataset="d", method="ae", metric="auroc", value=float("nan"))
    with pytest.raises(ResultsSchemaError, match="non-numeric or NaN value"):
        rec.write()


def test_unknown_paper_rejected(tmp_path) -> None:
    with pytest.raises(ValueError, match="paper: expected one of"):
        ResultRecorder(paper="anogann", table="t1", notebook="x", profile="smoke")


def test_empty_profile_reads_as_empty_frame(tmp_path) -> None:
    frame = read_results("nothing", tmp_path)
    assert frame.empty and list(frame.columns) == list(COLUMNS)


def test_write_rows_rejects_empty(tmp_path) -> None:
    with pytest.raises(ResultsSchemaError, match="no result rows"):
        write_rows([], "nb", "smoke", tmp_path)


def _one_run(tmp_path, value: float, runtime: float, stamp: str, code: str = "0.1.0+abc"):
    rec = _recorder(tmp_path)
    rec.add(dataset="phantom_cxr", method="ae", metric="auroc", value=value, runtime_s=runtime,
            code_version=code)
    rec.add(dataset="phantom_cxr", method="vae", metric="auroc", value=0.8, runtime_s=runtime,
            code_version=code)
    for row in rec.rows:
        row["timestamp"] = stamp
    return rec.write()


def test_rerun_with_identical_values_leaves_the_file_untouched(tmp_path) -> None:
    path = _one_run(tmp_path, 0.7, 12.5, "2026-01-01T00:00:00")
    before, mtime = path.read_bytes(), path.stat().st_mtime_ns
    _one_run(tmp_path, 0.7, 99.0, "2026-06-06T06:06:06")  # same numbers, new time and runtime
    assert path.read_bytes() == before
    assert path.stat().st_mtime_ns == mtime  # not even rewritten


def test_rerun_keeps_identical_rows_and_replaces_changed_ones(tmp_path) -> None:
    path = _one_run(tmp_path, 0.7, 12.5, "2026-01-01T00:00:00")
    _one_run(tmp_path, 0.75, 99.0, "2026-06-06T06:06:06")  # ae changed, vae did not
    frame = pd.read_csv(path).set_index("method")
    assert frame.loc["ae", "value"] == 0.75 and frame.loc["ae", "runtime_s"] == 99.0
    assert frame.loc["ae", "timestamp"] == "2026-06-06T06:06:06"
    assert frame.loc["vae", "runtime_s"] == 12.5  # the identical row kept as it was
    assert frame.loc["vae", "timestamp"] == "2026-01-01T00:00:00"
    # Same values from other code: the row carries the new code version.
    _one_run(tmp_path, 0.75, 5.0, "2026-07-07T07:07:07", code="0.1.0+def")
    frame = pd.read_csv(path).set_index("method")
    assert set(frame["code_version"]) == {"0.1.0+def"}
    assert frame.loc["vae", "timestamp"] == "2026-07-07T07:07:07"


def test_evidence_columns_round_trip_and_checks(tmp_path) -> None:
    rec = _recorder(tmp_path)
    rec.add(dataset="d", method="ae", metric="auroc", value=0.7, ci_low=0.6, ci_high=0.8,
            epochs=4, steps=40, converged="yes")
    rec.add(dataset="d", method="ae", metric="f1", value=0.6, threshold_policy="best_f1")
    rec.write()
    frame = read_results("smoke", tmp_path).set_index("metric")
    assert list(COLUMNS).index("ci_low") == list(COLUMNS).index("value") + 1
    assert list(COLUMNS).index("steps") == list(COLUMNS).index("epochs") + 1
    assert list(COLUMNS).index("converged") == list(COLUMNS).index("steps") + 1
    assert (frame.loc["auroc", "ci_low"], frame.loc["auroc", "ci_high"]) == (0.6, 0.8)
    assert frame.loc["auroc", "converged"] == "yes" and int(frame.loc["auroc", "steps"]) == 40
    assert pd.isna(frame.loc["f1", "ci_low"]) and frame.loc["f1", "converged"] == "not recorded"
    with pytest.raises(ValueError, match="converged: expected one of"):
        rec.add(dataset="d", method="ae", metric="auroc", value=0.7, converged="maybe")
    with pytest.raises(ValueError, match="give both or neither"):
        rec.add(dataset="d", method="ae", metric="auroc", value=0.7, ci_low=0.5)
    bad = rec.frame().assign(converged="perhaps")
    with pytest.raises(ResultsSchemaError, match="converged='perhaps'"):
        write_rows(bad, "nb", "smoke", tmp_path)
    bad = rec.frame().astype({"ci_low": object}).assign(ci_low="low")
    with pytest.raises(ResultsSchemaError, match="non-numeric ci_low 'low'"):
        write_rows(bad, "nb", "smoke", tmp_path)


def test_committed_results_follow_the_schema() -> None:
    from pathlib import Path
    root = Path(__file__).resolve().parents[1] / "results"
    for profile in sorted(p.name for p in root.iterdir() if p.is_dir() and p.name != "figures"):
        frame = read_results(profile, root)
        assert list(frame.columns) == list(COLUMNS), profile
