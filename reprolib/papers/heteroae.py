"""Hetero-AE (Lu et al., TIP 2024): Tables I-IV, Fig. 4 heatmaps, Fig. 6 boxplots, model sizes.

Every table is a grid of (method or ``hetero_ae`` variant, dataset, seed) evaluated through
:func:`reprolib.experiment.run_grid`; the ablation rows of Tables II-IV are config switches of
the one ``hetero_ae`` method (:data:`VARIANTS`), so a model shared by two tables (``full`` is in
all three; ``resnet_feature`` is Table II's ``resnet_to_resnet``) is trained once (model cache).
Thresholded metrics are taken at the best-F1 threshold on the test set (§IV-B2, the paper's
protocol, labelled ``best_f1``) and at a threshold fixed on normal validation images
(``normal_val``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch.utils.flop_counter import FlopCounterMode

from reprolib.experiment import (
    Evaluation,
    MethodSpec,
    best_floor,
    find_evaluation,
    floor_rows,
    run_grid,
    summary_table,
)
from reprolib.methods import create_method
from reprolib.plots import save
from reprolib.results import ResultRecorder

PAPER = "heteroae"
PROTOCOL = "image_level"
METRICS: tuple[str, ...] = ("auroc", "f1", "acc", "sen", "spe")

_TRANSFORMER_ED = {"encoder": "swin_t", "branches": ["swin", "swin"]}
#: Ablation rows of Tables II-IV as config changes of ``hetero_ae`` (variant names of
#: ``reprolib.reported.VARIANTS``). ``full`` is the paper's model.
VARIANTS: dict[str, dict[str, Any]] = {
    "full": {},
    # Table II, homogeneous: the decoder mirrors the encoder's own block type
    "resnet_to_resnet": {"branches": ["resnet"]},
    # EfficientNet-Lite0 (packaged ImageNet weights, installable from the registry) stands in
    # for the paper's EfficientNet, whose torchvision B0 weights need internet (issue 9)
    "efficientnet_to_efficientnet": {"encoder": "efficientnet_lite0", "branches": ["mbconv"]},
    "cnntrans_to_cnntrans": {"encoder": "hybrid"},
    # Table II, heterogeneous: ResNet encoder, the decoder's blocks swapped in the same skeleton
    "resnet_to_swin": {"branches": ["swin", "swin"]},
    "resnet_to_pvt": {"branches": ["pvt", "pvt"]},
    "resnet_to_cmt": {"branches": ["cmt", "cmt"]},
    # Table III: both branches of every hybrid module the same
    "cnn_cnn": {"branches": ["conv", "conv"]},
    "trans_trans": {"branches": ["mstb", "mstb"]},
    # Table IV: E-D (ResNet), E-D (Transformer), Hetero-AE; pixel-wise vs feature comparison
    "resnet_pixel": {"branches": ["resnet"], "comparison": "pixel"},
    "resnet_feature": {"branches": ["resnet"]},
    "transformer_pixel": {**_TRANSFORMER_ED, "comparison": "pixel"},
    "transformer_feature": dict(_TRANSFORMER_ED),
    "hetero_pixel": {"comparison": "pixel"},
}
TABLE_VARIANTS: dict[str, tuple[str, ...]] = {
    "t2": ("resnet_to_resnet", "efficientnet_to_efficientnet", "cnntrans_to_cnntrans",
           "resnet_to_swin", "resnet_to_pvt", "resnet_to_cmt", "full"),
    "t3": ("cnn_cnn", "trans_trans", "full"),
    "t4": ("resnet_pixel", "resnet_feature", "transformer_pixel", "transformer_feature",
           "hetero_pixel", "full"),
}


def variant_config(variant: str, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """``base`` (profile settings: size, epochs...) with ``variant``'s architecture switches."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown Hetero-AE variant {variant!r}; known: {sorted(VARIANTS)}")
    return {**(base or {}), **VARIANTS[variant]}


