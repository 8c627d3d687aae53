"""MDFSC (Rahul et al., ISBI 2022): Table 1 (state of the art), Table 2 (autoencoder vs ImageNet
features), Table 3 (MDFSC vs the autoencoder's reconstruction loss) and Fig. 3-style
patch-residual maps.

Every row is one registered method on one dataset, evaluated image-level (AP and AUROC, §4.2,
threshold-free; the paper reports no thresholded metric). The ablation rows of Tables 2 and 3
are config switches of ``mdfsc`` (:data:`VARIANTS`); ``full`` has the same config as Table 1's
``mdfsc`` row, so its model and dictionaries are trained once (model cache) and its scores are
computed once (``reprolib.score_cache``, beside the model) for all three tables.

Datasets (§4.1): EyeQ under MDFSC's protocol (quality Good and Usable normal, Reject
anomalous: loader protocol ``mdfsc``, results protocol ``eyeq_quality``), IDRiD image level
(grading part: grade 0 normal, 1-4 anomalous: loader protocol ``mdfsc``) and OCTID image level
(normal vs four diseases); their phantoms (``phantom_eyeq``, ``phantom_idrid``,
``phantom_octid``) stand in under ``default``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from reprolib.experiment import (
    Evaluation,
    MethodSpec,
    check_required_weights,
    evaluate,
    find_evaluation,
    floor_specs,
    record,
    record_subclasses,
    summary_table,
)
from reprolib.plots import save
from reprolib.results import ResultRecorder

PAPER = "mdfsc"
#: Table 1's rows in the paper's order (registry names).
T1_METHODS: tuple[str, ...] = ("anogan", "deep_geo", "deep_if", "spade", "mdfsc")
#: The paper's metrics (§4.2): average precision and ROC AUC, image level.
METRICS: tuple[str, ...] = ("ap", "auroc")
#: Results protocol per paper dataset (``results/paper_reported.csv``).
PROTOCOLS: dict[str, str] = {"eyeq": "eyeq_quality", "idrid": "image_level",
                             "octid": "image_level"}
#: Loader protocol per paper dataset (MDFSC's labelling, §4.1), added to the loader options.
LOADER_PROTOCOLS: dict[str, str] = {"eyeq": "mdfsc", "idrid": "mdfsc"}
#: Thresholded rows at the 95th percentile of normal validation scores only (no test labels).
POLICIES: tuple[str, ...] = ("normal_val",)

#: Ablation rows of Tables 2 and 3 as config switches of ``mdfsc`` (variant names of
#: ``results/paper_reported.csv``). ``imagenet_features`` has no autoencoder to train.
VARIANTS: dict[str, dict[str, Any]] = {
    "full": {},
    "imagenet_features": {"features": "imagenet", "epochs": 0, "steps": 0},
    "ae_recon_loss": {"scorer": "ae_recon_loss"},
}
TABLE_VARIANTS: dict[str, tuple[str, ...]] = {"t2": ("full", "imagenet_features"),
                                              "t3": ("full", "ae_recon_loss")}
#: Keys of the sparse-coding stage, meaningless for the AE's reconstruction loss (dropped from
#: its config so that it does not depend on them).
_SPARSE_KEYS = ("features", "imagenet_backbone", "downscale", "border", "patch_size", "stride",
                "n_atoms", "alpha", "dict_patches", "dict_iter", "dict_tol", "top_k",
                "channel_chunk")


def paper_dataset(dataset: str) -> str:
    """The paper's dataset a dataset stands for (a phantom's original, else itself)."""
    from reprolib.data import STANDS_IN_FOR
    return STANDS_IN_FOR.get(dataset, dataset)


def protocol_of(dataset: str) -> str:
    """Results protocol of ``dataset``'s rows (``eyeq_quality`` or ``image_level``)."""
    name = paper_dataset(dataset)
    if name not in PROTOCOLS:
        raise ValueError(f"dataset {dataset!r}: MDFSC's tables have EyeQ, IDRiD and OCTID "
                         f"(or their phantoms), got {name!r}")
    return PROTOCOLS[name]


