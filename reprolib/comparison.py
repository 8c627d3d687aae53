"""The papers' numbers beside ours: tables, figures and ``results/<profile>/comparison.md``.

For every paper table listed in :data:`reprolib.reported.PAPER_TABLES` this module matches each
transcribed number (``results/paper_reported.csv``) with our measurements of the same
(paper, table, method, variant, metric) on the dataset that stands in for the paper's one
(``reprolib.data.STANDS_IN_FOR``: a phantom imitates a real dataset; a real dataset stands for
itself), summarises ours as mean ± std over seeds, and gives the difference ours − paper.
Rows we have not measured read "not run yet"; our rows without a paper number are listed too.

Matching rules (documented in the report):

- dataset: the paper's dataset equals ``STANDS_IN_FOR.get(our_dataset, our_dataset)``; model-size
  metrics (parameters, FLOPs) ignore the dataset;
- protocol: the same protocol id if we recorded one; otherwise any of ours is accepted when the
  paper's table has a single protocol for that (dataset, method, variant, metric), except rows
  measured on changed data (``reprolib.protocols``: ``image_level_dedup``, ``image_level_std``,
  ``image_level:glioma``...): they match only a paper number of exactly their protocol, and
  otherwise are listed as ours only;
- threshold: the paper's policy if we measured it, else the first of
  ``best_f1, youden, given, normal_val, none`` that we have (the policy used is shown).

Evidence shown beside each number (issue 8):

- interval: our bootstrap 95 % interval of the test set (``ci_low``/``ci_high`` of the rows;
  with several seeds, the mean of the per-seed bounds). A paper number inside it is a
  ``tie`` (``agreement`` column): the test set cannot tell the two apart. Otherwise the
  difference is ``close`` (within :data:`CLOSE_TOLERANCE`) or ``far``;
- floors: the best trivial-baseline row (variant ``reference_floor``; ``reference_floor_features``
  as a second floor) of the same (paper, table, our dataset, metric, threshold policy), shown
  as a column and as lines in the figures: a method not above it does no better than a
  label-free trivial baseline;
- convergence: the ``converged`` flag of our rows; ``not converged`` (any seed) is marked.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from reprolib.paths import figures_dir, results_dir
from reprolib.plots import save
from reprolib.protocols import is_paper_protocol
from reprolib.reported import (
    FRACTION_METRICS,
    METHODS,
    MODEL_SIZE_METRICS,
    PAPER_TABLES,
    load_paper_reported,
    variant_words,
)

#: Used when ``reprolib.data`` (or its ``STANDS_IN_FOR``) is not importable.
FALLBACK_STANDS_IN_FOR: dict[str, str] = {
    "phantom_cxr": "kermany_cxr", "phantom_brain": "brain_tumor_mri", "phantom_oct": "oct2017",
    "phantom_covid": "covid19", "phantom_oct_flat": "anogan_clinical_oct",
    "phantom_eyeq": "eyeq", "phantom_idrid": "idrid", "phantom_octid": "octid",
}
#: Threshold policies tried, in order, when ours lacks the paper's own.
POLICY_FALLBACK: tuple[str, ...] = ("best_f1", "youden", "given", "normal_val", "none")
#: Metrics whose best value is the smallest (none in the papers' tables so far).
LOWER_IS_BETTER: frozenset[str] = frozenset()
#: A difference within this many units of a fraction metric counts as "close".
CLOSE_TOLERANCE = 0.05
NOT_RUN = "not run yet"
MEASURED = "measured"
#: A table counts as reproduced when every paper number has ours and this share of the
#: fraction metrics lies within CLOSE_TOLERANCE.
REPRODUCED_SHARE = 0.9
#: Our bookkeeping rows (the threshold a policy picked) are not compared with anything.
IGNORED_METRICS: frozenset[str] = frozenset({"threshold", "pix_threshold"})
#: Variants of the trivial-baseline rows (pixel-space floors; ImageNet-feature floors).
FLOOR_VARIANTS: tuple[str, ...] = ("reference_floor", "reference_floor_features")
TIE, CLOSE, FAR = "tie", "close", "far"

_KEY = ["paper", "table", "method", "variant", "metric"]


def stands_in_for() -> tuple[dict[str, str], bool]:
    """``(mapping phantom -> real dataset, True if the fallback mapping was used)``."""
    try:
        from reprolib.data import STANDS_IN_FOR
    except ImportError:
        return dict(FALLBACK_STANDS_IN_FOR), True
    return dict(STANDS_IN_FOR), False


def summarise_ours(results: pd.DataFrame, mapping: dict[str, str] | None = None) -> pd.DataFrame:
    """Our rows grouped over seeds: mean, std (ddof 1; NaN for one seed), seed list, counts."""
    mapping = stands_in_for()[0] if mapping is None else mapping
    required = ["paper", "table", "dataset", "protocol", "method", "variant", "seed", "metric",
                "value", "threshold_policy"]
    missing = [c for c in required if c not in results.columns]
    if missing:
        raise ValueError(f"results: missing column '{missing[0]}'; expected the schema of "
                         f"reprolib.results.COLUMNS")
    frame = results[~results["metric"].astype(str).isin(IGNORED_METRICS)].copy()
    for column in ["paper", "table", "dataset", "protocol", "method", "variant", "metric",
                   "threshold_policy"]:
        frame[column] = frame[column].fillna("").astype(str)
    frame["value"] = frame["value"].astype(float)
    for column in ["img_size", "epochs", "weights", "n_normal", "n_abnormal", "steps",
                   "converged"]:
        if column not in frame.columns:
            frame[column] = ""
    for column in ["ci_low", "ci_high"]:
        frame[column] = (pd.to_numeric(frame[column].replace("", np.nan), errors="coerce")
                         if column in frame.columns else np.nan)
    group = ["paper", "table", "dataset", "protocol", "method", "variant", "metric",
             "threshold_policy"]
    if frame.empty:
        columns = group + ["our_mean", "our_std", "n_seeds", "seeds", "img_size", "epochs",
                           "weights", "n_normal", "n_abnormal", "our_ci_low", "our_ci_high",
                           "steps", "converged", "derived_std", "paper_dataset"]
        return pd.DataFrame(columns=columns)

    def _join(values: pd.Series) -> str:
        return ",".join(sorted({str(v) for v in values if str(v) not in ("", "nan")}))

    summary = frame.groupby(group, sort=True).agg(
        our_mean=("value", "mean"),
        our_std=("value", lambda v: float(np.std(v, ddof=1)) if len(v) > 1 else np.nan),
        n_seeds=("seed", "nunique"),
        seeds=("seed", lambda v: ",".join(str(s) for s in sorted(set(v)))),
        img_size=("img_size", _join), epochs=("epochs", _join), weights=("weights", _join),
        n_normal=("n_normal", _join), n_abnormal=("n_abnormal", _join),
        our_ci_low=("ci_low", "mean"), our_ci_high=("ci_high", "mean"),
        steps=("steps", _join), converged=("converged", _join),
    ).reset_index()
    # The spread over seeds is itself a number the papers report ("± x" -> metric "<m>_std").
    spread = summary[summary["n_seeds"] > 1].copy()
    spread["metric"] = spread["metric"] + "_std"
    spread["our_mean"] = spread["our_std"]
    spread["our_std"] = np.nan
    spread[["our_ci_low", "our_ci_high"]] = np.nan
    spread["derived_std"] = True
    summary["derived_std"] = False
    summary = pd.concat([summary, spread], ignore_index=True)
    summary["paper_dataset"] = summary["dataset"].map(lambda d: mapping.get(d, d))
    return summary


def compare(reported: pd.DataFrame, ours: pd.DataFrame,
            mapping: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per paper number (per our dataset standing in for it), plus our unmatched rows.

    ``ours`` is a results frame (the schema of :mod:`reprolib.results`). Columns: the paper's
    keys, ``paper_value``, ``our_dataset``, ``our_protocol``, ``our_threshold_policy``,
    ``our_mean``, ``our_std``, ``n_seeds``, ``seeds``, ``difference`` (ours − paper) and
    ``status`` (``measured`` / ``not run yet`` / ``ours only``).
    """
    summary = summarise_ours(ours, mapping)
    paper = reported.reset_index(drop=True).copy()
    paper["row_id"] = np.arange(len(paper))
    paper = paper.rename(columns={"value": "paper_value", "dataset": "paper_dataset"})
    # Number of protocols the paper uses for the same (table, dataset, method, variant, metric).
    paper["n_protocols"] = paper.groupby(_KEY + ["paper_dataset"])["protocol"].transform(
        "nunique")
    ours_cols = summary.rename(columns={"dataset": "our_dataset", "protocol": "our_protocol",
                                        "threshold_policy": "our_threshold_policy",
                                        "paper_dataset": "our_paper_dataset"})
    pairs = paper.merge(ours_cols, on=_KEY, how="inner")
    if not pairs.empty:
        size_metric = pairs["metric"].isin(MODEL_SIZE_METRICS)
        same_dataset = pairs["our_paper_dataset"] == pairs["paper_dataset"]
        exact_protocol = pairs["our_protocol"] == pairs["protocol"]
        papers_own = pairs["our_protocol"].map(is_paper_protocol).astype(bool)
        pairs = pairs[(size_metric | same_dataset)
                      & (exact_protocol | ((pairs["n_protocols"] == 1) & papers_own))].copy()
        pairs["protocol_rank"] = np.where(pairs["our_protocol"] == pairs["protocol"], 0, 1)
        order = {p: i + 1 for i, p in enumerate(POLICY_FALLBACK)}
        pairs["policy_rank"] = [
            0 if ours_p == paper_p else order.get(ours_p, len(order) + 1)
            for ours_p, paper_p in zip(pairs["our_threshold_policy"], pairs["threshold_policy"])]
        pairs = (pairs.sort_values(["row_id", "our_dataset", "protocol_rank", "policy_rank"])
                 .drop_duplicates(["row_id", "our_dataset"]))
    matched_ids = set(pairs["row_id"]) if not pairs.empty else set()
    unmatched = paper[~paper["row_id"].isin(matched_ids)].copy()
    frames = [pairs, unmatched]
    out = pd.concat([f for f in frames if not f.empty], ignore_index=True) if (
        not pairs.empty or not unmatched.empty) else paper.iloc[0:0].copy()
    out["status"] = np.where(out.get("our_mean", pd.Series(np.nan, index=out.index)).notna(),
                             MEASURED, NOT_RUN)
    # Our rows that no paper number claimed.
    if not summary.empty:
        used = set()
        if not pairs.empty:
            used = set(map(tuple, pairs[["paper", "table", "our_dataset", "our_protocol",
                                         "method", "variant", "metric",
                                         "our_threshold_policy"]].to_numpy()))
        keys = summary[["paper", "table", "dataset", "protocol", "method", "variant", "metric",
                        "threshold_policy"]].to_numpy()
        # Unclaimed spreads over seeds are already shown as "± std" beside their metric.
        unclaimed = np.array([tuple(k) not in used for k in keys], dtype=bool)
        extra = summary[unclaimed & ~summary["derived_std"].to_numpy(dtype=bool)].rename(columns={
            "dataset": "our_dataset", "protocol": "our_protocol",
            "threshold_policy": "our_threshold_policy"})
        if not extra.empty:
            extra = extra.assign(protocol=extra["our_protocol"], paper_value=np.nan,
                                 threshold_policy="", status="ours only", source="")
            out = pd.concat([out, extra], ignore_index=True)
    for column in ["our_dataset", "our_protocol", "our_threshold_policy", "seeds", "source",
                   "img_size", "epochs", "weights", "steps", "converged"]:
        if column not in out.columns:
            out[column] = ""
        out[column] = out[column].fillna("")
    for column in ["our_mean", "our_std", "n_seeds", "our_ci_low", "our_ci_high"]:
        if column not in out.columns:
            out[column] = np.nan
    out["difference"] = out["our_mean"].astype(float) - out["paper_value"].astype(float)
    out["agreement"] = [agreement(p, d, lo, hi) for p, d, lo, hi in zip(
        out["paper_value"].astype(float), out["difference"], out["our_ci_low"].astype(float),
        out["our_ci_high"].astype(float))]
    out = add_floors(out, summary)
    columns = ["paper", "table", "paper_dataset", "protocol", "method", "variant", "metric",
               "threshold_policy", "paper_value", "our_dataset", "our_protocol",
               "our_threshold_policy", "our_mean", "our_std", "our_ci_low", "our_ci_high",
               "n_seeds", "seeds", "difference", "agreement", "status", "img_size", "epochs",
               "steps", "converged", "weights", "source", *FLOOR_COLUMNS]
    # The paper's own row order (as transcribed), our extra rows last.
    out["_order"] = out["row_id"].fillna(np.inf) if "row_id" in out.columns else np.inf
    out = out.sort_values(["paper", "table", "_order", "our_dataset", "our_protocol", "metric",
                           "method", "variant", "our_threshold_policy"], kind="stable")
    out = out.reindex(columns=columns).reset_index(drop=True)
    out["paper_dataset"] = out["paper_dataset"].fillna("")
    return out


