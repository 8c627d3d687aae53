"""ReSynthDetect (Niu et al., BMVC 2023): Tables 1-4, the generator figure (Fig. 3) and the
lesion-localisation figure (Fig. 4).

- Table 1 (image level, EyeQ): every method is trained once on the grade-0 training images and
  scored once on the test set; the 0-vs-k columns are the normal test images against grade k
  only (protocol ``eyeq_0_vs_k``), the 0-vs-all column against grades 1-4 (§4.2).
- Table 2 (pixel level, IDRiD): pixel AUROC and AUPR over every test pixel (32 normal + 81
  lesion images in the paper), balanced accuracy at the pixel Youden threshold (it maximises
  balanced accuracy on the test masks: the paper does not say how it cut, the rows say
  ``youden``).
- Tables 3-4: the ablation rows are config switches of the one ``resynthdetect`` method
  (:data:`VARIANTS`), scored on both data sets as the paper's tables; ``full`` equals Tables
  1-2's ReSynthDetect config, so those models come from the model cache.

CLAHE (clip 2, grid 8) is the paper's preprocessing for every method (§4.1): the data option
``clahe``; :data:`PAPER_OPTIONS` makes rows with it carry the paper's protocol ids.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from reprolib.cache import code_version
from reprolib.experiment import (
    Evaluation,
    MethodSpec,
    check_required_weights,
    evaluate,
    floor_specs,
    load_for,
    record,
    training_fields,
)
from reprolib.methods import get_method_class
from reprolib.plots import save
from reprolib.protocols import protocol_name
from reprolib.results import ResultRecorder

PAPER = "resynthdetect"
#: The paper's preprocessing (§4.1): CLAHE on; rows measured with it keep the paper's ids.
PAPER_OPTIONS: dict[str, Any] = {"clahe": True}
EYEQ_ALL = "eyeq_0_vs_all"
IDRID_PIXEL = "idrid_pixel"
GRADES: tuple[int, ...] = (1, 2, 3, 4)
#: Image-level policies: threshold-free AUROC is the paper's metric; ``normal_val`` adds
#: thresholded rows without test labels (ours only).
POLICIES: tuple[str, ...] = ("normal_val",)

#: Tables 3-4 rows (variant ids of results/paper_reported.csv) as ``resynthdetect`` configs.
VARIANTS: dict[str, dict[str, Any]] = {
    "full": {},
    # Table 3: architecture and concatenation type
    "rec_only": {"variant": "rec_only"},
    "loc_only": {"variant": "loc_only"},
    "loc_random_rec_feature": {"variant": "random_rec"},
    "loc_rec_image": {"variant": "rec_image"},
    # Table 4: anomaly generation (texture: procedural textures stand in for DTD)
    "texture_source": {"anomaly_source": "texture"},
    "no_perlin_mask": {"use_perlin": False},
    "no_self_mix": {"self_mix": False},
}
TABLE_VARIANTS: dict[str, tuple[str, ...]] = {
    "t3": ("rec_only", "loc_only", "loc_random_rec_feature", "loc_rec_image", "full"),
    "t4": ("texture_source", "no_perlin_mask", "no_self_mix", "full"),
}
#: The paper's words for the rows (figures and tables).
LABELS: dict[str, str] = {
    "rec_only": "Rec.Net. only", "loc_only": "Loc.Net. only",
    "loc_random_rec_feature": "Loc + random Rec, feature", "loc_rec_image": "Loc + Rec, image",
    "full": "full (the paper's model)", "texture_source": "texture source",
    "no_perlin_mask": "no Perlin mask P", "no_self_mix": "no self-mix",
}


def variant_config(variant: str, base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``base`` (the profile's ReSynthDetect config) with ``variant``'s switches."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown ReSynthDetect variant {variant!r}; known: {sorted(VARIANTS)}")
    return {**dict(base or {}), **VARIANTS[variant]}


def variant_specs(table: str, base: Mapping[str, Any] | None = None,
                  variants: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Method entries of the ablation rows of ``table`` (``t3``, ``t4``)."""
    if table not in TABLE_VARIANTS:
        raise ValueError(f"table: expected one of {sorted(TABLE_VARIANTS)}, got {table!r}")
    names = TABLE_VARIANTS[table] if variants is None else tuple(variants)
    return [{"method": "resynthdetect", "config": variant_config(v, base), "variant": v}
            for v in names]