def with_loader_protocols(datasets: Sequence[str], options: dict[str, dict[str, Any]] | None = None
                    ) -> dict[str, dict[str, Any]]:
    """Loader options per dataset with MDFSC's labelling (:data:`LOADER_PROTOCOLS`) added."""
    options = options or {}
    out = {}
    for dataset in datasets:
        protocol_of(dataset)  # a clear error for a dataset not in the tables
        merged = dict(options.get(dataset) or {})
        loader = LOADER_PROTOCOLS.get(paper_dataset(dataset))
        if loader is not None:
            if merged.get("protocol", loader) != loader:
                raise ValueError(f"dataset {dataset!r}: MDFSC's tables use loader protocol "
                                 f"{loader!r}, got {merged['protocol']!r}")
            merged["protocol"] = loader
        out[dataset] = merged
    return out


def variant_config(variant: str, base: dict[str, Any] | None = None,
                   imagenet_backbone: str = "vgg16") -> dict[str, Any]:
    """``base`` (the profile's ``mdfsc`` config) with ``variant``'s switches.
    ``imagenet_backbone``: the ImageNet network of ``imagenet_features`` (the paper's
    ``vgg16``, or ``efficientnet_lite0`` where VGG16's weights are not obtainable)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown MDFSC variant {variant!r}; known: {sorted(VARIANTS)}")
    config = {**(base or {}), **VARIANTS[variant]}
    if variant == "imagenet_features":
        config["imagenet_backbone"] = imagenet_backbone
    if variant == "ae_recon_loss":
        config = {k: v for k, v in config.items() if k not in _SPARSE_KEYS}
    return config


def variant_specs(table: str, base: dict[str, Any] | None = None,
                  variants: Sequence[str] | None = None,
                  imagenet_backbone: str = "vgg16") -> list[dict[str, Any]]:
    """Method entries of Table 2 or 3's rows (method ``mdfsc``, one variant each)."""
    if table not in TABLE_VARIANTS:
        raise ValueError(f"table: expected one of {sorted(TABLE_VARIANTS)}, got {table!r}")
    names = TABLE_VARIANTS[table] if variants is None else tuple(variants)
    return [{"method": "mdfsc", "config": variant_config(v, base, imagenet_backbone),
             "variant": v} for v in names]


# --- evaluation with a score cache -------------------------------------------------------------

def run_table(recorder: ResultRecorder, methods: list[str | dict[str, Any] | MethodSpec],
              datasets: list[str], *, seeds: list[int], root: str | None = None,
              dataset_options: dict[str, dict[str, Any]] | None = None,
              device: str | torch.device = "auto") -> list[Evaluation]:
    """Evaluate every (dataset, method, seed) and record its image-level rows (AP and AUROC with
    their bootstrap intervals; thresholded rows at the normal-validation threshold only) under
    the dataset's protocol (:func:`protocol_of`); rows per abnormal sub-class where the test set
    has several (e.g. OCTID's four diseases). No pixel rows: the paper's tables are image
    level (EyeQ's "Reject" images have no lesion masks)."""
    check_required_weights(list(methods))
    options = with_loader_protocols(datasets, dataset_options)
    evaluations = []
    for dataset in datasets:
        protocol = protocol_of(dataset)
        for item in methods:
            spec = MethodSpec.from_param(item)
            for seed in seeds:
                ev = evaluate(spec, dataset, seed=seed, root=root,
                              options=options[dataset] or None, device=device)
                record(recorder, ev, policies=POLICIES, pixel=False, protocol=protocol)
                record_subclasses(recorder, ev, protocol=protocol)
                evaluations.append(ev)
    return evaluations


def run_table_floors(recorder: ResultRecorder, floors: list[str | dict[str, Any]],
                     datasets: list[str], *, root: str | None = None,
                     dataset_options: dict[str, dict[str, Any]] | None = None,
                     device: str | torch.device = "auto") -> list[Evaluation]:
    """The label-free reference floors (``FLOORS``: variant ``reference_floor`` or
    ``reference_floor_features``) on the table's datasets, each under its dataset's protocol,
    with MDFSC's labelling; seed 0 (deterministic); scores cached as :func:`run_table`'s, so
    the three tables share them."""
    return run_table(recorder, list(floor_specs(floors)), datasets, seeds=[0], root=root,
                     dataset_options=dataset_options, device=device)


def t1_methods(baselines: list[str | dict[str, Any]], mdfsc_config: dict[str, Any]
               ) -> list[str | dict[str, Any]]:
    """Table 1's rows: the baselines, then ``mdfsc`` with the profile's config (the same
    config as the ``full`` rows of Tables 2 and 3: one model for the three tables)."""
    return [*baselines, {"method": "mdfsc", "config": dict(mdfsc_config)}]


