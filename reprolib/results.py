"""Results in one tidy schema (DESIGN §6): one CSV row per measured number.

``results/<profile>/<notebook-stem>.csv``; writes are atomic (write aside, then rename) and a
rerun replaces its own rows (same key) while keeping the others.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    frame.to_csv(tmp, index=False)
    os.replace(tmp, path)


def write_rows(rows: Iterable[Mapping[str, Any]] | pd.DataFrame, notebook: str, profile: str,
               results: str | os.PathLike[str] | None = None) -> Path:
    """Merge ``rows`` into ``results/<profile>/<notebook>.csv`` atomically.

    Existing rows with the same :data:`KEY` are replaced; other rows are kept.
    """
    new = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    if new.empty:
        raise ResultsSchemaError(f"{notebook}: no result rows to write")
    new = validate(new, f"rows for {notebook}")
    path = results_dir(results) / profile / f"{notebook}.csv"
    if path.exists():
        old = validate(pd.read_csv(path, keep_default_na=False), str(path))
        new_keys = set(map(tuple, new[list(KEY)].astype(str).to_numpy()))
        keep = [tuple(k) not in new_keys for k in old[list(KEY)].astype(str).to_numpy()]
        new = pd.concat([old[keep], new], ignore_index=True)
    _atomic_write_csv(new, path)
    return path


def read_results(profile: str, results: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Every ``results/<profile>/*.csv`` in one DataFrame (empty with the schema if none)."""
    folder = results_dir(results) / profile
    frames = [validate(pd.read_csv(p, keep_default_na=False), str(p))
              for p in sorted(folder.glob("*.csv"))] if folder.exists() else []
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