def agreement(paper_value: float, difference: float, ci_low: float, ci_high: float) -> str:
    """``tie`` when the paper's value lies inside our interval, else ``close`` (|difference|
    within :data:`CLOSE_TOLERANCE`) or ``far``; ``""`` when either number is missing."""
    if np.isnan(paper_value) or np.isnan(difference):
        return ""
    if not np.isnan(ci_low) and not np.isnan(ci_high) and ci_low <= paper_value <= ci_high:
        return TIE
    return CLOSE if abs(difference) <= CLOSE_TOLERANCE else FAR


#: Columns :func:`add_floors` adds: per floor variant, the best floor's value and method.
FLOOR_COLUMNS: tuple[str, ...] = tuple(
    f"{v}_{part}" for v in FLOOR_VARIANTS for part in ("value", "method"))


def best_floors(summary: pd.DataFrame) -> pd.DataFrame:
    """The best floor row per (paper, table, dataset, metric, threshold policy, floor variant):
    columns ``paper, table, dataset, metric, threshold_policy, variant, value, method``."""
    keys = ["paper", "table", "dataset", "metric", "threshold_policy", "variant"]
    floors = summary[summary["variant"].isin(FLOOR_VARIANTS)
                     & ~summary["derived_std"].astype(bool)]
    if floors.empty:
        return pd.DataFrame(columns=keys + ["value", "method"])
    sign = np.where(floors["metric"].isin(LOWER_IS_BETTER), -1.0, 1.0)
    floors = floors.assign(_rank=sign * floors["our_mean"].astype(float))
    best = floors.sort_values("_rank", ascending=False, kind="stable").drop_duplicates(keys)
    return best.rename(columns={"our_mean": "value"})[keys + ["value", "method"]]