def results_table(frame: pd.DataFrame) -> pd.DataFrame:
    """AP and AUROC per dataset, protocol and row (mean ± std over seeds), with the 95 %
    bootstrap interval of the AUROC and its distance to the best label-free floor."""
    table = summary_table(frame, METRICS, policy="none")
    rows = frame[(frame["metric"] == "auroc") & (frame["threshold_policy"] == "none")]
    if "ci_low" in rows.columns and len(rows):
        ci = rows.groupby(["dataset", "protocol", "method", "variant"]).agg(
            low=("ci_low", "mean"), high=("ci_high", "mean"))
        table["auroc 95% CI"] = [
            f"[{ci.loc[k, 'low']:.3f}, {ci.loc[k, 'high']:.3f}]"
            if k in ci.index and pd.notna(ci.loc[k, "low"]) else "" for k in table.index]
    return table


def weights_note(frame: pd.DataFrame) -> str:
    """One line naming the pretrained weights the rows hold."""
    used = sorted({str(w) for w in frame.get("weights", []) if str(w) not in ("", "n/a")})
    return "weights: " + (", ".join(used) if used else "none")


# --- figures -----------------------------------------------------------------------------------

def _display(image: torch.Tensor | np.ndarray) -> np.ndarray:
    array = np.asarray(image, dtype=np.float64)
    if array.ndim == 3 and array.shape[0] == 3:
        array = array.transpose(1, 2, 0)
    elif array.ndim == 3:
        array = array[0]
    return (array - array.min()) / (np.ptp(array) + 1e-8)


