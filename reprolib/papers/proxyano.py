"""ProxyAno (Zhou et al., TMI 2022): Tables I-V, Figs. 7, 11 and 12.

Every row is a (method, config, score) evaluated through :func:`reprolib.experiment.evaluate`
(model cache: the same method, config and training data train once, whichever notebook asks).
ProxyAno's ablation rows are config switches of the one ``proxyano`` method
(:data:`VARIANT_CONFIGS`, docs/proxyano.md); the score space (image vs latent, Tables IV-V) is
not a config switch here but a choice of ``Scores.extra`` (``latent``, Eq. 13, or
``image_space``, ||I - I^||_F), so that Table IV's rows 7 and 8 and Table V's two rows come
from one trained model each, and Table I's AE ("the same encoder and decoder as our method",
§IV-A3) is Table III/IV's EncDec model.

Thresholds: the paper does not say how ACC/F1 of Table I were thresholded at image level:
rows are given at the best-F1 threshold on the test set (``best_f1``, uses test labels, as
the papers it follows [36], [58]) and at the 95th percentile of normal validation scores
(``normal_val``). Pixel ACC/F1 (fundus column) at the paper's fixed threshold 0.5 on
|I - I^| in [0, 1] intensity units (§IV-D2, policy ``given``): :func:`pixel_units` says how
each method's map is brought to those units.
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

from reprolib.cache import code_version
from reprolib.experiment import (
    Evaluation,
    MethodSpec,
    best_floor,
    evaluate,
    floor_rows,
    record,
    record_subclasses,
    summary_table,
    training_fields,
)
from reprolib.methods import Scores, get_method_class
from reprolib.plots import save
from reprolib.protocols import protocol_name
from reprolib.results import ResultRecorder

PAPER = "proxyano"
PROTOCOL = "image_level"
#: Protocol of the fundus (IDRiD) column: pixel-level metrics on crops.
PIXEL_PROTOCOL = "idrid_pixel_crops"
#: Datasets (and phantoms) whose rows belong to the pixel-level fundus column.
PIXEL_DATASETS: tuple[str, ...] = ("idrid", "phantom_idrid")
#: The paper's fixed threshold on A_pix = |I - I^| (§IV-D2).
PIXEL_THRESHOLD = 0.5
#: Figure labels of the rows whose name is not the paper's: Table I's "Auto-Encoder [14]" shares
#: ProxyAno's encoder/decoder, so it is ``proxyano``'s ``encdec`` variant (Table IV's row 1, which
#: the paper gives the same 0.783 on OCT).
ROW_LABELS: dict[str, str] = {"encdec": "AE [14] (EncDec)"}
IMAGE_METRICS: tuple[str, ...] = ("auroc", "acc", "f1")
PIXEL_METRICS: tuple[str, ...] = ("pix_auroc", "pix_acc", "pix_f1")

_NO_REPAIR = {"w_global": 0.0, "w_local": 0.0}
_PLAIN = {"memory_items": 0, **_NO_REPAIR}
#: ProxyAno's ablation rows as config changes of ``proxyano`` (variant names of
#: ``reprolib.reported.VARIANTS``); ``full`` is the paper's model.
VARIANT_CONFIGS: dict[str, dict[str, Any]] = {
    "full": {},
    # Table IV rows 1-3 (row 1 = Table III row 0 = Table I's Auto-Encoder)
    "encdec": {"proxy": "none", "memory_items": 0},
    "encdec_memae": {"proxy": "none", "memory": "memae", "l2": "mean"},
    "encdec_mem": {"proxy": "none"},
    # Table IV rows 4-7 (row 4 = Table III row 6 = Table II's "Our SI approach")
    "si": dict(_PLAIN),
    "si_mem": dict(_NO_REPAIR),
    "si_rep": {"memory_items": 0},
    "si_mem_rep": {},
    # Table III rows 1-5: other proxies, no memory, no repairing (as its SI row = Table IV row 4)
    "edge": {"proxy": "canny", **_PLAIN},
    "smooth": {"proxy": "blur", **_PLAIN},
    "smooth_patches": {"proxy": "block", **_PLAIN},
    "edge_smooth": {"proxy": "canny_blur", **_PLAIN},
    "edge_smooth_patches": {"proxy": "canny_block", **_PLAIN},
}
#: The score of each row: ``extra`` key of ProxyAno's Scores (latent = Eq. 13).
VARIANT_SCORES: dict[str, str] = {v: "image_space" for v in VARIANT_CONFIGS}
VARIANT_SCORES["full"] = "latent"
TABLE_VARIANTS: dict[str, tuple[str, ...]] = {
    "t3": ("encdec", "edge", "smooth", "smooth_patches", "edge_smooth", "edge_smooth_patches",
           "si"),
    "t4": ("encdec", "encdec_memae", "encdec_mem", "si", "si_mem", "si_rep", "si_mem_rep",
           "full"),
}
#: Table II's rows: (method, variant, score). Every score by Eq. 13 where the method has
#: an encoder for it (ProxyAno's EncDec for the paper's AE; GANomaly's and Sparse-GAN's own
#: scores are latent; f-AnoGAN's is its izi_f score).
T2_ROWS: tuple[tuple[str, str, str | None], ...] = (
    ("proxyano", "encdec", "latent"), ("f_anogan", "", None), ("ganomaly", "", None),
    ("sparse_gan", "", None), ("proxyano", "si", "latent"), ("proxyano", "", "latent"))


@dataclasses.dataclass(frozen=True)
class Row:
    """One row of a table: a method spec and the score it is evaluated with (None: the
    method's own image score; else a key of ``Scores.extra``)."""

    spec: MethodSpec
    score: str | None = None

    @property
    def name(self) -> str:
        """The row's name in tables and figures (``MethodSpec.row_name``)."""
        return self.spec.row_name


def variant_config(variant: str, base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``base`` (profile settings: size, steps...) with ``variant``'s switches."""
    if variant not in VARIANT_CONFIGS:
        raise ValueError(f"unknown ProxyAno variant {variant!r}; known: "
                         f"{sorted(VARIANT_CONFIGS)}")
    return {**dict(base or {}), **VARIANT_CONFIGS[variant]}


def variant_row(variant: str, base: Mapping[str, Any] | None = None, *,
                score: str | None = None, result_variant: str | None = None) -> Row:
    """The ``proxyano`` row of ``variant`` (score: the variant's own unless given)."""
    spec = MethodSpec("proxyano", variant_config(variant, base),
                      variant if result_variant is None else result_variant)
    return Row(spec, VARIANT_SCORES[variant] if score is None else score)


def table_rows(table: str, base: Mapping[str, Any] | None = None,
               variants: Sequence[str] | None = None) -> list[Row]:
    """Rows of Table III (``t3``) or IV (``t4``): ``proxyano`` variants, each scored as the
    paper's row (rows 1-7 in the image space, row 8 in the latent space)."""
    if table not in TABLE_VARIANTS:
        raise ValueError(f"table: expected one of {sorted(TABLE_VARIANTS)}, got {table!r}")
    names = TABLE_VARIANTS[table] if variants is None else tuple(variants)
    return [variant_row(v, base) for v in names]


def t1_rows(methods: Sequence[str | Mapping[str, Any]], base: Mapping[str, Any]) -> list[Row]:
    """Table I's rows: a ProxyAno variant name (``encdec``: the paper's "Auto-Encoder [14]",
    ProxyAno's encoder/decoder without proxy or memory, image-space score) is that ``proxyano``
    variant of ``base``; ``proxyano`` the full model of ``base`` (latent score); every other
    entry a registered method (name or dict as in ``METHODS``), scored by its own image
    score."""
    rows = []
    for item in methods:
        name = item if isinstance(item, str) else item.get("method")
        if isinstance(item, str) and item in VARIANT_CONFIGS:
            rows.append(variant_row(item, base))
        elif name == "proxyano" and isinstance(item, str):
            rows.append(variant_row("full", base, result_variant=""))
        else:
            rows.append(Row(MethodSpec.from_param(dict(item) if not isinstance(item, str)
                                                  else item)))
    return rows


def t2_rows(t1: Sequence[Row], base: Mapping[str, Any]) -> list[Row]:
    """Table II's rows (:data:`T2_ROWS`), with the baselines' configs of Table I's ``t1``
    rows (so the models are Table I's)."""
    by_name = {r.spec.method: r for r in t1 if not r.spec.variant}
    rows = []
    for name, variant, score in T2_ROWS:
        if name == "proxyano":
            rows.append(variant_row(variant or "full", base, score=score,
                                    result_variant=variant))
        elif name in by_name:
            rows.append(Row(by_name[name].spec, score))
    return rows


def memory_rows(sizes: Sequence[int], base: Mapping[str, Any]) -> list[Row]:
    """Fig. 11: the full model with memory size k (0 = no memory), latent score; variants
    ``mem_k<k>`` / ``no_memory``."""
    return [variant_row("full", {**base, "memory_items": int(k)},
                        result_variant="no_memory" if int(k) == 0 else f"mem_k{int(k)}")
            for k in sizes]


def repair_variant(w_global: float, w_local: float) -> str:
    return f"g{w_global:g}_l{w_local:g}"


def repair_rows(w_globals: Sequence[float], w_locals: Sequence[float], base: Mapping[str, Any],
                *, fixed_global: float = 0.25, fixed_local: float = 0.5) -> list[Row]:
    """Fig. 12: λ_global varied with λ_local fixed (0.5), then λ_local varied with λ_global
    fixed (0.25), as §IV-G2; the full model otherwise, latent score; variant ``g<..>_l<..>``.
    A pair in both sweeps is one row."""
    pairs = [(float(g), fixed_local) for g in w_globals]
    pairs += [(fixed_global, float(w)) for w in w_locals]
    rows = []
    for g, w in dict.fromkeys(pairs):
        rows.append(variant_row("full", {**base, "w_global": g, "w_local": w},
                                result_variant=repair_variant(g, w)))
    return rows


# --- running ----------------------------------------------------------------------------------

def pixel_units(method: Any, maps: np.ndarray) -> np.ndarray:
    """A method's anomaly maps in units of |I - I^| on [0, 1] intensities, for the fixed pixel
    threshold: maps of methods on [-1, 1] images (``normalize = "tanh"``: |x - x^| in [0, 2])
    are halved; MemAE's squared-error maps are square-rooted (|x - x^| on grey images; the
    root of the channel-mean squared error on colour ones); others are kept."""
    maps = np.asarray(maps, dtype=np.float64)
    if getattr(method, "normalize", "unit") == "tanh":
        return maps / 2.0
    if getattr(method, "name", "") == "memae":
        return np.sqrt(np.clip(maps, 0.0, None))
    return maps


def record_pixel_given(recorder: ResultRecorder, ev: Evaluation, *, protocol: str,
                       threshold: float = PIXEL_THRESHOLD) -> list[dict[str, Any]]:
    """Pixel ACC, F1 (and balanced accuracy) at the paper's fixed threshold on
    :func:`pixel_units` maps (policy ``given``), for a test set with masks."""
    from reprolib.metrics import evaluate_scores

    if ev.scores.maps is None or not bool(getattr(ev.test, "has_masks", False)):
        return []
    masks = np.stack([np.asarray(ev.test[i]["mask"][0]) for i in range(len(ev.test))])
    maps = pixel_units(ev.method, ev.scores.maps)
    if maps.shape != masks.shape:
        tensor = torch.as_tensor(maps, dtype=torch.float32)[:, None]
        maps = torch.nn.functional.interpolate(tensor, size=masks.shape[-2:],
                                               mode="bilinear")[:, 0].numpy()
    rows = evaluate_scores(ev.labels, ev.scores.image, policies=(), maps=maps, masks=masks,
                           pixel_threshold=threshold, n_resamples=0)
    rows = [r for r in rows if r["threshold_policy"] == "given"]
    spec = ev.method.data_spec()
    recorder.add_metrics(
        rows, dataset=ev.dataset, method=ev.spec.method, variant=ev.spec.variant,
        seed=ev.seed, protocol=protocol, n_normal=int((ev.labels == 0).sum()),
        n_abnormal=int((ev.labels == 1).sum()), selection="last_epoch",
        weights=ev.method.weights_used, img_size=spec["img_size"],
        **training_fields(ev.method), runtime_s=float(ev.method.fit_seconds) + ev.score_seconds,
        code_version=code_version(ev.spec.method))
    return rows


def _for_dataset(spec: MethodSpec, overrides: Mapping[str, Any]) -> MethodSpec:
    """``spec`` with the dataset's config overrides (e.g. ``in_channels: 3``) that its
    method's config has."""
    if not overrides:
        return spec
    fields = {f.name for f in dataclasses.fields(get_method_class(spec.method).Config)}
    extra = {k: v for k, v in overrides.items() if k in fields}
    return dataclasses.replace(spec, config={**spec.config, **extra}) if extra else spec


@dataclasses.dataclass
class Run:
    """Evaluations of a notebook, keyed so that a model used by several rows is scored once."""

    evaluations: list[Evaluation] = dataclasses.field(default_factory=list)
    rows: list[tuple[Row, Evaluation]] = dataclasses.field(default_factory=list)

    def find(self, dataset: str, name: str, variant: str = "", seed: int = 0
             ) -> Evaluation | None:
        for row, ev in self.rows:
            if (ev.dataset == dataset and row.spec.method == name
                    and row.spec.variant == variant and ev.seed == seed):
                return ev
        return None


def run_rows(recorder: ResultRecorder, rows: Sequence[Row], datasets: Sequence[str], *,
             seeds: Sequence[int], root: str | None = None,
             dataset_options: Mapping[str, Mapping[str, Any]] | None = None,
             dataset_configs: Mapping[str, Mapping[str, Any]] | None = None,
             device: str | torch.device = "auto",
             data_variants: Sequence[Mapping[str, Any]] = ({},),
             policies: tuple[str, ...] = ("best_f1", "normal_val"),
             transform: Any = None, record_score: str | None = None,
             run: Run | None = None) -> Run:
    """Evaluate every (row, dataset, data variant, seed) and record it: image metrics under
    ``policies`` with the row's score, sub-class rows, and on datasets with masks the pixel
    metrics (at the fixed threshold 0.5 too). Rows of the fundus datasets
    (:data:`PIXEL_DATASETS`) get protocol :data:`PIXEL_PROTOCOL`, others
    :data:`PROTOCOL` (tagged by the data variant: ``image_level_dedup``...).
    ``dataset_configs`` adds per-dataset config keys (e.g. ``{"phantom_idrid":
    {"in_channels": 3}}``). ``transform(ev, row) -> Evaluation`` may change the scores before
    recording (Table II's normalisation), ``record_score`` then names the ``extra`` score to
    record instead of each row's."""
    run = run or Run()
    options = dataset_options or {}
    configs = dataset_configs or {}
    for row in rows:
        row.spec.check_datasets(datasets)
    scored: dict[str, Evaluation] = {}
    for dataset in datasets:
        base_protocol = PIXEL_PROTOCOL if dataset in PIXEL_DATASETS else PROTOCOL
        for variant in data_variants:
            merged = {**(options.get(dataset) or {}), **dict(variant)}
            name = protocol_name(base_protocol, merged)
            for row in rows:
                spec = _for_dataset(row.spec, configs.get(dataset) or {})
                for seed in seeds:
                    key = repr((spec.method, sorted(spec.config_for(dataset).items()), dataset,
                                sorted(merged.items()), seed))
                    ev = scored.get(key)
                    if ev is None:
                        ev = evaluate(spec, dataset, seed=seed, root=root,
                                      options=merged or None, device=device)
                        scored[key] = ev
                        run.evaluations.append(ev)
                    ev = dataclasses.replace(ev, spec=spec)
                    if transform is not None:
                        ev = transform(ev, row)
                    score = record_score or row.score
                    record(recorder, ev, policies=policies, protocol=name, score=score)
                    record_subclasses(recorder, ev, protocol=name, score=score)
                    record_pixel_given(recorder, ev, protocol=name)
                    run.rows.append((row, ev))
    return run


def run_floors(recorder: ResultRecorder, floors: Sequence[str | Mapping[str, Any]],
               datasets: Sequence[str], *, root: str | None = None,
               dataset_options: Mapping[str, Mapping[str, Any]] | None = None,
               device: str | torch.device = "auto",
               data_variants: Sequence[Mapping[str, Any]] = ({},)) -> list[Evaluation]:
    """The label-free reference floors (``FLOORS``) on each dataset, under that dataset's
    protocol (:data:`PIXEL_PROTOCOL` for the fundus column, else :data:`PROTOCOL`)."""
    from reprolib.experiment import run_floors as run_floor_grid

    out: list[Evaluation] = []
    for dataset in datasets:
        protocol = PIXEL_PROTOCOL if dataset in PIXEL_DATASETS else PROTOCOL
        out += run_floor_grid(recorder, list(floors), [dataset], root=root,
                              dataset_options={k: dict(v) for k, v in
                                               (dataset_options or {}).items()},
                              protocol=protocol, device=device, data_variants=data_variants)
    return out


# --- Table II ---------------------------------------------------------------------------------

def normalised_by_validation(ev: Evaluation, row: Row) -> Evaluation:
    """Table II's scores: the row's score divided by the mean score of the normal validation
    images (held-out training normals; no test label): 1 = a typical normal training image,
    so that the gaps of different methods are in comparable units. The paper does not say
    how its scores (0.43-1.01) were scaled. Stored as ``extra["t2"]``; the returned
    evaluation's rows are recorded with ``score="t2"`` by :func:`run_rows`."""
    if ev.val_scores is None:
        raise ValueError(f"{ev.dataset}: Table II's normalisation needs normal validation "
                         f"images (val split)")

    def pick(scores: Scores) -> np.ndarray:
        return np.asarray(scores.image if row.score is None else scores.extra[row.score],
                          dtype=np.float64)

    scale = float(np.mean(pick(ev.val_scores)))
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"{ev.spec.method}: mean validation score {scale}: expected > 0")
    test = dataclasses.replace(ev.scores, extra={**ev.scores.extra, "t2": pick(ev.scores) / scale})
    val = dataclasses.replace(ev.val_scores,
                              extra={**ev.val_scores.extra, "t2": pick(ev.val_scores) / scale})
    return dataclasses.replace(ev, scores=test, val_scores=val)


def t2_transform(ev: Evaluation, row: Row) -> Evaluation:
    """:func:`normalised_by_validation`, for :func:`run_rows` (record with score ``t2``)."""
    return normalised_by_validation(ev, row)


def score_gap_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Table II: mean normalised score of normal and abnormal test images and the gap, with
    the AUROC beside them."""
    rows = frame[~floor_rows(frame) & frame["metric"].isin(
        ["score_normal", "score_abnormal", "score_gap", "auroc"])
        & (frame["threshold_policy"] == "none")]
    table = rows.pivot_table(index=["dataset", "protocol", "method", "variant"],
                             columns="metric", values="value", aggfunc="mean")
    return table.reindex(columns=["score_normal", "score_abnormal", "score_gap", "auroc"])


# --- tables -----------------------------------------------------------------------------------

def results_table(frame: pd.DataFrame, policy: str = "best_f1") -> pd.DataFrame:
    """Table I: AUC, ACC, F1 (image level; thresholded at ``policy``) and pixel AUC, ACC, F1
    (at the fixed threshold 0.5: policy ``given``) per dataset and row; rows per abnormal
    sub-class (protocol ``...:<class>``) are left to the results file."""
    frame = frame[~frame["protocol"].astype(str).str.contains(":")]
    pixel_rows = frame["protocol"].astype(str).str.startswith(PIXEL_PROTOCOL)
    parts = []
    if (~pixel_rows).any():
        parts.append(summary_table(frame[~pixel_rows], IMAGE_METRICS, policy))
    if pixel_rows.any():
        parts.append(summary_table(frame[pixel_rows], PIXEL_METRICS, "given"))
    if not parts:
        return pd.DataFrame()
    return pd.concat(parts).fillna("")


def auroc_table(frame: pd.DataFrame, order: Sequence[str] | None = None) -> pd.DataFrame:
    """AUROC (bootstrap 95 % interval, one seed) per row (variant, or method), dataset and
    protocol, in ``order``, with the best floor of each as the last row; rows per abnormal
    sub-class (protocol ``...:<class>``) are left to the results file."""
    rows = frame[(frame["metric"] == "auroc") & (frame["threshold_policy"] == "none")
                 & ~frame["protocol"].astype(str).str.contains(":")].copy()
    rows["row"] = [v or m for v, m in zip(rows["variant"], rows["method"])]
    floors = rows[floor_rows(rows)]
    rows = rows[~floor_rows(rows)]
    stats = rows.groupby(["dataset", "protocol", "row"]).agg(
        auroc=("value", "mean"), ci_low=("ci_low", "mean"), ci_high=("ci_high", "mean"),
        converged=("converged", lambda v: ",".join(sorted({str(x) for x in v}))),
        steps=("steps", lambda v: ",".join(sorted({str(x) for x in v})))).reset_index()
    rank = {r: i for i, r in enumerate(order or [])}
    stats["rank"] = stats["row"].map(lambda r: rank.get(r, len(rank)))
    for protocol, part in floors.groupby("protocol"):
        best = best_floor(part)
        for dataset in best.index:
            stats.loc[len(stats)] = {"row": f"best floor ({best.loc[dataset, 'method']})",
                                     "dataset": dataset, "protocol": protocol,
                                     "auroc": best.loc[dataset, "value"],
                                     "rank": len(rank) + 1}
    stats = stats.sort_values(["dataset", "protocol", "rank"], kind="stable")
    return stats.drop(columns="rank").set_index(["dataset", "protocol", "row"]).round(3)


# --- figures ----------------------------------------------------------------------------------

def auroc_bars(frame: pd.DataFrame, order: Sequence[str], *, labels: Mapping[str, str] | None
               = None, title: str = "", protocol: str = PROTOCOL,
               path: str | os.PathLike[str] | None = None) -> Figure:
    """AUROC per row (variant, else method) and dataset with its bootstrap 95 % interval;
    the best label-free floor of each dataset dotted; chance dashed."""
    sub = frame[frame["protocol"] == protocol]
    floors = best_floor(sub)
    rows = sub[~floor_rows(sub) & (sub["metric"] == "auroc")
               & (sub["threshold_policy"] == "none")].copy()
    rows["row"] = [v or m for v, m in zip(rows["variant"], rows["method"])]
    stats = rows.groupby(["dataset", "row"]).agg(mean=("value", "mean"),
                                                 low=("ci_low", "mean"),
                                                 high=("ci_high", "mean")).reset_index()
    datasets = list(dict.fromkeys(rows["dataset"]))
    order = [r for r in order if r in set(stats["row"])]
    fig, ax = plt.subplots(figsize=(min(10.0, max(5.0, 1.5 + 0.45 * len(order)
                                                   * max(len(datasets), 1))), 3.6))
    width = 0.8 / max(len(datasets), 1)
    for k, dataset in enumerate(datasets):
        s = stats[stats["dataset"] == dataset].set_index("row").reindex(order)
        err = np.vstack([s["mean"] - s["low"], s["high"] - s["mean"]])
        ax.bar(np.arange(len(order)) + k * width, s["mean"], width, color=f"C{k}",
               yerr=np.where(np.isfinite(err), err, 0), capsize=2, alpha=0.85, label=dataset)
        if dataset in floors.index:
            ax.axhline(floors.loc[dataset, "value"], color=f"C{k}", ls=":", lw=1.5,
                       label=f"best floor, {dataset}: {floors.loc[dataset, 'method']}")
    labels = dict(labels or {})
    ax.set_xticks(np.arange(len(order)) + width * (len(datasets) - 1) / 2,
                  [labels.get(r, r) for r in order], rotation=25, ha="right", fontsize=8)
    ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("AUROC (bars: bootstrap 95 % CI)", fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.tight_layout()
    return save(fig, path)


def _curve(ax: Any, frame: pd.DataFrame, variants: Sequence[str], xs: Sequence[float],
           label: str, color: str) -> None:
    rows = frame[(frame["metric"] == "auroc") & (frame["threshold_policy"] == "none")]
    stats = rows.groupby("variant").agg(mean=("value", "mean"), low=("ci_low", "mean"),
                                        high=("ci_high", "mean"))
    pts = [(x, stats.loc[v]) for x, v in zip(xs, variants) if v in stats.index]
    if not pts:
        return
    x = np.array([p[0] for p in pts], dtype=float)
    y = np.array([p[1]["mean"] for p in pts])
    low = np.array([p[1]["low"] for p in pts])
    high = np.array([p[1]["high"] for p in pts])
    ax.plot(x, y, "o-", color=color, label=label)
    ax.fill_between(x, low, high, color=color, alpha=0.15)


def memory_size_figure(frame: pd.DataFrame, sizes: Sequence[int], *,
                       path: str | os.PathLike[str] | None = None) -> Figure:
    """Fig. 11: AUROC against memory size k (log axis; band: bootstrap 95 % CI); the model
    without memory (k = 0) as a horizontal line, the best floor dotted."""
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    main = frame[~floor_rows(frame)]
    for k, dataset in enumerate(dict.fromkeys(main["dataset"])):
        sub = main[main["dataset"] == dataset]
        ks = [int(s) for s in sizes if int(s) > 0]
        _curve(ax, sub, [f"mem_k{s}" for s in ks], ks, dataset, f"C{k}")
        none = sub[(sub["variant"] == "no_memory") & (sub["metric"] == "auroc")
                   & (sub["threshold_policy"] == "none")]
        if len(none):
            ax.axhline(float(none["value"].mean()), color=f"C{k}", ls="--", lw=1.2,
                       label=f"no memory, {dataset}")
    floors = best_floor(frame)
    for dataset in floors.index:
        ax.axhline(floors.loc[dataset, "value"], color="grey", ls=":", lw=1.2,
                   label=f"best floor ({floors.loc[dataset, 'method']})")
    ax.set_xscale("log", base=2)
    ax.set(xlabel="memory size k", ylabel="AUROC", title="Fig. 11: memory size")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save(fig, path)


def repair_weights_figure(frame: pd.DataFrame, w_globals: Sequence[float],
                          w_locals: Sequence[float], *, fixed_global: float = 0.25,
                          fixed_local: float = 0.5,
                          path: str | os.PathLike[str] | None = None) -> Figure:
    """Fig. 12: AUROC against λ_global (λ_local fixed) and against λ_local (λ_global fixed),
    one panel each (band: bootstrap 95 % CI)."""
    main = frame[~floor_rows(frame)]
    fig, axes = plt.subplots(1, 2, figsize=(8.0, 3.2), sharey=True)
    for k, dataset in enumerate(dict.fromkeys(main["dataset"])):
        sub = main[main["dataset"] == dataset]
        _curve(axes[0], sub, [repair_variant(float(g), fixed_local) for g in w_globals],
               w_globals, dataset, f"C{k}")
        _curve(axes[1], sub, [repair_variant(fixed_global, float(w)) for w in w_locals],
               w_locals, dataset, f"C{k}")
    axes[0].set(xlabel=f"λ_global (λ_local = {fixed_local:g})", ylabel="AUROC")
    axes[1].set(xlabel=f"λ_local (λ_global = {fixed_global:g})")
    for ax in axes:
        ax.axhline(0.5, color="grey", lw=0.8, ls="--")
        ax.legend(fontsize=7)
    fig.suptitle("Fig. 12: repairing-loss weights", fontsize=9)
    fig.tight_layout()
    return save(fig, path)


def qualitative_figure(ev: Evaluation, *, n: int = 4,
                       path: str | os.PathLike[str] | None = None) -> Figure:
    """Fig. 7: for the first ``n`` test images with a lesion mask (by index, no choice by
    score): the image, its SLIC superpixel image (the training target of the proxy module),
    the predicted proxy P^ = F_p(I), the reconstruction I^ = F_g(P^), the error map
    |I - I^| (channel mean, [0, 1] units, fixed colour scale 0-0.5) and the ground truth."""
    from reprolib.blocks.superpixel import compute_proxy

    method = ev.method
    if ev.spec.method != "proxyano" or method.config.proxy == "none":
        raise ValueError("qualitative_figure: expected an evaluation of ProxyAno with a proxy")
    picks = [i for i in range(len(ev.test))
             if ev.labels[i] == 1 and bool(ev.test[i]["has_mask"])
             and float(np.asarray(ev.test[i]["mask"]).sum()) > 0][:n]
    rows = ["image", "SLIC SI", "predicted SI", "reconstruction", "|I - I^|", "ground truth"]
    fig, axes = plt.subplots(len(rows), max(len(picks), 1),
                             figsize=(1.8 * max(len(picks), 1), 1.8 * len(rows)), squeeze=False)
    spec = method.config.proxy_spec()

    def show(ax: Any, array: np.ndarray, **kw: Any) -> None:
        array = np.asarray(array, dtype=np.float64)
        if array.ndim == 3 and array.shape[0] == 3:
            ax.imshow(np.clip(np.moveaxis(array, 0, -1), 0, 1))
        else:
            ax.imshow(array.reshape(array.shape[-2:]) if array.ndim == 3 else array,
                      cmap=kw.pop("cmap", "gray"), **kw)

    for col, index in enumerate(picks):
        item = ev.test[index]
        image = item["image"]
        x = image[None].to(method.device)
        with torch.no_grad():
            out = method.reconstruct(x)
        i_hat = out["i_hat"][0].cpu().numpy()
        p_hat = out["p_hat"][0].cpu().numpy()
        image_np = image.numpy()
        show(axes[0, col], image_np)
        show(axes[1, col], compute_proxy(image_np, spec)[-image_np.shape[0]:])
        show(axes[2, col], p_hat[-image_np.shape[0]:])
        show(axes[3, col], i_hat)
        axes[4, col].imshow(np.abs(image_np - i_hat).mean(0), cmap="jet", vmin=0, vmax=0.5)
        axes[5, col].imshow(np.asarray(item["mask"][0]), cmap="gray", vmin=0, vmax=1)
        axes[0, col].set_title(f"test #{index}", fontsize=8)
    for row, name in enumerate(rows):
        axes[row, 0].set_ylabel(name, fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"Fig. 7 on {ev.dataset}: ProxyAno's proxy, reconstruction and error map",
                 fontsize=9)
    fig.tight_layout()
    return save(fig, path)


__all__ = ["IMAGE_METRICS", "PAPER", "PIXEL_DATASETS", "PIXEL_METRICS", "PIXEL_PROTOCOL",
           "PIXEL_THRESHOLD", "PROTOCOL", "ROW_LABELS", "Row", "Run", "T2_ROWS",
           "TABLE_VARIANTS", "VARIANT_CONFIGS", "VARIANT_SCORES", "auroc_bars", "auroc_table",
           "memory_rows", "memory_size_figure", "normalised_by_validation", "pixel_units",
           "qualitative_figure", "record_pixel_given", "repair_rows", "repair_variant",
           "repair_weights_figure", "results_table", "run_floors", "run_rows", "score_gap_table",
           "t1_rows", "t2_rows", "t2_transform", "table_rows", "variant_config", "variant_row"]