# --- evaluation and rows -------------------------------------------------------------------------

def record_grades(recorder: ResultRecorder, ev: Evaluation, *, options: Mapping[str, Any],
                  grades: Sequence[int] = GRADES) -> list[dict[str, Any]]:
    """Table 1's 0-vs-k columns: one ``auroc`` row (with its bootstrap 95 % interval) per DR
    grade k present in the test set, the normal test images against the grade-k images only,
    protocol ``eyeq_0_vs_k`` (tagged as :func:`reprolib.protocols.protocol_name` when the data
    options differ from the paper's). The same numbers as loading ``grades=[k]`` (the loader's
    0-vs-k test set) with the model trained once."""
    from reprolib.metrics import image_auroc
    from reprolib.metrics.bootstrap import image_intervals

    sublabels = getattr(ev.test, "sublabels", None)
    if sublabels is None:
        raise ValueError(f"{ev.dataset}: the test set has no DR grades (sub-labels); "
                         f"expected an EyeQ layout")
    sublabels = np.asarray(sublabels, dtype=object)
    labels, image = ev.labels, np.asarray(ev.scores.image)
    n_normal = int((labels == 0).sum())
    spec = ev.method.data_spec()
    rows = []
    for grade in grades:
        keep = (labels == 0) | (sublabels == f"grade{grade}")
        n_abnormal = int(keep.sum()) - n_normal
        if n_abnormal == 0 or n_normal == 0:
            continue
        low, high = image_intervals(labels[keep], image[keep])["auroc"]
        row = {"metric": "auroc", "value": image_auroc(labels[keep], image[keep]),
               "threshold_policy": "none", "ci_low": low, "ci_high": high}
        protocol = protocol_name(f"eyeq_0_vs_{grade}", options, PAPER_OPTIONS)
        recorder.add_metrics(
            [row], dataset=ev.dataset, method=ev.spec.method, variant=ev.spec.variant,
            seed=ev.seed, protocol=protocol, n_normal=n_normal, n_abnormal=n_abnormal,
            selection="last_epoch", weights=ev.method.weights_used,
            img_size=spec["img_size"], **training_fields(ev.method),
            runtime_s=float(ev.method.fit_seconds) + ev.score_seconds,
            code_version=code_version(ev.spec.method))
        rows.append({**row, "protocol": protocol})
    return rows


def run_eyeq(recorder: ResultRecorder, methods: Sequence[str | dict[str, Any] | MethodSpec],
             dataset: str, *, seeds: Sequence[int], options: Mapping[str, Any] | None = None,
             root: str | None = None, device: str | torch.device = "auto",
             grades: Sequence[int] = GRADES) -> list[Evaluation]:
    """Table 1 (and Tables 3-4's EyeQ column): fit (or load) every method on ``dataset``'s
    normal training images, score the test set once, record ``eyeq_0_vs_all`` (image AUROC,
    AP, ``normal_val`` thresholded rows) and the 0-vs-k rows (:func:`record_grades`)."""
    check_required_weights(list(methods))
    options = dict(options or {})
    protocol = protocol_name(EYEQ_ALL, options, PAPER_OPTIONS)
    out = []
    for item in methods:
        spec = MethodSpec.from_param(item)
        for seed in seeds:
            ev = evaluate(spec, dataset, seed=seed, root=root, options=options or None,
                          device=device)
            record(recorder, ev, policies=POLICIES, pixel=False, protocol=protocol)
            record_grades(recorder, ev, options=options, grades=grades)
            out.append(ev)
    return out