def add_floors(compared: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """``compared`` with the best floor of each row's (paper, table, our dataset, metric, our
    threshold policy) in ``<floor variant>_value`` / ``<floor variant>_method``."""
    out = compared.copy()
    for column in FLOOR_COLUMNS:
        out[column] = np.nan if column.endswith("_value") else ""
    best = best_floors(summary) if not summary.empty else pd.DataFrame()
    if best.empty or out.empty:
        return out
    for variant in FLOOR_VARIANTS:
        part = best[best["variant"] == variant].drop(columns="variant").rename(columns={
            "dataset": "our_dataset", "threshold_policy": "our_threshold_policy",
            "value": f"{variant}_value", "method": f"{variant}_method"})
        keys = ["paper", "table", "our_dataset", "metric", "our_threshold_policy"]
        merged = out.drop(columns=[f"{variant}_value", f"{variant}_method"]).merge(
            part, on=keys, how="left")
        out[f"{variant}_value"] = merged[f"{variant}_value"].to_numpy()
        out[f"{variant}_method"] = merged[f"{variant}_method"].fillna("").to_numpy()
    return out


def _same_best(rows: pd.DataFrame) -> tuple[int, int]:
    """Groups (dataset, protocol, metric) with >= 2 compared rows, and how many of them have the
    same best row in the paper and in ours."""
    both = rows[(rows["status"] == MEASURED) & rows["metric"].isin(FRACTION_METRICS)]
    groups = same = 0
    for _, group in both.groupby(["paper_dataset", "protocol", "metric", "our_dataset"]):
        group = group.drop_duplicates(["method", "variant"])
        if len(group) < 2:
            continue
        sign = -1.0 if group["metric"].iloc[0] in LOWER_IS_BETTER else 1.0
        groups += 1
        paper_best = (sign * group["paper_value"]).idxmax()
        our_best = (sign * group["our_mean"]).idxmax()
        same += int(paper_best == our_best)
    return groups, same


def table_summary(compared: pd.DataFrame) -> pd.DataFrame:
    """Per paper table: numbers in the paper, how many we measured, how closely, and a verdict
    (``reproduced`` only when every number is measured and most lie within the tolerance)."""
    rows = []
    for (paper, table), entry in PAPER_TABLES.items():
        part = compared[(compared["paper"] == paper) & (compared["table"] == table)]
        claimed = part[part["status"] != "ours only"]
        n_paper = int(claimed.drop_duplicates(
            ["paper_dataset", "protocol", "method", "variant", "metric"]).shape[0])
        done = claimed[claimed["status"] == MEASURED]
        n_done = int(done.drop_duplicates(
            ["paper_dataset", "protocol", "method", "variant", "metric"]).shape[0])
        fractions = done[done["metric"].isin(FRACTION_METRICS)]
        diff = fractions["difference"].abs()
        # A tie (the paper's number inside our interval) counts as close; a degenerate
        # threshold never does.
        near = is_close(fractions) | (fractions["agreement"] == TIE) & ~(
            fractions["degenerate"].astype(bool) if "degenerate" in fractions.columns
            else False)
        within = float(near.mean()) if len(diff) else np.nan
        floor = part[f"{FLOOR_VARIANTS[0]}_value"].astype(float)
        with_floor = part[(part["status"] != NOT_RUN) & floor.notna()
                          & ~part["variant"].isin(FLOOR_VARIANTS)]
        above = int((with_floor["our_mean"].astype(float)
                     > with_floor[f"{FLOOR_VARIANTS[0]}_value"].astype(float)).sum())
        groups, same = _same_best(part)
        rows.append({
            "paper": paper, "table": table, "title": entry.title, "notebook": entry.notebook,
            "paper_numbers": n_paper, "measured": n_done,
            "coverage": n_done / n_paper if n_paper else np.nan,
            "mean_abs_diff": float(diff.mean()) if len(diff) else np.nan,
            "within_tol": within,
            "same_best": f"{same}/{groups}" if groups else "",
            "verdict": _verdict(n_paper, n_done, within,
                                bool((done["our_dataset"] == done["paper_dataset"]).all())),
            "ours_only": int((part["status"] == "ours only").sum()),
            "ties": int((fractions["agreement"] == TIE).sum()),
            "above_floor": f"{above}/{len(with_floor)}" if len(with_floor) else "",
            "not_converged": int(part["converged"].astype(str).str.contains(
                "not converged").sum()),
            "our_datasets": ",".join(sorted(set(done["our_dataset"]) - {""})),
            "seeds": seed_counts(done),
        })
    return pd.DataFrame(rows)


ONE_SEED = "one seed"
DEGENERATE_NOTE = (
    "**degenerate**: the threshold classifies every test image of the run alike (sensitivity 1 "
    "and specificity 0: all called abnormal, or the reverse); the thresholded metrics of that "
    "run then reflect the class balance, not the method, and never count as close.")


def degenerate_keys(ours: pd.DataFrame) -> dict[tuple[str, ...], tuple[int, int]]:
    """Runs whose threshold classifies every test image alike, from their ``sen`` and ``spe``
    rows: ``{(paper, table, dataset, protocol, method, variant, threshold_policy): (degenerate
    seeds, seeds)}`` for the keys with at least one such seed."""
    if ours.empty or not {"sen", "spe"} <= set(ours["metric"].astype(str)):
        return {}
    key = ["paper", "table", "dataset", "protocol", "method", "variant", "threshold_policy"]
    frame = ours[ours["metric"].isin(["sen", "spe"])].copy()
    for column in key:
        frame[column] = frame[column].fillna("").astype(str)
    wide = frame.pivot_table(index=key + ["seed"], columns="metric", values="value",
                             aggfunc="first").dropna()
    alike = ((wide["sen"] == 1.0) & (wide["spe"] == 0.0)) | (
        (wide["sen"] == 0.0) & (wide["spe"] == 1.0))
    counts = alike.groupby(level=key).agg(["sum", "size"])
    return {tuple(k): (int(n), int(m)) for k, (n, m) in counts.iterrows() if n > 0}


def flag_degenerate(compared: pd.DataFrame, ours: pd.DataFrame) -> pd.DataFrame:
    """``compared`` with a boolean column ``degenerate``: a thresholded metric measured at a
    threshold that, for at least one seed, called every test image abnormal (or every one
    normal); see :func:`degenerate_keys`."""
    from reprolib.metrics import THRESHOLDED_METRICS
    found = degenerate_keys(ours)
    out = compared.copy()
    keys = zip(out["paper"], out["table"], out["our_dataset"], out["our_protocol"],
               out["method"], out["variant"], out["our_threshold_policy"])
    out["degenerate"] = [tuple(str(v) for v in k) in found and metric in THRESHOLDED_METRICS
                         for k, metric in zip(keys, out["metric"])]
    return out


def is_close(rows: pd.DataFrame) -> pd.Series:
    """Within ``CLOSE_TOLERANCE`` of the paper, and not :func:`flag_degenerate`'d."""
    close = rows["difference"].abs() <= CLOSE_TOLERANCE
    if "degenerate" in rows.columns:
        close &= ~rows["degenerate"].astype(bool)
    return close


def mark_one_seed(compared: pd.DataFrame) -> pd.DataFrame:
    """A paper's spread row (``<metric>_std``) that we could not measure because the metric ran
    with one seed gets status ``one seed`` (not "not run yet"): the metric was measured, a
    spread needs two seeds or more."""
    out = compared.copy()
    measured = out[(out["status"] == MEASURED) & (out["n_seeds"] == 1)]
    single = set(zip(measured["paper"], measured["table"], measured["paper_dataset"],
                     measured["protocol"], measured["method"], measured["variant"],
                     measured["metric"]))
    is_std = out["metric"].astype(str).str.endswith("_std") & (out["status"] == NOT_RUN)
    for i in out.index[is_std]:
        row = out.loc[i]
        if (row["paper"], row["table"], row["paper_dataset"], row["protocol"], row["method"],
                row["variant"], row["metric"][:-len("_std")]) in single:
            out.loc[i, "status"] = ONE_SEED
    return out


def seed_counts(rows: pd.DataFrame) -> str:
    """How many seeds the measured rows ran with: "1", "5", or a range "1-5"."""
    counts = sorted({int(n) for n in rows.get("n_seeds", pd.Series(dtype=float)).dropna()})
    if not counts:
        return ""
    return str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"


def weights_line(rows: pd.DataFrame) -> str:
    """"Weights: `ae`, `vae`: none; `mkd`: random (imagenet unavailable)." for the measured rows
    of one table (what each method's backbone started from in our runs)."""
    measured = rows[(rows["status"] != NOT_RUN) & (rows["weights"].astype(str) != "")]
    by_weights: dict[str, set[str]] = {}
    for method, weights in zip(measured["method"], measured["weights"].astype(str)):
        for value in weights.split(","):
            if value not in ("", "n/a"):
                by_weights.setdefault(value, set()).add(str(method))
    if not by_weights:
        return ""
    parts = []
    for value, methods in sorted(by_weights.items()):
        shown = f"**{value}**" if value.startswith("random") else (
            "none (trained from scratch)" if value == "none" else value)
        parts.append(", ".join(f"`{m}`" for m in sorted(methods)) + f": {shown}")
    return "Weights our runs started from: " + "; ".join(parts) + "."


def random_weight_methods(compared: pd.DataFrame) -> list[str]:
    """Methods with a measured row that ran on random weights where pretrained ones were meant
    (``weights`` starting with "random")."""
    rows = compared[compared["status"] == MEASURED]
    return sorted({str(m) for m, w in zip(rows["method"], rows["weights"].astype(str))
                   if "random" in w})


def _verdict(n_paper: int, n_measured: int, within_tol: float, on_paper_data: bool) -> str:
    """``reproduced`` (every paper number measured on the paper's own datasets and a share
    ``REPRODUCED_SHARE`` of the fraction metrics close), ``close on stand-in data`` (the same on
    phantoms: the method works, the paper's number is not checked), ``not reproduced``,
    ``partly measured``, ``not run yet``, or ``""`` when the paper gives no numbers."""
    if n_paper == 0:
        return ""
    if n_measured == 0:
        return NOT_RUN
    if n_measured < n_paper:
        return "partly measured"
    if not within_tol >= REPRODUCED_SHARE:          # NaN (no fraction metric) fails too
        return "not reproduced"
    return "reproduced" if on_paper_data else "close on stand-in data"


def _fmt(value: float, metric: str = "") -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if metric in MODEL_SIZE_METRICS:
        return f"{value:.2f}"
    return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"


def _fmt_ours(row: pd.Series) -> str:
    if row["status"] in (NOT_RUN, ONE_SEED):
        return row["status"]
    text = _fmt(row["our_mean"], row["metric"])
    if not np.isnan(row["our_std"]):
        text += f" ± {_fmt(row['our_std'], row['metric'])}"
    low, high = float(row.get("our_ci_low", np.nan)), float(row.get("our_ci_high", np.nan))
    if not np.isnan(low) and not np.isnan(high):
        text += f" [{_fmt(low, row['metric'])}, {_fmt(high, row['metric'])}]"
    text += f" (n={int(row['n_seeds'])})"
    if "not converged" in str(row.get("converged", "")):
        text += " **not converged**"
    if bool(row.get("degenerate", False)):
        text += " **degenerate**"
    return text


def ours_axis_label(rows: pd.DataFrame) -> str:
    """What the y values (and error bars) of our points are: "ours (one seed; bars: bootstrap
    95 % CI)" or "ours (mean over 5 seeds; bars: std)". Bars are the bootstrap interval where the
    rows have one, else the std over seeds (drawn only for two seeds or more)."""
    counts = seed_counts(rows)
    has_ci = "our_ci_low" in rows.columns and bool(rows["our_ci_low"].notna().any())
    if counts in ("", "1"):
        return "ours (one seed; bars: bootstrap 95 % CI)" if has_ci else "ours (one seed)"
    bars = "mean bootstrap 95 % CI" if has_ci else "std"
    return f"ours (mean over {counts} seeds; bars: {bars})"


def figure_title(rows: pd.DataFrame, paper: str, table: str) -> str:
    """"heteroae t2: paper vs ours on phantom_brain, phantom_cxr (+ model size)"."""
    datasets = sorted(set(rows["our_dataset"].astype(str)) - {""})
    size = bool(rows["metric"].isin(MODEL_SIZE_METRICS).any())
    text = f"{paper} {table}: paper vs ours"
    if datasets:
        text += " on " + ", ".join(datasets)
    return text + (" (+ model size)" if size and datasets else " (model size)" if size else "")


def _fmt_floor(row: pd.Series, variant: str) -> str:
    value = float(row.get(f"{variant}_value", np.nan))
    if np.isnan(value):
        return ""
    return f"{_fmt(value, row['metric'])} ({row[f'{variant}_method']})"


def _floor_columns(rows: pd.DataFrame) -> dict[str, list[str]]:
    """Markdown columns of the best floors, only for floor variants that have a value."""
    out = {}
    for variant, title in zip(FLOOR_VARIANTS, ("best floor", "best feature floor")):
        if rows[f"{variant}_value"].notna().any():
            out[title] = [_fmt_floor(r, variant) for _, r in rows.iterrows()]
    return out


def figure_for_table(compared: pd.DataFrame, paper: str, table: str, *,
                     path: str | os.PathLike[str] | None = None) -> Figure | None:
    """Scatter of paper vs ours (mean ± std over seeds) for one table; ``None`` if nothing was
    run. Fraction metrics share one panel with the diagonal; other metrics get their own."""
    part = compared[(compared["paper"] == paper) & (compared["table"] == table)
                    & (compared["status"] == MEASURED)]
    if part.empty:
        return None
    panels: list[tuple[str, pd.DataFrame]] = []
    fractions = part[part["metric"].isin(FRACTION_METRICS)]
    if not fractions.empty:
        panels.append(("fraction metrics", fractions))
    is_std = part["metric"].str.endswith("_std")
    if is_std.any():
        panels.append(("spread over seeds (std)", part[is_std]))
    rest = part[~part["metric"].isin(FRACTION_METRICS) & ~is_std]
    for metric, group in rest.groupby("metric"):
        panels.append((metric, group))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.2), squeeze=False)
    markers = "osD^v<>pPX*h"
    # One colour per row and one marker per metric across all panels; one legend beside them.
    labels = sorted(set(zip(part["method"], part["variant"])))
    cmap = plt.get_cmap("tab20" if len(labels) > 10 else "tab10")
    colour = {key: cmap(i % cmap.N) for i, key in enumerate(labels)}
    all_metrics = sorted(set(part["metric"]))
    marker = {m: markers[j % len(markers)] for j, m in enumerate(all_metrics)}
    hollow_any = False
    for ax, (name, group) in zip(axes[0], panels):
        for (method, variant, metric), sel in group.groupby(["method", "variant", "metric"]):
            hollow = (sel["degenerate"].astype(bool) if "degenerate" in sel.columns
                      else pd.Series(False, index=sel.index))
            hollow_any |= bool(hollow.any())
            for flag, rows in ((False, sel[~hollow]), (True, sel[hollow])):
                if rows.empty:
                    continue
                ax.errorbar(rows["paper_value"], rows["our_mean"], yerr=error_bars(rows),
                            fmt=marker[metric], color=colour[(method, variant)], ms=5,
                            capsize=2, alpha=0.85,
                            mfc="none" if flag else colour[(method, variant)])
        lo = float(np.nanmin(np.r_[group["paper_value"], group["our_mean"]]))
        hi = float(np.nanmax(np.r_[group["paper_value"], group["our_mean"]]))
        if name == "fraction metrics":
            lo, hi = min(lo, 0.4), 1.0
        pad = 0.03 * (hi - lo if hi > lo else 1.0)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="grey", lw=0.8, ls="--")
        if name == "fraction metrics":
            _floor_lines(ax, group)
        ax.set(xlim=(lo - pad, hi + pad), ylim=(lo - pad, hi + pad), xlabel="paper",
               ylabel=ours_axis_label(group), title=name)
    handles = [plt.Line2D([], [], ls="", marker="o", color=colour[key],
                          label=f"{key[0]}{'/' + key[1] if key[1] else ''}") for key in labels]
    if len(all_metrics) > 1:
        handles += [plt.Line2D([], [], ls="", marker=marker[m], color="grey", label=m)
                    for m in all_metrics]
    if hollow_any:
        handles.append(plt.Line2D([], [], ls="", marker="o", mfc="none", color="grey",
                                  label="hollow: degenerate\nthreshold"))
    floors = {label: handle for ax in axes[0]
              for handle, label in zip(*ax.get_legend_handles_labels())}
    handles += [plt.Line2D([], [], ls=h.get_linestyle(), color=h.get_color(), label=label)
                for label, h in floors.items()]
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8,
               frameon=False)
    fig.suptitle(figure_title(part, paper, table), fontsize=10)
    fig.tight_layout()
    return save(fig, path)


