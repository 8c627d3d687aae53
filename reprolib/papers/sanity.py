"""The sanity check of every registered method (issue 8, item 5; notebook ``00_sanity``).

Each method of :func:`reprolib.methods.available_methods` — those added later included — is
trained on a phantom's normal training images, at the size a table notebook's ``default``
profile gives it (a dict in the notebook's parameters, :data:`FALLBACK_CONFIG` for a method it
does not list), and tested on the sanity set of :mod:`reprolib.data.sanity`: the phantom's
normal test images, half of them with a 5/32-of-the-side square of saturated (or inverted)
intensity pasted at a seeded place. A method that works finds such a square: image AUROC, and
pixel AUROC where the method returns maps, both with their bootstrap 95 % interval. Rows:
paper ``reference``, table ``sanity``, protocol ``sanity_<mode>``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from reprolib.experiment import Evaluation, MethodSpec, evaluate, record
from reprolib.methods import available_methods, get_method_class
from reprolib.plots import save
from reprolib.results import ResultRecorder

PAPER, TABLE = "reference", "sanity"
#: Used for a registered method that the notebook's size dict does not list; keys the
#: method's config does not have are dropped.
FALLBACK_CONFIG: dict[str, Any] = {"img_size": 64, "epochs": 8}
#: A method that works scores at least this image AUROC on the sanity set (issue 8).
PASS_AUROC = 0.9


def config_for(method: str, sizes: Mapping[str, Mapping[str, Any]],
               fallback: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``sizes[method]``, or ``fallback`` (None or empty: :data:`FALLBACK_CONFIG`) restricted to
    the method's config fields."""
    if method in sizes:
        return dict(sizes[method])
    fields = {f.name for f in dataclasses.fields(get_method_class(method).Config)}
    fallback = fallback or FALLBACK_CONFIG
    return {k: v for k, v in fallback.items() if k in fields}


def method_specs(sizes: Mapping[str, Mapping[str, Any]], methods: Sequence[str] | None = None,
                 fallback: Mapping[str, Any] | None = None,
                 skip: Mapping[str, str] | None = None) -> list[MethodSpec]:
    """One spec per registered method (or per name of ``methods``; None or empty: all), sized by
    ``sizes`` (else by ``fallback``, default :data:`FALLBACK_CONFIG`), except the methods of
    ``skip`` (method -> the reason it is not run, shown by :func:`table`)."""
    registered = available_methods()
    skip = dict(skip or {})
    names = [m for m in (list(methods) if methods else registered) if m not in skip]
    unknown = [m for m in [*names, *skip] if m not in registered]
    if unknown:
        raise ValueError(f"methods: {unknown[0]!r} is not registered; registered: {registered}")
    extra = sorted(set(sizes) - set(registered))
    if extra:
        raise ValueError(f"sizes: {extra[0]!r} is not a registered method; registered: "
                         f"{registered}")
    return [MethodSpec(m, config_for(m, sizes, fallback)) for m in names]


def run(recorder: ResultRecorder, specs: Sequence[MethodSpec], dataset: str, *,
        dataset_options: Mapping[str, Any] | None = None, mode: str = "saturate",
        seed: int = 0, root: str | None = None,
        device: str | torch.device = "auto") -> list[Evaluation]:
    """Fit (or load) every spec on ``dataset``'s training normals, score its sanity test set
    and record the threshold-free rows (image AUROC / AP; pixel AUROC / AUPR given maps)."""
    options = {**(dataset_options or {}), "sanity_square": mode}
    evaluations = []
    for spec in specs:
        ev = evaluate(spec, dataset, seed=seed, root=root, options=options, device=device,
                      use_val=False)
        record(recorder, ev, policies=(), protocol=f"sanity_{mode}", table=TABLE)
        evaluations.append(ev)
    return evaluations


def _cell(row: pd.Series | None) -> str:
    if row is None:
        return ""
    text = f"{row['value']:.3f}"
    if pd.notna(row.get("ci_low")) and pd.notna(row.get("ci_high")):
        text += f" [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"
    return text


