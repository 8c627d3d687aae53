"""Figures shared by the notebooks: score distributions, ROC curves, anomaly-map panels,
learning curves.

Every function draws into a new figure, saves it (PNG) when ``path`` is given, and returns it.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

#: Saved figures carry no software version or date, so the same figure gives the same bytes on
#: any machine and a rerun with unchanged numbers leaves tracked figures unchanged.
_METADATA = {"png": {"Software": None}, "pdf": {"Creator": None, "Producer": None,
                                                  "CreationDate": None},
             "svg": {"Creator": None, "Date": None}}


def save(fig: Figure, path: str | os.PathLike[str] | None, dpi: int = 110) -> Figure:
    """Save ``fig`` to ``path`` (folders created; written aside and renamed, and only when the
    bytes differ from the file there) and return it."""
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fmt = path.suffix.lstrip(".").lower() or "png"
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt, dpi=dpi, bbox_inches="tight",
                    metadata=_METADATA.get(fmt))
        data = buffer.getvalue()
        if not path.is_file() or path.read_bytes() != data:
            tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
            tmp.write_bytes(data)
            os.replace(tmp, path)
    return fig


def roc_curves(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], *, title: str = "",
               path: str | os.PathLike[str] | None = None) -> Figure:
    """ROC curves of several scorers: ``{name: (labels, scores)}``."""
    fig, ax = plt.subplots(figsize=(4.5, 4.2))
    for name, (labels, scores) in curves.items():
        fpr, tpr, _ = roc_curve(labels, scores)
        floor = name.startswith("floor")  # a label-free reference floor: a grey dashed line
        ax.plot(fpr, tpr, label=name, **({"color": "grey", "ls": "--"} if floor else {}))
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title,
           xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(fontsize=8, loc="lower right")
    return save(fig, path)


def score_distributions(groups: Mapping[str, np.ndarray], *, title: str = "",
                        xlabel: str = "anomaly score", bins: int = 30,
                        path: str | os.PathLike[str] | None = None) -> Figure:
    """Overlaid normalised histograms of score groups (e.g. train normal / test normal /
    test anomalous)."""
    fig, ax = plt.subplots(figsize=(5, 3.4))
    finite = [np.asarray(v, dtype=float) for v in groups.values() if len(v)]
    lo = min(float(v.min()) for v in finite) if finite else 0.0
    hi = max(float(v.max()) for v in finite) if finite else 1.0
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    for name, values in groups.items():
        ax.hist(np.asarray(values, dtype=float), bins=edges, density=True, alpha=0.45,
                label=f"{name} (n={len(values)})")
    ax.set(xlabel=xlabel, ylabel="density", title=title)
    ax.legend(fontsize=8)
    return save(fig, path)


def map_panel(images: Sequence[np.ndarray], maps: Sequence[np.ndarray],
              masks: Sequence[np.ndarray | None], titles: Sequence[str], *,
              path: str | os.PathLike[str] | None = None) -> Figure:
    """Rows of (image, ground truth, anomaly map) for a few test images.

    ``images`` are (C,H,W) or (H,W) arrays in [0,1] (or any range: shown min-max scaled).
    """
    n = len(images)
    fig, axes = plt.subplots(n, 3, figsize=(7, 2.3 * n), squeeze=False)
    for row, (image, amap, mask, title) in enumerate(zip(images, maps, masks, titles)):
        img = np.asarray(image, dtype=float)
        if img.ndim == 3:
            img = img.transpose(1, 2, 0) if img.shape[0] in (1, 3) else img
            img = img[..., 0] if img.shape[-1] == 1 else img
        img = (img - img.min()) / (np.ptp(img) + 1e-8)
        axes[row, 0].imshow(img, cmap="gray")
        axes[row, 0].set_title(title, fontsize=8)
        axes[row, 1].imshow(np.zeros(img.shape[:2]) if mask is None else mask, cmap="gray",
                            vmin=0, vmax=1)
        axes[row, 1].set_title("ground truth" if mask is not None else "no mask", fontsize=8)
        axes[row, 2].imshow(img, cmap="gray")
        axes[row, 2].imshow(amap, cmap="jet", alpha=0.5)
        axes[row, 2].set_title("anomaly map", fontsize=8)
        for ax in axes[row]:
            ax.axis("off")
    fig.tight_layout()
    return save(fig, path)


def learning_curves(evaluations: Iterable[Any] | Mapping[Any, Any], *, title: str = "",
                    path: str | os.PathLike[str] | None = None) -> Figure:
    """One figure of the training losses of the models behind ``evaluations`` (a list or a
    dict of :class:`reprolib.experiment.Evaluation`): one panel per model (row label), one line
    per dataset, the watched loss term (``reprolib.convergence``) per epoch against optimiser
    steps, log-y where the loss stays positive. A model that the convergence rule flags is drawn
    dashed and named ``NOT CONVERGED`` in the legend; methods that do not train are skipped, and
    a model shared by several rows (AnoGAN's DCGAN) is drawn once under all their names."""
    from reprolib.convergence import NOT_CONVERGED, convergence_flag, loss_key

    items = list(evaluations.values()) if isinstance(evaluations, Mapping) else list(evaluations)
    panels: dict[tuple[Any, ...], dict[str, Any]] = {}
    datasets: list[str] = []
    for ev in items:
        history = list(getattr(ev.method, "history", []) or [])
        key = getattr(ev.method, "convergence_key", None)  # instance: variants may set it
        term = loss_key(history, key) if history else None
        if term is None:
            continue
        records = [r for r in history if term in r]
        curve = (tuple(float(r.get("steps", r["epoch"])) for r in records),
                 tuple(float(r[term]) for r in records))
        label = ev.spec.row_name
        if ev.dataset not in datasets:
            datasets.append(ev.dataset)
        shared = next((p for p in panels.values() if p["term"] == term
                       and p["lines"].get(ev.dataset, (None,))[0] == curve), None)
        if shared is not None:  # the same trained model behind another row
            if label not in shared["labels"]:
                shared["labels"].append(label)
            continue
        panel = panels.setdefault((label,), {"labels": [label], "term": term, "lines": {}})
        panel["lines"][ev.dataset] = (curve, convergence_flag(history, key))
    n = max(len(panels), 1)
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.4 * cols, 3.1 * rows), squeeze=False)
    colours = {d: f"C{i}" for i, d in enumerate(datasets)}
    for ax, panel in zip(axes.flat, panels.values()):
        flagged = False
        positive = True
        for dataset, ((steps, losses), flag) in panel["lines"].items():
            bad = flag == NOT_CONVERGED
            flagged |= bad
            positive &= min(losses) > 0
            ax.plot(steps, losses, color=colours[dataset], ls="--" if bad else "-",
                    marker="." if len(steps) < 30 else None,
                    label=f"{dataset}{' NOT CONVERGED' if bad else ''}")
        if positive:
            ax.set_yscale("log")
        ax.set_title(" / ".join(panel["labels"]) + (" (not converged)" if flagged else ""),
                     fontsize=9, color="tab:red" if flagged else "black")
        ax.set_xlabel("optimiser steps", fontsize=8)
        ax.set_ylabel(f"loss '{panel['term']}'" + ("" if positive else " (linear)"), fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.suptitle(title or f"Training loss per step on {', '.join(datasets) or 'no data'}",
                 fontsize=10)
    fig.tight_layout()
    return save(fig, path)