def run_idrid(recorder: ResultRecorder, methods: Sequence[str | dict[str, Any] | MethodSpec],
              dataset: str, *, seeds: Sequence[int], options: Mapping[str, Any] | None = None,
              root: str | None = None, device: str | torch.device = "auto",
              require_maps: bool = True) -> list[Evaluation]:
    """Table 2 (and Tables 3-4's IDRiD columns): fit (or load), score, record pixel AUROC and
    AUPR (bootstrap intervals over images), pixel balanced accuracy at the pixel Youden
    threshold (policy ``youden``) and the image-level rows (ours only), protocol
    ``idrid_pixel``. A method without pixel maps is an error, unless ``require_maps`` is
    False (floors such as ``mean_intensity``: image-level rows only)."""
    check_required_weights(list(methods))
    options = dict(options or {})
    protocol = protocol_name(IDRID_PIXEL, options, PAPER_OPTIONS)
    out = []
    for item in methods:
        spec = MethodSpec.from_param(item)
        for seed in seeds:
            ev = evaluate(spec, dataset, seed=seed, root=root, options=options or None,
                          device=device)
            if ev.scores.maps is None and require_maps:
                raise ValueError(f"{spec.method}: returns no pixel maps; Table 2 needs them")
            record(recorder, ev, policies=POLICIES, pixel=ev.scores.maps is not None,
                   protocol=protocol)
            out.append(ev)
    return out


def run_floors(recorder: ResultRecorder, floors: Sequence[str | dict[str, Any]], dataset: str,
               *, level: str, options: Mapping[str, Any] | None = None,
               root: str | None = None, device: str | torch.device = "auto"
               ) -> list[Evaluation]:
    """The label-free reference floors (``FLOORS``: variant ``reference_floor`` /
    ``reference_floor_features``) on the table's data, recorded as the methods' rows:
    ``level="eyeq"`` (image level, every 0-vs-k column) or ``"idrid"`` (pixel level).
    Floors are deterministic: seed 0."""
    specs = list(floor_specs(list(floors)))
    if level == "eyeq":
        return run_eyeq(recorder, specs, dataset, seeds=[0], options=options, root=root,
                        device=device)
    if level == "idrid":
        return run_idrid(recorder, specs, dataset, seeds=[0], options=options, root=root,
                         device=device, require_maps=False)
    raise ValueError(f"level: expected 'eyeq' or 'idrid', got {level!r}")


# --- tables --------------------------------------------------------------------------------------

def _cell(values: pd.DataFrame) -> str:
    """Mean over seeds, with the mean bootstrap interval (or the std over seeds)."""
    mean = float(values["value"].mean())
    if len(values) > 1:
        return f"{mean:.3f} ± {float(values['value'].std()):.3f}"
    low = pd.to_numeric(values["ci_low"], errors="coerce").mean()
    high = pd.to_numeric(values["ci_high"], errors="coerce").mean()
    if np.isfinite(low) and np.isfinite(high):
        return f"{mean:.3f} [{low:.3f}, {high:.3f}]"
    return f"{mean:.3f}"


def _row_name(method: str, variant: str) -> str:
    if variant and not str(variant).startswith("reference_floor"):
        return str(variant)
    return f"{method} (floor)" if str(variant).startswith("reference_floor") else method


def _pivot(rows: pd.DataFrame, columns: Mapping[tuple[str, str, str], str],
           order: Sequence[str] | None = None) -> pd.DataFrame:
    """One table row per (method, variant), one column per ``(protocol, metric, policy)``."""
    out: dict[str, dict[str, str]] = {}
    rows = rows.assign(variant=rows["variant"].fillna("").astype(str),
                       protocol=rows["protocol"].fillna("").astype(str))
    for (protocol, metric, policy), title in columns.items():
        sel = rows[(rows["protocol"] == protocol) & (rows["metric"] == metric)
                   & (rows["threshold_policy"] == policy)]
        for (method, variant), group in sel.groupby(["method", "variant"], sort=False):
            out.setdefault(_row_name(method, variant), {})[title] = _cell(group)
    table = pd.DataFrame.from_dict(out, orient="index").reindex(columns=list(columns.values()))
    if order is not None:
        first = [r for r in order if r in table.index]
        table = table.reindex(first + [r for r in table.index if r not in first])
    table.index.name = "row"
    return table.fillna("")