def error_bars(rows: pd.DataFrame) -> np.ndarray:
    """``(2, n)`` lower/upper error-bar lengths: our bootstrap 95 % interval where the rows
    have one, else ± the std over seeds (0 without either)."""
    mean = rows["our_mean"].astype(float).to_numpy()
    low = rows["our_ci_low"].astype(float).to_numpy() if "our_ci_low" in rows else \
        np.full(len(rows), np.nan)
    high = rows["our_ci_high"].astype(float).to_numpy() if "our_ci_high" in rows else \
        np.full(len(rows), np.nan)
    std = rows["our_std"].astype(float).fillna(0.0).to_numpy()
    has_ci = ~np.isnan(low) & ~np.isnan(high)
    below = np.where(has_ci, mean - low, std)
    above = np.where(has_ci, high - mean, std)
    return np.vstack([np.clip(below, 0, None), np.clip(above, 0, None)])


def _floor_lines(ax: plt.Axes, rows: pd.DataFrame) -> None:
    """Horizontal lines at the best floors of ``rows``' datasets (AUROC if measured, else the
    first metric with a floor)."""
    styles = {FLOOR_VARIANTS[0]: "-.", FLOOR_VARIANTS[1]: ":"}
    for dataset, group in rows.groupby("our_dataset"):
        for variant in FLOOR_VARIANTS:
            with_floor = group[group[f"{variant}_value"].notna()]
            if with_floor.empty:
                continue
            auroc = with_floor[with_floor["metric"] == "auroc"]
            pick = (auroc if not auroc.empty else with_floor).iloc[0]
            words = "best floor" if variant == FLOOR_VARIANTS[0] else "best feature floor"
            ax.axhline(float(pick[f"{variant}_value"]), color="dimgrey", lw=0.9,
                       ls=styles[variant],
                       label=f"{words} {pick['metric']} {dataset}: "
                             f"{float(pick[f'{variant}_value']):.3f}")