def residual_map_figure(evaluations: Sequence[Evaluation], datasets: Sequence[str],
                        rows: Sequence[str] = ("full", "imagenet_features"), *,
                        per_class: int = 2, seed: int = 0,
                        labels: dict[str, str] | None = None,
                        path: str | os.PathLike[str] | None = None) -> Figure:
    """Fig. 3 with maps: per dataset, the first ``per_class`` normal and the first
    ``per_class`` anomalous test images (by index: no choice by score); under each input, the
    patch-residual map of each of ``rows`` (``mdfsc`` variants: the residuals of the 16x16
    feature patches summed over channels, averaged where patches overlap) over the image, with
    the image's anomaly score (sum of the per-channel top-5 residuals) in the title. Maps share
    one colour scale per row and dataset, so normal and anomalous images compare directly."""
    labels = labels or {"full": "L_A (autoencoder features)",
                        "imagenet_features": "L_I (ImageNet features)"}
    columns: list[tuple[str, int, str]] = []
    for dataset in datasets:
        ref = next((e for r in rows
                    if (e := find_evaluation(evaluations, dataset, r, seed))), None)
        if ref is None:
            continue
        for label, name in ((0, "normal"), (1, "anomalous")):
            columns += [(dataset, int(i), name)
                        for i in np.flatnonzero(ref.labels == label)[:per_class]]
    rows = [r for r in rows
            if any(find_evaluation(evaluations, d, r, seed) for d in datasets)]
    n_cols = max(len(columns), 1)
    fig, axes = plt.subplots(1 + len(rows), n_cols, figsize=(1.8 * n_cols, 1.9 * (1 + len(rows))),
                             squeeze=False)
    for col, (dataset, index, name) in enumerate(columns):
        ref = next(e for r in rows if (e := find_evaluation(evaluations, dataset, r, seed)))
        item = ref.test[index]
        image = _display(item["image"])
        axes[0, col].imshow(image, cmap="gray")
        sub = str(item.get("sublabel") or "")
        axes[0, col].set_title(f"{dataset}\n{name}{f' ({sub})' if sub else ''}", fontsize=7)
        for r, row in enumerate(rows, start=1):
            ev = find_evaluation(evaluations, dataset, row, seed)
            ax = axes[r, col]
            ax.imshow(image, cmap="gray")
            if ev is None or ev.scores.maps is None:
                continue
            shown = [i for d, i, _ in columns if d == dataset]
            vmax = float(np.max([ev.scores.maps[i].max() for i in shown])) or 1.0
            ax.imshow(ev.scores.maps[index], cmap="jet", alpha=0.5, vmin=0.0, vmax=vmax)
            ax.set_title(f"score {ev.scores.image[index]:.4g}", fontsize=7)
    for r, row in enumerate(rows, start=1):
        axes[r, 0].set_ylabel(labels.get(row, row), fontsize=7)
    axes[0, 0].set_ylabel("input", fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return save(fig, path)


def score_histograms(evaluations: Sequence[Evaluation], rows: Sequence[str], *,
                     seed: int = 0, path: str | os.PathLike[str] | None = None) -> Figure:
    """Per dataset and row, histograms of the test scores of normal and anomalous images."""
    pairs = [(ev.dataset, r, ev) for r in rows for ev in evaluations
             if ev.seed == seed and ev.spec.row_name == r]
    fig, axes = plt.subplots(1, max(len(pairs), 1), figsize=(3.0 * max(len(pairs), 1), 2.6),
                             squeeze=False)
    for ax, (dataset, row, ev) in zip(axes[0], pairs):
        image = np.asarray(ev.scores.image, dtype=np.float64)
        bins = np.histogram_bin_edges(image, bins=20)
        for label, name, colour in ((0, "normal", "tab:blue"), (1, "anomalous", "tab:orange")):
            ax.hist(image[ev.labels == label], bins=bins, alpha=0.6, color=colour, label=name)
        ax.set_title(f"{dataset}\n{row}", fontsize=8)
        ax.set_xlabel("anomaly score", fontsize=8)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return save(fig, path)


def describe_config(config: dict[str, Any]) -> str:
    """A config as one JSON line (for the notebooks' printed settings)."""
    return json.dumps(config, sort_keys=True)


def metric_bars(frame: pd.DataFrame, order: Sequence[str], *, metric: str = "auroc",
                labels: dict[str, str] | None = None,
                path: str | os.PathLike[str] | None = None) -> Figure:
    """One panel per dataset: ``metric`` of each row of ``order`` (a variant, else a method
    name) with its bootstrap 95 % interval as error bar (seed 0's when several seeds), the
    best label-free floor of that dataset as a dotted line and chance as a dashed one."""
    frame = frame[(frame["metric"] == metric) & (frame["threshold_policy"] == "none")]
    frame = frame[frame["protocol"].isin(set(PROTOCOLS.values()))]
    floors = frame[frame["variant"].astype(str).str.startswith("reference_floor")]
    rows = frame[~frame.index.isin(floors.index)].copy()
    rows["row"] = [v or m for v, m in zip(rows["variant"], rows["method"])]
    datasets = list(dict.fromkeys(rows["dataset"]))
    labels = labels or {}
    fig, axes = plt.subplots(1, max(len(datasets), 1),
                             figsize=(0.6 + 0.55 * len(order) * max(len(datasets), 1) + 1.0,
                                      3.4), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        sub = rows[rows["dataset"] == dataset]
        present = [r for r in order if r in set(sub["row"])]
        means = [sub[sub["row"] == r]["value"].mean() for r in present]
        first = [sub[sub["row"] == r].sort_values("seed").iloc[0] for r in present]
        low = [m - float(f["ci_low"]) if pd.notna(f.get("ci_low")) else 0.0
               for m, f in zip(means, first)]
        high = [float(f["ci_high"]) - m if pd.notna(f.get("ci_high")) else 0.0
                for m, f in zip(means, first)]
        ax.bar(range(len(present)), means, yerr=[low, high], capsize=3,
               color=[f"C{i}" for i in range(len(present))], alpha=0.85)
        ax.set_xticks(range(len(present)), [labels.get(r, r) for r in present], rotation=30,
                      ha="right", fontsize=8)
        fl = floors[floors["dataset"] == dataset]
        if len(fl):
            best = fl.groupby("method")["value"].mean()
            ax.axhline(best.max(), color="k", ls=":", lw=1.4,
                       label=f"best floor: {best.idxmax()}")
            ax.legend(fontsize=7, loc="lower right")
        ax.axhline(0.5, color="grey", ls="--", lw=0.8)
        ax.set_ylim(0, 1.02)
        ax.set_title(dataset, fontsize=9)
        ax.set_ylabel(f"{metric} (bars: 95 % bootstrap interval)", fontsize=8)
    fig.tight_layout()
    return save(fig, path)
