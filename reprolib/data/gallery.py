"""Figures and the ipywidgets browser of ``00_datasets.ipynb``: images with their lesion masks
overlaid, class counts per split."""

from __future__ import annotations

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


def browser(datasets: dict[str, dict[str, ImageDataset]]) -> Any:
    """An ipywidgets browser: dataset, split, index, mask on/off."""
    import ipywidgets as widgets
    from IPython.display import display

    names = list(datasets)
    name_w = widgets.Dropdown(options=names, description="dataset")
    split_w = widgets.Dropdown(options=list(datasets[names[0]]), description="split")
    index_w = widgets.IntSlider(0, 0, max(0, len(datasets[names[0]][split_w.value]) - 1),
                                description="index")
    mask_w = widgets.Checkbox(True, description="mask")
    out = widgets.Output()

    def refresh(*_: Any) -> None:
        ds = datasets[name_w.value][split_w.value]
        index_w.max = max(0, len(ds) - 1)
        out.clear_output()
        if not len(ds):
            out.append_stdout("empty split\n")
            return
        item = ds[min(index_w.value, len(ds) - 1)]
        fig, ax = plt.subplots(figsize=(4, 4))
        ax.imshow(overlay(item, ds.normalize, mask_w.value), cmap="gray")
        ax.set_title(f"{item['id']}\nlabel {item['label']}  {item['sublabel']}", fontsize=8)
        ax.axis("off")
        out.append_display_data(fig)
        plt.close(fig)

    def on_name(*_: Any) -> None:
        split_w.options = list(datasets[name_w.value])
        refresh()

    name_w.observe(on_name, "value")
    for w in (split_w, index_w, mask_w):
        w.observe(refresh, "value")
    refresh()
    box = widgets.VBox([widgets.HBox([name_w, split_w]), widgets.HBox([index_w, mask_w]), out])
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