def overview_figure(compared: pd.DataFrame, *,
                    path: str | os.PathLike[str] | None = None) -> Figure:
    """All compared fraction metrics of every table, paper vs ours, coloured by paper."""
    part = compared[(compared["status"] == MEASURED)
                    & compared["metric"].isin(FRACTION_METRICS)]
    fig, ax = plt.subplots(figsize=(5.2, 4.8))
    flagged = (part["degenerate"].astype(bool) if "degenerate" in part.columns
               else pd.Series(False, index=part.index))
    for i, (paper, group) in enumerate(part.groupby("paper")):
        colour = plt.get_cmap("tab10")(i)
        hollow = flagged.loc[group.index]
        for flag, rows in ((False, group[~hollow]), (True, group[hollow])):
            if rows.empty:
                continue
            ax.errorbar(rows["paper_value"], rows["our_mean"], yerr=error_bars(rows), fmt="o",
                        ms=3.5, alpha=0.7, elinewidth=0.7, capsize=0, color=colour,
                        mfc="none" if flag else colour,
                        label=None if flag else f"{paper} ({len(group)})")
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    ax.fill_between([0, 1], [-CLOSE_TOLERANCE, 1 - CLOSE_TOLERANCE],
                    [CLOSE_TOLERANCE, 1 + CLOSE_TOLERANCE], color="grey", alpha=0.12, lw=0,
                    label=f"within ±{CLOSE_TOLERANCE}")
    if flagged.any():
        ax.scatter([], [], s=14, facecolors="none", edgecolors="grey",
                   label="hollow: degenerate threshold")
    ax.set(xlim=(0, 1.01), ylim=(0, 1.01), xlabel="paper",
           ylabel=ours_axis_label(part),
           title="every measured paper number (fraction metrics)")
    if len(part):
        ax.legend(fontsize=8, loc="upper left")
    else:
        ax.text(0.5, 0.5, NOT_RUN, ha="center", va="center", color="grey")
    return save(fig, path)


