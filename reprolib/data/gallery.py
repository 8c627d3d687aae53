"""Figures and the ipywidgets browser of ``00_datasets.ipynb``: images with their lesion masks
overlaid, class counts per split."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from reprolib.data.base import ImageDataset
from reprolib.data.transforms import denormalize


def overlay(item: dict[str, Any], normalize: str = "unit", show_mask: bool = True
            ) -> np.ndarray:
    """An item's image as RGB in [0, 1] with its mask's outline-and-fill in red."""
    image = denormalize(item["image"], normalize)
    rgb = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image.copy()
    if show_mask and item.get("has_mask"):
        mask = np.asarray(item["mask"])[0] > 0.5
        rgb[mask] = 0.55 * rgb[mask] + 0.45 * np.array([1.0, 0.1, 0.1])
    return rgb


def pick_examples(ds: ImageDataset, per_class: int = 1) -> list[int]:
    """Indices of the first ``per_class`` images of every sub-label (anomalous ones prefer
    images whose mask is not empty)."""
    chosen: list[int] = []
    for sub in sorted(set(ds.sublabels)):
        idx = [i for i, s in enumerate(ds.sublabels) if s == sub]
        chosen += idx[:per_class]
    return chosen


def gallery(datasets: dict[str, ImageDataset], *, per_class: int = 1, show_mask: bool = True,
            path: str | os.PathLike[str] | None = None, title: str = "") -> Figure:
    """One row per dataset, one panel per sub-label, masks overlaid in red."""
    rows = {name: pick_examples(ds, per_class) for name, ds in datasets.items()}
    ncols = max(len(v) for v in rows.values())
    fig, axes = plt.subplots(len(rows), ncols, figsize=(2.0 * ncols, 2.15 * len(rows)),
                             squeeze=False)
    for r, (name, idx) in enumerate(rows.items()):
        ds = datasets[name]
        for c in range(ncols):
            ax = axes[r, c]
            ax.axis("off")
            if c >= len(idx):
                continue
            item = ds[idx[c]]
            ax.imshow(overlay(item, ds.normalize, show_mask), cmap="gray")
            ax.set_title(f"{name}\n{item['sublabel']} (label {item['label']})" if c == 0
                         else f"{item['sublabel']} (label {item['label']})", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    from reprolib.plots import save
    return save(fig, path)


def count_table(datasets: dict[str, dict[str, ImageDataset]]) -> Any:
    """A pandas table: dataset, split, sub-label, count (one row per group)."""
    import pandas as pd
    rows = []
    for name, splits in datasets.items():
        for split, ds in splits.items():
            for sub, n in ds.counts().items():
                rows.append({"dataset": name, "split": split, "class": sub, "count": n})
    return pd.DataFrame(rows)


BROWSER_PX = 320
"""Width and height in pixels of the browser's image (``render_png``'s default)."""


def render_png(item: dict[str, Any], normalize: str = "unit", show_mask: bool = True, *,
               title: str = "", px: int = BROWSER_PX) -> bytes:
    """One item drawn as a ``px`` x ``px`` PNG (mask overlaid as in ``overlay``, ``title`` on
    top). A fixed-size figure under matplotlib's default style, without pyplot: no global
    figure state and no inline-backend settings, so the same item gives the same bytes in a
    kernel and in a plain process."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    dpi = 80
    with matplotlib.style.context("default"):
        fig = Figure(figsize=(px / dpi, px / dpi), dpi=dpi, facecolor="white")
        FigureCanvasAgg(fig)
        ax = fig.add_axes((0.02, 0.02, 0.96, 0.84) if title else (0.02, 0.02, 0.96, 0.96))
        ax.imshow(np.clip(overlay(item, normalize, show_mask), 0.0, 1.0))
        ax.axis("off")
        if title:
            fig.suptitle(title, fontsize=8, y=0.99, va="top")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    return buf.getvalue()


def browser_png(item: dict[str, Any], normalize: str = "unit", show_mask: bool = True
                ) -> bytes:
    """The browser's image of one item: ``render_png`` titled with id, label, sub-label."""
    return render_png(item, normalize, show_mask,
                      title=f"{item['id']}\nlabel {item['label']}  {item['sublabel']}")


def browser_caption(name: str, split: str, index: int, item: dict[str, Any] | None,
                    show_mask: bool) -> str:
    """The line shown under the browser's image: what is shown, so a reader (and the browser
    test) can tell which image should be there."""
    if item is None:
        return f"{name} / {split}: empty split"
    return (f"{name} / {split} / #{index}: {item['id']}, label {item['label']} "
            f"({item['sublabel']}), mask {'on' if show_mask else 'off'}")


