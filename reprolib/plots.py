"""Figures shared by the notebooks: score distributions, ROC curves, anomaly-map panels.

Every function draws into a new figure, saves it (PNG) when ``path`` is given, and returns it.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

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
        ax.plot(fpr, tpr, label=name)
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