def _md_table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "_(none)_\n"
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(str(v).replace("|", "/") for v in row) + " |"
            for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


def _method_label(method: str, variant: str, paper: str, table: str) -> str:
    label = f"`{method}`" if method in METHODS else method
    return f"{label} / `{variant}`" if variant else label


def render_markdown(compared: pd.DataFrame, summary: pd.DataFrame, *, profile: str,
                    fallback_mapping: bool, mapping: dict[str, str],
                    figures: dict[tuple[str, str], str]) -> str:
    """The comparison report as markdown."""
    lines = [
        f"# Paper vs reproduction — profile `{profile}`",
        "",
        "Generated by `notebooks/99_comparison.ipynb` (undated, so that a rerun with the same "
        "numbers leaves this file unchanged) from `results/paper_reported.csv` and "
        f"`results/{profile}/*.csv`.",
        "",
        "Ours = mean ± std over seeds (std with ddof 1; n = number of seeds; a spread row reads "
        f"'{ONE_SEED}' when the metric ran with a single seed) [bootstrap 95 % "
        "interval of the test set: stratified, 1,000 resamples; with several seeds the mean of "
        "the per-seed bounds]; difference = ours − paper. Agreement: `tie` when the paper's "
        "number lies inside our interval (the test set cannot tell them apart), else `close` "
        f"(within ±{CLOSE_TOLERANCE} on a [0, 1] metric) or `far`; ties count as close in "
        "the summary. 'same best' counts the (dataset, protocol, metric) groups of a table, "
        "with at least two rows measured, where the paper's best row is also ours.",
        "",
        "Floors: 'best floor' is the best of the label-free trivial baselines (variant "
        "`reference_floor`: mean intensity, nearest training normal in pixels, PCA "
        "reconstruction; 'best feature floor': `reference_floor_features`, the same on "
        "ImageNet features) on the same data, metric and threshold policy; a method at or "
        "below it does no better than a trivial baseline. 'above floor' counts our rows above "
        "it. Rows whose model's loss still fell by more than "
        "5 % over its last tenth of training are marked **not converged**.",
        "",
        "Our datasets stand in for the paper's through "
        + ("a **fallback mapping** (`reprolib.data.STANDS_IN_FOR` was not importable): "
           if fallback_mapping else "`reprolib.data.STANDS_IN_FOR`: ")
        + ", ".join(f"`{k}` → `{v}`" for k, v in sorted(mapping.items()))
        + ". Phantoms are procedural images: a number measured on a phantom checks that the "
          "method works, not that the paper's number holds on the real data.",
        "",
    ]
    randoms = random_weight_methods(compared)
    if randoms:
        lines += [f"**Weights.** {', '.join(f'`{m}`' for m in randoms)} ran with randomly "
                  "initialised backbones where the method is meant to start from pretrained "
                  "(ImageNet) weights, which were not available to the run (see each table's "
                  "'Weights' line): their numbers do not measure the method as published.", ""]
    if "degenerate" in compared.columns and compared["degenerate"].any():
        lines += [DEGENERATE_NOTE + f" Rows flagged: {int(compared['degenerate'].sum())}.", ""]
    lines += ["## Summary", ""]
    view = summary.copy()
    view["coverage"] = view["coverage"].map(lambda v: "" if np.isnan(v) else f"{v:.0%}")
    view["mean_abs_diff"] = view["mean_abs_diff"].map(lambda v: _fmt(v))
    view["within_tol"] = view["within_tol"].map(lambda v: "" if np.isnan(v) else f"{v:.0%}")
    view = view.rename(columns={"paper_numbers": "paper numbers", "measured": "ours",
                                "mean_abs_diff": "mean abs diff",
                                "within_tol": f"within ±{CLOSE_TOLERANCE}",
                                "same_best": "same best", "ours_only": "ours only",
                                "our_datasets": "our datasets", "above_floor": "above floor",
                                "not_converged": "not converged", "seeds": "n seeds"})
    lines.append(_md_table(view[["paper", "table", "title", "notebook", "paper numbers", "ours",
                                 "coverage", "mean abs diff", f"within ±{CLOSE_TOLERANCE}",
                                 "ties", "same best", "above floor", "not converged",
                                 "verdict", "our datasets", "n seeds"]]))
    n_tables = int((summary["measured"] > 0).sum())
    n_reproduced = int((summary["verdict"] == "reproduced").sum())
    lines += [f"Tables with at least one measured number: {n_tables} of {len(summary)}; paper "
              f"numbers with a measurement of ours: {int(summary['measured'].sum())} of "
              f"{int(summary['paper_numbers'].sum())}. Tables reproduced (every number measured "
              f"on the paper's datasets, {REPRODUCED_SHARE:.0%} of them within "
              f"±{CLOSE_TOLERANCE}): {n_reproduced}.", ""]
    for (paper, table), entry in PAPER_TABLES.items():
        part = compared[(compared["paper"] == paper) & (compared["table"] == table)]
        lines += [f"## {paper} {table}: {entry.title}", "",
                  f"{entry.shows}. Notebook: `notebooks/{entry.notebook}.ipynb`.", ""]
        if not entry.numbers_in_text:
            lines += ["The paper gives this figure's numbers only graphically: nothing to "
                      "compare; our numbers, if any, are listed below.", ""]
        if (paper, table) in figures:
            lines += [f"![{paper} {table}]({figures[(paper, table)]})", ""]
        weights = weights_line(part)
        if weights:
            lines += [weights, ""]
        claimed = part[part["status"] != "ours only"]
        if not claimed.empty and (claimed["status"] == NOT_RUN).all():
            lines += [f"Not run yet: none of the {len(claimed)} paper numbers of this table has "
                      "a measurement of ours (they are in `results/paper_reported.csv`).", ""]
        elif not claimed.empty:
            rows = pd.DataFrame({
                "dataset": [d or "—" for d in claimed["paper_dataset"]],
                "protocol": claimed["protocol"],
                "method / variant": [_method_label(m, v, paper, table)
                                     for m, v in zip(claimed["method"], claimed["variant"])],
                "metric": claimed["metric"],
                "threshold": claimed["threshold_policy"],
                "paper": [f"{v:.6g}" for v in claimed["paper_value"]],
                "ours": [_fmt_ours(r) for _, r in claimed.iterrows()],
                "difference": [_fmt(v, m) if not np.isnan(v) else ""
                               for v, m in zip(claimed["difference"], claimed["metric"])],
                "agreement": claimed["agreement"].fillna(""),
                **_floor_columns(claimed),
                "our data (threshold)": [
                    f"{d} ({t})" if d else "" for d, t in zip(claimed["our_dataset"],
                                                              claimed["our_threshold_policy"])],
            })
            rows["difference"] = [f"+{d}" if d and not d.startswith("-") else d
                                  for d in rows["difference"]]
            lines.append(_md_table(rows))
            variants = sorted(set(claimed["variant"]) - {""})
            if variants:
                lines += ["", "Variants: " + "; ".join(
                    f"`{v}` = {variant_words(paper, table, v)}" for v in variants) + ".", ""]
        extra = part[part["status"] == "ours only"]
        if not extra.empty:
            lines += ["", "Also measured (no paper number for this key):", ""]
            lines.append(_md_table(pd.DataFrame({
                "our dataset": extra["our_dataset"], "protocol": extra["our_protocol"],
                "method / variant": [_method_label(m, v, paper, table)
                                     for m, v in zip(extra["method"], extra["variant"])],
                "metric": extra["metric"], "threshold": extra["our_threshold_policy"],
                "ours": [_fmt_ours(r) for _, r in extra.iterrows()],
                **_floor_columns(extra),
            })))
        lines.append("")
    other = compared[~compared.set_index(["paper", "table"]).index.isin(list(PAPER_TABLES))]
    if not other.empty:
        lines += ["## Results without a paper table", ""]
        counts = (other.groupby(["paper", "table", "our_dataset"]).size()
                  .reset_index(name="rows"))
        lines.append(_md_table(counts))
    return "\n".join(lines).rstrip() + "\n"