def table(frame: pd.DataFrame, skip: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per method: image and pixel AUROC with their 95 % intervals, epochs, steps,
    convergence flag, and ``passes`` (image AUROC >= :data:`PASS_AUROC`); a skipped method
    (``skip``: method -> reason) is listed with its reason."""
    rows = frame[(frame["table"] == TABLE) & (frame["threshold_policy"] == "none")]
    out = []
    for (method, variant), group in rows.groupby(["method", "variant"], sort=True):
        by_metric = {m: g.iloc[0] for m, g in group.groupby("metric")}
        image = by_metric.get("auroc")
        out.append({
            "method": method + (f" / {variant}" if variant else ""),
            "image AUROC [95% CI]": _cell(image),
            "pixel AUROC [95% CI]": _cell(by_metric.get("pix_auroc")) or "no maps",
            "epochs": group["epochs"].iloc[0], "steps": group["steps"].iloc[0],
            "converged": group["converged"].iloc[0],
            "passes": "" if image is None else
            ("yes" if float(image["value"]) >= PASS_AUROC else "NO"),
        })
    out += [{"method": method, "image AUROC [95% CI]": f"not run: {reason}"}
            for method, reason in sorted((skip or {}).items())]
    return pd.DataFrame(out).set_index("method").fillna("") if out else pd.DataFrame()


def figure(frame: pd.DataFrame, *, path: str | os.PathLike[str] | None = None) -> Figure:
    """Image and pixel AUROC per method, error bars = bootstrap 95 % intervals, a line at
    :data:`PASS_AUROC`."""
    rows = frame[(frame["table"] == TABLE) & frame["metric"].isin(["auroc", "pix_auroc"])]
    methods = sorted(set(rows["method"]))
    fig, ax = plt.subplots(figsize=(max(5.0, 0.55 * len(methods) + 2), 3.8))
    x = np.arange(len(methods))
    for k, (metric, label) in enumerate([("auroc", "image AUROC"), ("pix_auroc", "pixel AUROC")]):
        sel = rows[rows["metric"] == metric].drop_duplicates("method").set_index("method")
        values = np.array([sel["value"].get(m, np.nan) for m in methods], dtype=float)
        low = np.array([sel["ci_low"].get(m, np.nan) for m in methods], dtype=float)
        high = np.array([sel["ci_high"].get(m, np.nan) for m in methods], dtype=float)
        err = np.clip(np.vstack([np.nan_to_num(values - low), np.nan_to_num(high - values)]),
                      0, None)  # a binned pixel interval may sit just beside the exact value
        ax.bar(x + (k - 0.5) * 0.38, values, 0.38, yerr=err, capsize=2, label=label,
               color=plt.get_cmap("tab10")(k))
    ax.axhline(PASS_AUROC, color="grey", ls="--", lw=0.8, label=f"{PASS_AUROC} (pass)")
    ax.axhline(0.5, color="grey", ls=":", lw=0.8, label="0.5 (chance)")
    ax.set_xticks(x, methods, rotation=45, ha="right", fontsize=8)
    ax.set(ylim=(0, 1.02), ylabel="AUROC",
           title="sanity set: pasted squares (error bars: bootstrap 95 % interval)")
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return save(fig, path)


def examples(evaluations: Sequence[Evaluation], n: int = 4, *,
             path: str | os.PathLike[str] | None = None) -> Figure:
    """A few sanity test images (anomalous first) with their masks: what the methods face."""
    test = evaluations[0].test
    order = list(np.flatnonzero(np.asarray(test.labels) == 1)[:n // 2]) + \
        list(np.flatnonzero(np.asarray(test.labels) == 0)[:n - n // 2])
    fig, axes = plt.subplots(2, len(order), figsize=(2.2 * len(order), 4.4), squeeze=False)
    for j, i in enumerate(order):
        image, mask = test.load_uint8(int(i))
        axes[0, j].imshow(image, cmap="gray")
        axes[0, j].set_title(f"label {int(test.labels[i])}", fontsize=8)
        axes[1, j].imshow(np.zeros_like(image[..., 0] if image.ndim == 3 else image)
                          if mask is None else mask, cmap="gray", vmin=0, vmax=1)
        axes[1, j].set_title("mask", fontsize=8)
    for ax in axes.ravel():
        ax.axis("off")
    fig.tight_layout()
    return save(fig, path)