def _protocol(base: str, options: Mapping[str, Any] | None) -> str:
    return protocol_name(base, dict(options or {}), PAPER_OPTIONS)


def table1(frame: pd.DataFrame, options: Mapping[str, Any] | None = None,
           order: Sequence[str] | None = None) -> pd.DataFrame:
    """Table 1: image AUROC (bootstrap 95 % interval) per method, 0-vs-1 ... 0-vs-all."""
    columns = {(_protocol(f"eyeq_0_vs_{g}", options), "auroc", "none"): f"0vs{g}"
               for g in GRADES}
    columns[(_protocol(EYEQ_ALL, options), "auroc", "none")] = "0 vs all"
    return _pivot(frame, columns, order)


def table2(frame: pd.DataFrame, options: Mapping[str, Any] | None = None,
           order: Sequence[str] | None = None) -> pd.DataFrame:
    """Table 2: pixel AUROC, balanced accuracy (pixel Youden threshold) and AUPR per method."""
    protocol = _protocol(IDRID_PIXEL, options)
    columns = {(protocol, "pix_auroc", "none"): "AUROC",
               (protocol, "pix_bacc", "youden"): "ACC (Youden)",
               (protocol, "pix_aupr", "none"): "AUPR"}
    return _pivot(frame, columns, order)