def _atomic_write_text(text: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@dataclasses.dataclass
class ComparisonReport:
    """The comparison of one profile: rows, per-table summary, and where it was written."""

    profile: str
    compared: pd.DataFrame
    summary: pd.DataFrame
    fallback_mapping: bool
    mapping: dict[str, str]
    results: str | os.PathLike[str] | None = None
    figures: dict[tuple[str, str], str] = dataclasses.field(default_factory=dict)

    def table(self, paper: str, table: str) -> pd.DataFrame:
        """Rows of one paper table."""
        if (paper, table) not in PAPER_TABLES:
            raise KeyError(f"unknown table ({paper!r}, {table!r}); known: "
                           f"{sorted(PAPER_TABLES)}")
        part = self.compared
        return part[(part["paper"] == paper) & (part["table"] == table)].reset_index(drop=True)

    def measured(self) -> pd.DataFrame:
        """Compact view of the paper numbers we have a measurement for."""
        part = self.compared[self.compared["status"] == MEASURED]
        columns = ["paper", "table", "paper_dataset", "protocol", "method", "variant", "metric",
                   "paper_value", "our_dataset", "our_mean", "our_std", "our_ci_low",
                   "our_ci_high", "n_seeds", "difference", "agreement",
                   f"{FLOOR_VARIANTS[0]}_value", "converged"]
        return part[columns].reset_index(drop=True)

    def write(self, *, make_figures: bool = True) -> Path:
        """Figures to ``results/figures/<profile>/``, markdown to
        ``results/<profile>/comparison.md`` (atomic). Returns the markdown path."""
        root = results_dir(self.results)
        md_path = root / self.profile / "comparison.md"
        self.figures = {}
        if make_figures:
            fig_dir = figures_dir(self.profile, self.results)
            for paper, table in PAPER_TABLES:
                path = fig_dir / f"99_comparison_{paper}_{table}.png"
                fig = figure_for_table(self.compared, paper, table, path=path)
                if fig is not None:
                    plt.close(fig)
                    self.figures[(paper, table)] = os.path.relpath(path, md_path.parent)
            plt.close(overview_figure(self.compared,
                                      path=fig_dir / "99_comparison_overview.png"))
        text = render_markdown(self.compared, self.summary, profile=self.profile,
                               fallback_mapping=self.fallback_mapping, mapping=self.mapping,
                               figures=self.figures)
        _atomic_write_text(text, md_path)
        return md_path


def build_report(profile: str, results: str | os.PathLike[str] | None = None, *,
                 reported: pd.DataFrame | None = None,
                 ours: pd.DataFrame | None = None) -> ComparisonReport:
    """Read the papers' numbers and ``results/<profile>/*.csv`` and compare them."""
    if not profile or not isinstance(profile, str):
        raise ValueError(f"profile: expected a profile name such as 'default', got {profile!r}")
    mapping, fallback = stands_in_for()
    if fallback:
        warnings.warn("reprolib.data.STANDS_IN_FOR is not importable: using the fallback "
                      "phantom -> dataset mapping of reprolib.comparison", stacklevel=2)
    if reported is None:
        reported = load_paper_reported()
    if ours is None:
        from reprolib.results import read_results
        ours = read_results(profile, results)
    compared = mark_one_seed(flag_degenerate(compare(reported, ours, mapping), ours))
    return ComparisonReport(profile=profile, compared=compared,
                            summary=table_summary(compared), fallback_mapping=fallback,
                            mapping=mapping, results=results)