def browser(datasets: dict[str, dict[str, ImageDataset]], *, show: bool = True) -> Any:
    """An ipywidgets browser: dataset, split, index, mask on/off (``00_datasets.ipynb``).

    Every user change re-renders once into an ``ipywidgets.Image`` (PNG bytes) and a caption
    ``Label``: plain widget-state updates, which the front end applies in order. (Clearing an
    ``Output`` widget and appending a figure from each observer raced in JupyterLab and left
    the image blank on about every other change, issue 16.) A dataset change that also changes
    the split options or the index range refreshes once, not once per changed control."""
    import ipywidgets as widgets
    from IPython.display import display

    names = list(datasets)
    if not names:
        raise ValueError("browser: expected at least one dataset, found none")
    empty = [n for n in names if not datasets[n]]
    if empty:
        raise ValueError(f"browser: expected splits for every dataset, found none for {empty}")
    name_w = widgets.Dropdown(options=names, value=names[0], description="dataset")
    split_w = widgets.Dropdown(options=list(datasets[names[0]]), description="split")
    index_w = widgets.IntSlider(value=0, min=0,
                                max=max(0, len(datasets[names[0]][split_w.value]) - 1),
                                description="index", continuous_update=False)
    mask_w = widgets.Checkbox(value=True, description="mask")
    image = widgets.Image(format="png", width=BROWSER_PX, height=BROWSER_PX)
    caption = widgets.Label()
    syncing = False

    def refresh() -> None:
        ds = datasets[name_w.value][split_w.value]
        if not len(ds):
            image.value = b""
            caption.value = browser_caption(name_w.value, split_w.value, 0, None, False)
            return
        index = min(index_w.value, len(ds) - 1)
        item = ds[index]
        image.value = browser_png(item, ds.normalize, mask_w.value)
        caption.value = browser_caption(name_w.value, split_w.value, index, item, mask_w.value)

    def on_change(change: dict[str, Any]) -> None:
        nonlocal syncing
        if syncing:  # a control set below, as part of the change being handled
            return
        syncing = True
        try:
            if change["owner"] is name_w:
                splits = list(datasets[name_w.value])
                keep = split_w.value if split_w.value in splits else splits[0]
                split_w.options = splits
                split_w.value = keep
            if change["owner"] in (name_w, split_w):
                index_w.max = max(0, len(datasets[name_w.value][split_w.value]) - 1)
        finally:
            syncing = False
        refresh()

    for w in (name_w, split_w, index_w, mask_w):
        w.observe(on_change, "value")
    refresh()
    box = widgets.VBox([widgets.HBox([name_w, split_w]), widgets.HBox([index_w, mask_w]),
                        image, caption])
    if show:
        display(box)
    return box


def measure_speed(names: Sequence[str], *, n: int = 20, size: int = 256, seed: int = 0
                  ) -> dict[str, float]:
    """Images per second of each phantom's generator at ``size`` px (no disk writes)."""
    import time

    from reprolib.data.phantoms import brain, cxr, fundus, oct, rng_for
    gens = {"phantom_cxr": lambda r: cxr.generate(r, "bacteria", size),
            "phantom_covid": lambda r: cxr.generate(r, "covid", size),
            "phantom_brain": lambda r: brain.generate(r, "glioma", size),
            "phantom_oct": lambda r: oct.generate(r, "DME", size),
            "phantom_oct_flat": lambda r: oct.generate(r, "DME", size, flat=True),
            "phantom_octid": lambda r: oct.generate(r, "MH", size),
            "phantom_eyeq": lambda r: fundus.generate(r, 3, size),
            "phantom_idrid": lambda r: fundus.generate_layers(r, 3, size, aspect=1.5)}
    speeds = {}
    for name in names:
        start = time.perf_counter()
        for i in range(n):
            gens[name](rng_for(seed, "speed", i))
        speeds[name] = n / (time.perf_counter() - start)
    return speeds


def figure_path(name: str, profile: str | None = None) -> Path:
    """``results/figures/<name>.png`` for the default profile, else under ``<profile>/``."""
    from reprolib.paths import figures_dir
    return figures_dir(None if profile in (None, "default") else profile) / f"{name}.png"


def load_phantoms(names: Sequence[str], *, img_size: int = 128, seed: int = 0,
                  **options: Any) -> dict[str, dict[str, ImageDataset]]:
    """Train and test splits of every phantom in ``names`` (generated on first use)."""
    from reprolib.data.registry import get_dataset
    return {n: {s: get_dataset(n, s, img_size=img_size, seed=seed, **options)
                for s in ("train", "test")} for n in names}


def load_real(names: Sequence[str], *, root: str | os.PathLike[str] | None = None,
              img_size: int = 128) -> tuple[dict[str, dict[str, ImageDataset]], dict[str, str]]:
    """Train/val/test of each real dataset found below the data root; for the others, the
    reason they were not loaded (the loader's first error line)."""
    from reprolib.data.errors import DataError
    from reprolib.data.registry import get_dataset
    found: dict[str, dict[str, ImageDataset]] = {}
    missing: dict[str, str] = {}
    for name in names:
        try:
            found[name] = {s: get_dataset(name, s, root=root, img_size=img_size)
                           for s in ("train", "val", "test")}
        except DataError as err:
            missing[name] = str(err).splitlines()[0]
    return found, missing