def variant_specs(table: str, base: dict[str, Any] | None = None,
                  variants: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Method entries (for :func:`run_grid`) of the ablation rows of ``table`` (t2, t3, t4)."""
    if table not in TABLE_VARIANTS:
        raise ValueError(f"table: expected one of {sorted(TABLE_VARIANTS)}, got {table!r}")
    names = TABLE_VARIANTS[table] if variants is None else tuple(variants)
    return [{"method": "hetero_ae", "config": variant_config(v, base), "variant": v}
            for v in names]


def run_table(recorder: ResultRecorder, methods: list[str | dict[str, Any]],
              datasets: list[str], *, seeds: list[int], root: str | None = None,
              dataset_options: dict[str, dict[str, Any]] | None = None,
              device: str | torch.device = "auto",
              data_variants: Sequence[dict[str, Any]] = ({},)) -> list[Evaluation]:
    """Evaluate every (method, dataset, seed) and record its rows under both policies.

    ``data_variants`` (e.g. ``[{}, {"dedup": True}]``) repeats the rows on changed data under
    their own protocol (``image_level_dedup``...; the paper's preprocessing has none of these
    options: :func:`reprolib.experiment.run_grid`). Rows per abnormal sub-class (protocol
    ``image_level:glioma``...) are added for test sets with several sub-classes."""
    return run_grid(recorder, methods, datasets, seeds=seeds, root=root,
                    dataset_options=dataset_options, policies=("best_f1", "normal_val"),
                    protocol=PROTOCOL, device=device, data_variants=data_variants,
                    paper_options={})


def results_table(frame: pd.DataFrame, policy: str = "best_f1") -> pd.DataFrame:
    """Mean (± std over seeds) of AUC, F1, ACC, SEN, SPE per dataset and row, thresholded
    metrics at ``policy``."""
    return summary_table(frame, METRICS, policy=policy)


# --- model size (Table II's Param and FLOPs columns) -------------------------------------------

def model_size(config: dict[str, Any] | None = None, img_size: int = 256) -> dict[str, Any]:
    """Parameters (10^6; all, trainable, decoder) and FLOPs (10^9, torch's FlopCounterMode,
    one image of ``img_size`` px, 2 FLOPs per multiply-add) of a ``hetero_ae`` config.

    The model is built at ``img_size`` (the paper's 256 by default) with random weights (the
    counts do not depend on them)."""
    config = {**(config or {}), "img_size": img_size, "weights": "random", "epochs": 0}
    method = create_method("hetero_ae", config, seed=0, device="cpu")
    net = method.net.eval()
    params = sum(p.numel() for p in net.parameters())
    trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
    decoder = sum(p.numel() for p in net.decoder.parameters())
    if net.head is not None:
        decoder += sum(p.numel() for p in net.head.parameters())
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(torch.zeros(1, 3, img_size, img_size))
    return {"params_m": params / 1e6, "trainable_params_m": trainable / 1e6,
            "decoder_params_m": decoder / 1e6, "flops_g": counter.get_total_flops() / 1e9,
            "img_size": img_size}


def model_size_table(variants: Sequence[str], base: dict[str, Any] | None = None,
                     img_size: int = 256) -> pd.DataFrame:
    """:func:`model_size` of each variant, one row each."""
    rows = [{"variant": v, **model_size(variant_config(v, base), img_size)} for v in variants]
    return pd.DataFrame(rows).set_index("variant")


def record_model_sizes(recorder: ResultRecorder, sizes: pd.DataFrame, *,
                       metrics: Sequence[str] = ("params_m", "flops_g")) -> None:
    """Rows ``params_m`` / ``flops_g`` (dataset "", protocol ``model_size``) as the paper's."""
    for variant, row in sizes.iterrows():
        for metric in metrics:
            recorder.add(dataset="", method="hetero_ae", variant=str(variant), metric=metric,
                         value=float(row[metric]), protocol="model_size",
                         img_size=int(row["img_size"]), weights="n/a", converged="n/a")


# --- figures -----------------------------------------------------------------------------------

def _gray(image: torch.Tensor | np.ndarray) -> np.ndarray:
    array = np.asarray(image, dtype=np.float64)
    array = array.mean(0) if array.ndim == 3 else array
    return (array - array.min()) / (np.ptp(array) + 1e-8)


def _resized(amap: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if amap.shape == size:
        return amap
    tensor = torch.as_tensor(amap, dtype=torch.float32)[None, None]
    return F.interpolate(tensor, size=size, mode="bilinear", align_corners=False)[0, 0].numpy()


def _reference(evaluations: Sequence[Evaluation], dataset: str, methods: Sequence[str],
               seed: int) -> Evaluation | None:
    """The evaluation whose test images are shown: the one loaded at the largest size."""
    found = [e for m in methods
             if (e := find_evaluation(evaluations, dataset, m, seed)) is not None]
    return max(found, key=lambda e: int(getattr(e.test, "img_size", 0)), default=None)


def short_id(image_id: str, width: int = 24) -> str:
    """An image id short enough for a column title: its last two path parts (class folder and
    file) when they fit in ``width`` characters, else the file name, else its head and tail."""
    parts = str(image_id).replace("\\", "/").split("/")
    text = "/".join(parts[-2:])
    if len(text) > width:
        text = parts[-1]
    if len(text) > width:
        half = (width - 1) // 2
        text = f"{text[:half]}…{text[-half:]}"
    return text


def heatmap_figure(evaluations: Sequence[Evaluation], datasets: Sequence[str],
                   methods: Sequence[str] = ("ae", "hetero_ae"), *, per_dataset: int = 2,
                   seed: int = 0, path: str | os.PathLike[str] | None = None) -> Figure:
    """Fig. 4: columns = anomalous test images (the first ``per_dataset`` of each dataset, by
    index: no choice by score), rows = input, ground truth (mask, where the dataset has one) and
    each method's anomaly map (min-max scaled per image, jet over the input)."""
    methods = [m for m in methods
               if any(find_evaluation(evaluations, d, m, seed) for d in datasets)]
    columns: list[tuple[str, int]] = []
    for dataset in datasets:
        ref = _reference(evaluations, dataset, methods, seed)
        if ref is not None:
            columns += [(dataset, int(i)) for i in np.flatnonzero(ref.labels == 1)[:per_dataset]]
    rows = ["input", "ground truth", *methods]
    fig, axes = plt.subplots(len(rows), max(len(columns), 1),
                             figsize=(1.9 * max(len(columns), 1), 1.9 * len(rows)),
                             squeeze=False)
    for col, (dataset, index) in enumerate(columns):
        ref = _reference(evaluations, dataset, methods, seed)
        assert ref is not None
        item = ref.test[index]
        image = _gray(item["image"])
        axes[0, col].imshow(image, cmap="gray")
        axes[0, col].set_title(f"{dataset}\n{short_id(item['id'])}", fontsize=8)
        axes[1, col].imshow(image, cmap="gray")
        if bool(item["has_mask"]):
            axes[1, col].contour(np.asarray(item["mask"][0]), levels=[0.5], colors="white",
                                 linewidths=1.0)
        else:
            axes[1, col].text(0.5, 0.5, "no mask", color="white", ha="center",
                              transform=axes[1, col].transAxes, fontsize=8)
        for row, method in enumerate(methods, start=2):
            ev = find_evaluation(evaluations, dataset, method, seed)
            axes[row, col].imshow(image, cmap="gray")
            if ev is not None and ev.scores.maps is not None:
                amap = _resized(ev.scores.maps[index], image.shape)
                amap = (amap - amap.min()) / (np.ptp(amap) + 1e-8)
                axes[row, col].imshow(amap, cmap="jet", alpha=0.5)
    for row, name in enumerate(rows):
        axes[row, 0].set_ylabel(name, fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return save(fig, path)


def feature_distance_frame(evaluations: Sequence[Evaluation], variants: Sequence[str]
                           ) -> pd.DataFrame:
    """Per test image: dataset, variant, seed, label and the mean multi-stage feature distance
    between encoder and decoder (``Scores.extra['feature_distance']``), Fig. 6's quantity."""
    rows = []
    for ev in evaluations:
        if ev.spec.variant in variants and "feature_distance" in ev.scores.extra:
            for label, value in zip(ev.labels, ev.scores.extra["feature_distance"]):
                rows.append({"dataset": ev.dataset, "variant": ev.spec.variant, "seed": ev.seed,
                             "label": "anomalous" if label == 1 else "normal",
                             "feature_distance": float(value)})
    return pd.DataFrame(rows)


def feature_distance_boxplot(frame: pd.DataFrame, variants: Sequence[str], *,
                             labels: dict[str, str] | None = None,
                             path: str | os.PathLike[str] | None = None) -> Figure:
    """Fig. 6: per dataset, boxplots of the feature distance on normal (blue) and anomalous
    (orange) test images for each decoder variant."""
    labels = labels or {"cnn_cnn": "E(CNN)-D(CNN)", "trans_trans": "E(CNN)-D(Trans)",
                        "full": "E(CNN)-D(CNN+Trans)"}
    datasets = list(dict.fromkeys(frame["dataset"])) if len(frame) else []
    fig, axes = plt.subplots(1, max(len(datasets), 1), figsize=(4.2 * max(len(datasets), 1), 3.4),
                             squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        sub = frame[frame["dataset"] == dataset]
        positions, data, colors = [], [], []
        for k, variant in enumerate(variants):
            for j, (label, color) in enumerate((("normal", "tab:blue"),
                                                ("anomalous", "tab:orange"))):
                values = sub[(sub["variant"] == variant) & (sub["label"] == label)]
                positions.append(3 * k + j)
                data.append(values["feature_distance"].to_numpy())
                colors.append(color)
        boxes = ax.boxplot(data, positions=positions, widths=0.8, patch_artist=True)
        for patch, color in zip(boxes["boxes"], colors):
            patch.set_facecolor(color)
            patch.set_alpha(0.6)
        ax.set_xticks([3 * k + 0.5 for k in range(len(variants))],
                      [labels.get(v, v) for v in variants], fontsize=8)
        ax.set(title=dataset, ylabel="feature distance (mean of M)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c, alpha=0.6) for c in ("tab:blue", "tab:orange")]
    axes[0, -1].legend(handles, ["normal", "anomalous"], fontsize=7)
    fig.tight_layout()
    return save(fig, path)


def row_names(methods: Sequence[str], variants: Sequence[str]) -> list[str]:
    """A bar's label per results row: the variant where one method has many (Tables II-IV:
    ``hetero_ae`` variants), else the method, with ``:variant`` where it has one (Table I's
    ``stfpm:efficientnet_lite0``)."""
    single = len(set(methods)) == 1
    return [v if v and single else (f"{m}:{v}" if v else m) for m, v in zip(methods, variants)]


def table_rows(methods: Sequence[str | dict[str, Any]]) -> list[str]:
    """The bar labels of a ``METHODS`` parameter, in order, as :func:`row_names` names them."""
    specs = [MethodSpec.from_param(item) for item in methods]
    names = row_names([s.method for s in specs], [s.variant for s in specs])
    return list(dict.fromkeys(names))


def metric_bars(frame: pd.DataFrame, order: Sequence[str], *, metric: str = "auroc",
                labels: dict[str, str] | None = None, protocol: str = PROTOCOL,
                path: str | os.PathLike[str] | None = None) -> Figure:
    """Bars of ``metric`` per row of ``order`` (variants or methods) and dataset, as the rows of
    Tables I-IV, for the rows of ``protocol`` only: the mean over seeds, with an error bar (std
    over seeds) only where a bar has two seeds or more; the axis says which. At most 10 inches
    wide, whatever the count. The best label-free floor of each dataset (``reference_floor``
    rows) is a dotted line in that dataset's colour."""
    floors = best_floor(frame[frame["protocol"] == protocol], metric)
    frame = frame[~floor_rows(frame)]
    rows = frame[(frame["metric"] == metric) & (frame["protocol"] == protocol)
                 & frame["threshold_policy"].isin(["none", "best_f1"])].copy()
    rows["row"] = row_names(rows["method"], rows["variant"])
    stats = rows.groupby(["dataset", "row"])["value"].agg(["mean", "std", "count"]).reset_index()
    datasets = list(dict.fromkeys(rows["dataset"]))
    order = [r for r in order if r in set(stats["row"])]
    n_bars = len(order) * max(len(datasets), 1)
    fig, ax = plt.subplots(figsize=(min(10.0, max(6.5, 1.5 + 0.3 * n_bars)), 3.8))
    width = 0.8 / max(len(datasets), 1)
    for k, dataset in enumerate(datasets):
        sub = stats[stats["dataset"] == dataset].set_index("row").reindex(order)
        spread = sub["std"].where(sub["count"] >= 2)
        ax.bar(np.arange(len(order)) + k * width, sub["mean"], width,
               yerr=spread if spread.notna().any() else None, capsize=2, label=dataset,
               alpha=0.85, color=f"C{k}")
        if dataset in floors.index:
            ax.axhline(floors.loc[dataset, "value"], color=f"C{k}", ls=":", lw=1.6,
                       label=f"best floor, {dataset}: {floors.loc[dataset, 'method']}")
    labels = labels or {}
    ax.set_xticks(np.arange(len(order)) + width * (len(datasets) - 1) / 2,
                  [labels.get(r, r) for r in order], rotation=25, ha="right", fontsize=9)
    counts = sorted(set(stats["count"]))
    if not counts or counts == [1]:
        seeds = "one seed"
    else:
        seeds = (f"mean over {counts[0]} seeds" if len(counts) == 1
                 else f"mean over {counts[0]}-{counts[-1]} seeds") + "; bars: std"
    ax.set_ylabel(metric, fontsize=9)
    ax.set_ylim(0, 1.02)
    ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax.set_title(f"{metric} on {', '.join(datasets)}\n({seeds}; dashed line: chance)",
                 fontsize=9)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.tight_layout()
    return save(fig, path)
