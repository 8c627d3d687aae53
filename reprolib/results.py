"""Results in one tidy schema (DESIGN §6): one CSV row per measured number.

``results/<profile>/<notebook-stem>.csv``; writes are atomic (write aside, then rename) and a
rerun replaces its own rows (same key) while keeping the others.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reprolib.atomic import exclusive, remove_stray_temps, sweep_stray_temps, temp_path
from reprolib.config import stable_hash
from reprolib.metrics import METRIC_NAMES
from reprolib.paths import results_dir

COLUMNS: tuple[str, ...] = (
    "paper", "table", "dataset", "protocol", "method", "variant", "seed", "metric", "value",
    "ci_low", "ci_high", "n_normal", "n_abnormal", "threshold_policy", "selection", "weights",
    "img_size", "epochs", "steps", "converged", "profile", "runtime_s", "code_version",
    "params_hash", "timestamp",
)
#: Values of the ``converged`` column: the rule of :mod:`reprolib.convergence` (``yes``,
#: ``not converged``, ``unknown`` under two epochs, ``n/a`` for a model that does not train or a
#: row about no model) and ``not recorded`` for rows written before the column existed.
NOT_RECORDED = "not recorded"
CONVERGED_VALUES: tuple[str, ...] = ("yes", "not converged", "unknown", "n/a", NOT_RECORDED)
#: A row is identified by these; a rerun replaces rows with the same key.
KEY: tuple[str, ...] = ("paper", "table", "dataset", "protocol", "method", "variant", "seed",
                        "metric", "threshold_policy", "profile")
PAPERS: tuple[str, ...] = ("anogan", "proxyano", "heteroae", "resynthdetect", "mdfsc", "reference")


class ResultsSchemaError(ValueError):
    """A results table that does not follow the schema of DESIGN §6."""


# What a results CSV's cells must hold (checked by :func:`read_csv_checked` for the columns of
# :data:`COLUMNS` only; every other column is text).
#: Whole numbers ("8" or "8.0").
INT_COLUMNS: frozenset[str] = frozenset({"seed", "n_normal", "n_abnormal", "img_size",
                                         "epochs", "steps"})
#: Real numbers ("nan" or empty only where optional).
FLOAT_COLUMNS: frozenset[str] = frozenset({"value", "runtime_s", "ci_low", "ci_high"})
#: Cells that may be empty (or NaN); every other cell must hold a value.
OPTIONAL_COLUMNS: frozenset[str] = frozenset({
    "dataset", "protocol", "variant", "selection", "weights", "runtime_s", "code_version",
    "params_hash", "timestamp", "ci_low", "ci_high", "steps", "converged"})
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S"


def _damaged(path: Path, line: int | None, what: str) -> ResultsSchemaError:
    where = f"{path}" if line is None else f"{path} line {line}"
    return ResultsSchemaError(f"{where}: {what}; this results file is damaged: repair it or "
                              "move it aside (a rerun does not overwrite it)")


def _check_cell(column: str, text: str) -> str | None:
    """What is wrong with one cell (None when it is fine)."""
    cell = text.strip()
    if cell == "" or (cell.lower() == "nan" and column in FLOAT_COLUMNS):
        if column in OPTIONAL_COLUMNS:
            return None
        return "expected a number" if column in INT_COLUMNS | FLOAT_COLUMNS else \
            "expected a value"
    if column in INT_COLUMNS:
        try:
            number = float(cell)
        except ValueError:
            return "expected a whole number"
        return None if math.isfinite(number) and number == int(number) else \
            "expected a whole number"
    if column in FLOAT_COLUMNS:
        try:
            number = float(cell)
        except ValueError:
            return "expected a number"
        return "expected a finite number" if column == "value" and math.isnan(number) else None
    if column == "timestamp":
        try:
            time.strptime(cell, TIMESTAMP_FORMAT)
        except ValueError:
            return "expected a time stamp like 2026-01-31T12:00:00"
    return None


def read_csv_checked(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read one results CSV, refusing a damaged one with its path and line.

    Checked: UTF-8 text, a header with exactly the columns of :data:`COLUMNS`, every row with
    one field per column, whole numbers / numbers / time stamps where the schema has them,
    no empty required cell, no two rows with the same :data:`KEY`. Returns the table (columns
    in schema order) as :func:`pandas.read_csv` reads it.
    """
    path = Path(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise _damaged(path, None, f"expected UTF-8 CSV text, found byte 0x{raw[err.start]:02x} "
                                   f"at offset {err.start}") from err
    if not text.strip():
        raise _damaged(path, None, f"expected a header line with columns {list(COLUMNS)}, "
                                   f"found an empty file")
    if "\x00" in text:
        raise _damaged(path, None, "expected CSV text, found NUL bytes")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    validate(pd.DataFrame(columns=header), str(path))  # missing / unknown columns
    if len(set(header)) != len(header):
        twice = sorted({c for c in header if header.count(c) > 1})
        raise _damaged(path, 1, f"expected each column once, found {twice} twice")
    seen: dict[tuple[str, ...], int] = {}
    key_index = [header.index(k) for k in KEY]
    cut = not text.endswith(("\n", "\r"))  # every writer ends the file with a line end
    for row in reader:
        line = reader.line_num
        if not row:
            continue
        if cut and reader.line_num == text.count("\n") + 1 and row[-1].strip() == "":
            raise _damaged(path, line, f"expected a value in column '{header[-1]}' of the last "
                                       f"row, found an empty cell and no line end (a cut row)")
        if len(row) != len(header):
            raise _damaged(path, line, f"expected {len(header)} fields (one per column), "
                                       f"found {len(row)} (a cut or shifted row)")
        for column, cell in zip(header, row):
            problem = _check_cell(column, cell)
            if problem:
                raise _damaged(path, line, f"column '{column}': {problem}, found {cell!r}")
        key = tuple(row[i] for i in key_index)
        if key in seen:
            shown = ", ".join(f"{k}={v!r}" for k, v in zip(KEY, key))
            raise _damaged(path, line, f"expected one row per key, found the key of line "
                                       f"{seen[key]} again ({shown})")
        seen[key] = line
    frame = pd.read_csv(io.StringIO(text), keep_default_na=False)
    return validate(frame, str(path))


def validate(frame: pd.DataFrame, source: str = "results") -> pd.DataFrame:
    """Check columns, metric names and values; return the frame with columns in schema order."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ResultsSchemaError(f"{source}: missing column '{missing[0]}'"
                                 f"{' (and ' + str(missing[1:]) + ')' if len(missing) > 1 else ''};"
                                 f" expected columns {list(COLUMNS)}")
    extra = [c for c in frame.columns if c not in COLUMNS]
    if extra:
        raise ResultsSchemaError(f"{source}: unknown column '{extra[0]}'; "
                                 f"expected columns {list(COLUMNS)}")
    bad = sorted(set(frame["metric"].astype(str)) - set(METRIC_NAMES))
    if bad:
        raise ResultsSchemaError(f"{source}: unknown metric name '{bad[0]}'; add it to "
                                 f"reprolib.metrics.names or use one of {list(METRIC_NAMES)}")
    values = pd.to_numeric(frame["value"], errors="coerce")
    if values.isna().any():
        row = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise ResultsSchemaError(f"{source}: row {row} has a non-numeric or NaN value "
                                 f"{frame['value'].iloc[row]!r} for metric "
                                 f"'{frame['metric'].iloc[row]}'")
    for low_high in ("ci_low", "ci_high"):
        raw = frame[low_high]
        blank = raw.isna() | raw.map(lambda v: isinstance(v, str) and v.strip() == "")
        bounds = pd.to_numeric(raw.where(~blank, np.nan), errors="coerce")
        bad_bound = bounds.isna() & ~blank
        if bad_bound.any():
            row = int(np.flatnonzero(bad_bound.to_numpy())[0])
            raise ResultsSchemaError(f"{source}: row {row} has a non-numeric {low_high} "
                                     f"{raw.iloc[row]!r}; expected a number or empty")
    flags = frame["converged"].fillna("").astype(str)
    bad_flag = ~flags.isin(CONVERGED_VALUES)
    if bad_flag.any():
        row = int(np.flatnonzero(bad_flag.to_numpy())[0])
        raise ResultsSchemaError(f"{source}: row {row} has converged={flags.iloc[row]!r}; "
                                 f"expected one of {list(CONVERGED_VALUES)}")
    return frame.loc[:, list(COLUMNS)]


def _atomic_write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write aside, then rename; temporary files of killed earlier writes are removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(f"results-{stable_hash(str(path.resolve()), 16)}"):
        remove_stray_temps(path)
        sweep_stray_temps(path.parent)
        tmp = temp_path(path, hidden=True)
        frame.to_csv(tmp, index=False)
        os.replace(tmp, path)


def write_rows(rows: Iterable[Mapping[str, Any]] | pd.DataFrame, notebook: str, profile: str,
               results: str | os.PathLike[str] | None = None) -> Path:
    """Merge ``rows`` into ``results/<profile>/<notebook>.csv`` atomically.

    Existing rows with the same :data:`KEY` are replaced; other rows are kept. A new row that
    equals the existing row of its key in every column but :data:`VOLATILE` (the rerun measured
    the same numbers with the same code) keeps the existing row, its runtime and timestamp
    included; when nothing changes the file is not rewritten, so a rerun that reproduces every
    value leaves a tracked results file byte for byte as it was.
    """
    new = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    if new.empty:
        raise ResultsSchemaError(f"{notebook}: no result rows to write")
    new = validate(new, f"rows for {notebook}")
    path = results_dir(results) / profile / f"{notebook}.csv"
    if path.exists():
        read_csv_checked(path)  # refuses a damaged file before anything is rewritten
        stored = pd.read_csv(path, dtype=str, keep_default_na=False)  # the cells as written
        text = _keep_identical(stored, _as_text(new))
        new_keys = set(map(tuple, text[list(KEY)].to_numpy()))
        keep = [tuple(k) not in new_keys for k in stored[list(KEY)].to_numpy()]
        new = pd.concat([stored[keep], text], ignore_index=True)
        if new.to_csv(index=False) == path.read_text(encoding="utf-8"):
            return path
    _atomic_write_csv(new, path)
    return path


#: Columns that differ between two runs measuring the same thing; ignored when deciding whether
#: a rerun's row is identical to the stored one.
VOLATILE: tuple[str, ...] = ("runtime_s", "timestamp")


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` as the exact cell texts its CSV would hold (for byte-stable comparisons)."""
    import io
    return pd.read_csv(io.StringIO(frame.to_csv(index=False)), dtype=str,
                       keep_default_na=False)


def _keep_identical(stored: pd.DataFrame, text: pd.DataFrame) -> pd.DataFrame:
    """``text`` (new rows as CSV text), each row replaced by the ``stored`` row of its key when
    the two agree in every column but :data:`VOLATILE`."""
    if list(stored.columns) != list(text.columns):
        return text
    same = [c for c in text.columns if c not in VOLATILE]
    by_key = {tuple(row[list(KEY)]): row for _, row in stored.iterrows()}
    rows = []
    for _, row in text.iterrows():
        old = by_key.get(tuple(row[list(KEY)]))
        rows.append(old if old is not None and (old[same] == row[same]).all() else row)
    return pd.DataFrame(rows, columns=text.columns).reset_index(drop=True)


def read_results(profile: str, results: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Every ``results/<profile>/*.csv`` in one DataFrame (empty with the schema if none)."""
    folder = results_dir(results) / profile
    frames = [read_csv_checked(p) for p in sorted(folder.glob("*.csv"))] \
        if folder.exists() else []
    if not frames:
        return pd.DataFrame(columns=list(COLUMNS))
    frame = pd.concat(frames, ignore_index=True)
    frame["value"] = frame["value"].astype(float)
    for column in ("ci_low", "ci_high"):
        frame[column] = pd.to_numeric(frame[column].replace("", np.nan), errors="coerce")
    return frame


@dataclasses.dataclass
class ResultRecorder:
    """Collects rows for one notebook run and writes them in one atomic step.

    Fields shared by every row of the run are set once; ``add`` takes what varies.
    """

    paper: str
    table: str
    notebook: str
    profile: str
    params_hash: str = ""
    results: str | os.PathLike[str] | None = None
    rows: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        if self.paper not in PAPERS:
            raise ValueError(f"paper: expected one of {list(PAPERS)}, got {self.paper!r}")

    def add(self, *, dataset: str, method: str, metric: str, value: float, seed: int = 0,
            table: str | None = None, protocol: str = "", variant: str = "",
            threshold_policy: str = "none", n_normal: int = 0, n_abnormal: int = 0,
            selection: str = "last_epoch", weights: str = "none", img_size: int = 0,
            epochs: int = 0, runtime_s: float = float("nan"), code_version: str = "",
            ci_low: float | None = None, ci_high: float | None = None,
            steps: int | None = None, converged: str = NOT_RECORDED) -> None:
        """Add one measured number.

        ``ci_low``/``ci_high``: its 95 % interval (None: the metric has none); ``steps``: the
        optimiser steps the model trained for (None: not known); ``converged``: one of
        :data:`CONVERGED_VALUES` (:func:`reprolib.convergence.convergence_flag`).
        """
        if converged not in CONVERGED_VALUES:
            raise ValueError(f"converged: expected one of {list(CONVERGED_VALUES)}, "
                             f"got {converged!r}")
        if (ci_low is None) != (ci_high is None):
            raise ValueError("ci_low and ci_high: give both or neither; found only "
                             f"{'ci_low' if ci_high is None else 'ci_high'}")
        self.rows.append({
            "paper": self.paper, "table": table or self.table, "dataset": dataset,
            "protocol": protocol, "method": method, "variant": variant, "seed": seed,
            "metric": metric, "value": float(value),
            "ci_low": np.nan if ci_low is None else float(ci_low),
            "ci_high": np.nan if ci_high is None else float(ci_high),
            "n_normal": n_normal, "n_abnormal": n_abnormal,
            "threshold_policy": threshold_policy, "selection": selection, "weights": weights,
            "img_size": img_size, "epochs": epochs,
            "steps": "" if steps is None else int(steps), "converged": converged,
            "profile": self.profile, "runtime_s": runtime_s, "code_version": code_version,
            "params_hash": self.params_hash,
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S"),
        })

    def add_metrics(self, metric_rows: Iterable[Mapping[str, Any]], **fields: Any) -> None:
        """Add rows ``{"metric", "value", "threshold_policy"[, "ci_low", "ci_high"]}`` (from
        ``reprolib.metrics.evaluate_scores``) sharing ``fields``."""
        for row in metric_rows:
            self.add(metric=row["metric"], value=row["value"],
                     threshold_policy=row.get("threshold_policy", "none"),
                     ci_low=row.get("ci_low"), ci_high=row.get("ci_high"), **fields)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=list(COLUMNS))

    def write(self) -> Path:
        """Merge the collected rows into ``results/<profile>/<notebook>.csv``."""
        return write_rows(self.frame(), self.notebook, self.profile, self.results)