def ablation_table(frame: pd.DataFrame, variants: Sequence[str], *,
                   eyeq_options: Mapping[str, Any] | None = None,
                   idrid_options: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Tables 3-4: IDRiD pixel AUROC, ACC, AUPR and EyeQ 0-vs-all AUROC per variant (and the
    floors), the rows in ``variants``' order, named in the paper's words."""
    idrid = _protocol(IDRID_PIXEL, idrid_options)
    columns = {(idrid, "pix_auroc", "none"): "IDRiD AUROC",
               (idrid, "pix_bacc", "youden"): "IDRiD ACC (Youden)",
               (idrid, "pix_aupr", "none"): "IDRiD AUPR",
               (_protocol(EYEQ_ALL, eyeq_options), "auroc", "none"): "EyeQ 0 vs all AUROC"}
    table = _pivot(frame, columns, list(variants))
    table.insert(0, "paper's row", [LABELS.get(str(r), "") for r in table.index])
    return table


def paper_table(paper_table_id: str) -> pd.DataFrame:
    """The paper's own numbers of one table (results/paper_reported.csv), pivoted alike."""
    from reprolib.reported import load_paper_reported

    rows = load_paper_reported()
    rows = rows[(rows["paper"] == PAPER) & (rows["table"] == paper_table_id)].copy()
    rows["row"] = [v or m for m, v in zip(rows["method"], rows["variant"])]
    rows["column"] = rows["protocol"] + " " + rows["metric"]
    table = rows.pivot_table(index="row", columns="column", values="value", aggfunc="first",
                             sort=False)
    return table


# --- figures -------------------------------------------------------------------------------------

def _rgb(image: torch.Tensor | np.ndarray) -> np.ndarray:
    array = np.asarray(image, dtype=np.float64)
    if array.ndim == 3:
        array = np.moveaxis(array, 0, -1)
        if array.shape[-1] == 1:
            array = array[..., 0]
    return np.clip(array, 0.0, 1.0)


def synthetic_anomalies_figure(dataset: str, config: Mapping[str, Any], *,
                               options: Mapping[str, Any] | None = None,
                               variants: Sequence[str] = ("full", "texture_source",
                                                          "no_perlin_mask", "no_self_mix"),
                               n: int = 2, seed: int = 0, root: str | None = None,
                               path: str | os.PathLike[str] | None = None) -> Figure:
    """Fig. 3: the anomaly generator at work on ``dataset``'s normal training images (as the
    method loads them: size, CLAHE). Per generator setting (``variants``: Table 4's rows) and
    sample: source I_s, target I_t, mask M_G and the synthetic image I_G (mask outline in
    white). Sources and targets are the first training images, in order; the draws are seeded."""
    rows = []
    for variant in variants:
        method = get_method_class("resynthdetect")(variant_config(variant, config), seed=seed,
                                                   device="cpu")
        train = load_for(method, dataset, "train", root=root, options=dict(options or {}))
        rng = np.random.default_rng(seed)
        for k in range(n):
            target = train[(2 * k) % len(train)]["image"]
            source = train[(2 * k + 1) % len(train)]["image"]
            image, mask = method.generator(target, source, rng)
            rows.append((variant, k, source, target, mask[0], image))
    titles = ["source I_s", "target I_t", "mask M_G", "result I_G"]
    fig, axes = plt.subplots(len(rows), 4, figsize=(7.2, 1.85 * len(rows)), squeeze=False)
    for r, (variant, k, source, target, mask, image) in enumerate(rows):
        source_shown = ("procedural texture (drawn inside)" if
                        VARIANTS[variant].get("anomaly_source") == "texture" else None)
        first = np.full(np.asarray(mask).shape, 0.5) if source_shown else _rgb(source)
        panels = [first, _rgb(target), np.asarray(mask), _rgb(image)]
        for c, panel in enumerate(panels):
            ax = axes[r, c]
            ax.imshow(panel, cmap="gray", vmin=0, vmax=1)
            if c == 3 and np.asarray(mask).any():
                ax.contour(np.asarray(mask), levels=[0.5], colors="white", linewidths=0.6)
            if c == 0 and source_shown:
                ax.text(0.5, 0.5, "procedural\ntexture, drawn\nin the generator",
                        color="black", ha="center", va="center", transform=ax.transAxes,
                        fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(titles[c], fontsize=8)
        axes[r, 0].set_ylabel(f"{LABELS.get(variant, variant)}\n#{k}", fontsize=7)
    fig.tight_layout()
    return save(fig, path)


def localisation_figure(evaluations: Sequence[Evaluation],
                        methods: Sequence[str] = ("wdmt_net", "draem", "resad",
                                                  "resynthdetect"),
                        *, n: int = 4, seed: int = 0,
                        path: str | os.PathLike[str] | None = None) -> Figure:
    """Fig. 4: lesion localisation on the first ``n`` lesion test images (by index, no choice
    by score). Per method, its map is cut at its own pixel Youden threshold over the test set
    (the cut of the ACC column, which uses the test masks): green = true positive, yellow =
    false positive, red = missed lesion pixels, over the input."""
    from reprolib.metrics.pixel import accumulate

    found = {}
    for ev in evaluations:
        name = ev.spec.method
        if name in methods and ev.seed == seed and not ev.spec.variant:
            found.setdefault(name, ev)
    names = [m for m in methods if m in found]
    if not names:
        raise ValueError(f"localisation_figure: none of {list(methods)} among the evaluations")
    ref = found.get("resynthdetect", found[names[0]])
    indices = [int(i) for i in np.flatnonzero(ref.labels == 1)[:n]]
    fig, axes = plt.subplots(len(indices), 2 + len(names),
                             figsize=(1.9 * (2 + len(names)), 1.9 * max(len(indices), 1)),
                             squeeze=False)
    cuts = {}
    masks_of: dict[str, np.ndarray] = {}
    for name in names:
        ev = found[name]
        masks = np.stack([np.asarray(ev.test[i]["mask"][0]) for i in range(len(ev.test))])
        masks_of[name] = masks
        cuts[name] = accumulate(ev.scores.maps, masks).youden_threshold()
    for r, index in enumerate(indices):
        item = ref.test[index]
        image = np.asarray(ref.test.load_uint8(index)[0], dtype=np.float64) / 255.0
        truth = np.asarray(item["mask"][0]) > 0.5
        axes[r, 0].imshow(image, cmap="gray")
        axes[r, 1].imshow(truth, cmap="gray", vmin=0, vmax=1)
        for c, name in enumerate(names, start=2):
            ev = found[name]
            amap = np.asarray(ev.scores.maps[index])
            gt = masks_of[name][index] > 0.5
            pred = amap >= cuts[name]
            overlay = np.zeros(gt.shape + (4,))
            overlay[pred & gt] = (0.0, 0.8, 0.0, 0.85)
            overlay[pred & ~gt] = (1.0, 0.9, 0.0, 0.85)
            overlay[~pred & gt] = (0.9, 0.0, 0.0, 0.85)
            shown = image if image.shape[:2] == gt.shape else np.zeros(gt.shape)
            axes[r, c].imshow(shown, cmap="gray")
            axes[r, c].imshow(overlay)
            if r == 0:
                axes[r, c].set_title(name, fontsize=8)
        if r == 0:
            axes[r, 0].set_title("input (CLAHE)", fontsize=8)
            axes[r, 1].set_title("lesion mask", fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("green: true positive, yellow: false positive, red: missed "
                 "(each map cut at its pixel Youden threshold)", fontsize=8)
    fig.tight_layout()
    return save(fig, path)


def ablation_bars(frame: pd.DataFrame, variants: Sequence[str], *,
                  eyeq_options: Mapping[str, Any] | None = None,
                  idrid_options: Mapping[str, Any] | None = None,
                  path: str | os.PathLike[str] | None = None) -> Figure:
    """Tables 3-4 as bars: IDRiD pixel AUROC and AUPR, EyeQ 0-vs-all AUROC per variant, with
    bootstrap 95 % intervals; the paper's numbers as black ticks."""
    from reprolib.reported import load_paper_reported

    idrid = _protocol(IDRID_PIXEL, idrid_options)
    panels = [(idrid, "pix_auroc", "IDRiD pixel AUROC"), (idrid, "pix_aupr", "IDRiD pixel AUPR"),
              (_protocol(EYEQ_ALL, eyeq_options), "auroc", "EyeQ 0 vs all AUROC")]
    paper = load_paper_reported()
    paper = paper[paper["paper"] == PAPER]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
    for ax, (protocol, metric, title) in zip(axes, panels):
        sel = frame[(frame["protocol"] == protocol) & (frame["metric"] == metric)
                    & (frame["threshold_policy"] == "none")]
        sel = sel.assign(variant=sel["variant"].fillna("").astype(str))
        values, lows, highs, reported = [], [], [], []
        for v in variants:
            rows = sel[sel["variant"] == v]
            values.append(rows["value"].mean() if len(rows) else np.nan)
            lows.append(pd.to_numeric(rows["ci_low"], errors="coerce").mean()
                        if len(rows) else np.nan)
            highs.append(pd.to_numeric(rows["ci_high"], errors="coerce").mean()
                         if len(rows) else np.nan)
            p = paper[(paper["variant"] == v) & (paper["metric"] == metric)
                      & (paper["protocol"] == protocol.split("_clahe")[0])]
            reported.append(float(p["value"].iloc[0]) if len(p) else np.nan)
        values, lows, highs = map(np.asarray, (values, lows, highs))
        err = np.clip(np.vstack([np.nan_to_num(values - lows), np.nan_to_num(highs - values)]),
                      0, None)
        x = np.arange(len(variants))
        ax.bar(x, values, 0.6, yerr=err, capsize=2, color="C0", alpha=0.8, label="ours")
        ax.scatter(x, reported, marker="_", s=300, color="black", label="paper", zorder=3)
        ax.set_xticks(x, [LABELS.get(v, v) for v in variants], rotation=30, ha="right",
                      fontsize=7)
        ax.set_title(title, fontsize=9)
        ax.set_ylim(0, 1.02)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return save(fig, path)
