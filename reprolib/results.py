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
    "n_normal", "n_abnormal", "threshold_policy", "selection", "weights", "img_size", "epochs",
    "profile", "runtime_s", "code_version", "params_hash", "timestamp",
)
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
    return frame.loc[:, list(COLUMNS)]


def _atomic_write_csv(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
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
        validate(pd.read_csv(path, keep_default_na=False), str(path))
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
    frames = [validate(pd.read_csv(p, keep_default_na=False), str(p))
              for p in sorted(folder.glob("*.csv"))] if folder.exists() else []
    if not frames:
        return pd.DataFrame(columns=list(COLUMNS))
    frame = pd.concat(frames, ignore_index=True)
    frame["value"] = frame["value"].astype(float)
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
            epochs: int = 0, runtime_s: float = float("nan"), code_version: str = "") -> None:
        """Add one measured number."""
        self.rows.append({
            "paper": self.paper, "table": table or self.table, "dataset": dataset,
            "protocol": protocol, "method": method, "variant": variant, "seed": seed,
            "metric": metric, "value": float(value), "n_normal": n_normal,
            "n_abnormal": n_abnormal, "threshold_policy": threshold_policy,
            "selection": selection, "weights": weights, "img_size": img_size, "epochs": epochs,
            "profile": self.profile, "runtime_s": runtime_s, "code_version": code_version,
            "params_hash": self.params_hash,
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S"),
        })

    def add_metrics(self, metric_rows: Iterable[Mapping[str, Any]], **fields: Any) -> None:
        """Add rows ``{"metric", "value", "threshold_policy"}`` (from
        ``reprolib.metrics.evaluate_scores``) sharing ``fields``."""
        for row in metric_rows:
            self.add(metric=row["metric"], value=row["value"],
                     threshold_policy=row.get("threshold_policy", "none"), **fields)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=list(COLUMNS))

    def write(self) -> Path:
        """Merge the collected rows into ``results/<profile>/<notebook>.csv``."""
        return write_rows(self.frame(), self.notebook, self.profile, self.results)
