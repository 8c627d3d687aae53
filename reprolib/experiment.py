"""Notebook glue: fit (or load from the cache), score and record one method on one dataset.

A table notebook lists ``MethodSpec``s and datasets in its parameters and calls
:func:`evaluate` per (method, dataset, seed); rows go to a :class:`ResultRecorder`.
Test labels are used only to compute metrics, never to choose a model or a threshold, except
under the ``best_f1`` / ``youden`` policies that a paper's protocol names (labelled per row).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from reprolib import score_cache
from reprolib.cache import code_version, fit_or_load
from reprolib.config import stable_hash
from reprolib.convergence import convergence_flag, steps_taken
from reprolib.methods import AnomalyMethod, Scores, get_method_class
from reprolib.protocols import protocol_name, subclass_protocol
from reprolib.results import ResultRecorder


@dataclasses.dataclass(frozen=True)
class MethodSpec:
    """One row of a paper table: a registered method (the ``method`` column of its results:
    always the code that ran), its config, and the row's ``variant``."""

    method: str
    config: dict[str, Any] = dataclasses.field(default_factory=dict)
    variant: str = ""
    #: Config keys laid over ``config`` on one dataset only, e.g. a training length per dataset
    #: (``{"brain_tumor_mri": {"epochs": 600}}``); the rows record the length that ran.
    dataset_config: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)

    @property
    def row_name(self) -> str:
        """The row's name in tables and figures: its variant, else its method."""
        return self.variant or self.method

    def config_for(self, dataset: str) -> dict[str, Any]:
        """The config this row runs with on ``dataset``: ``config`` with that dataset's
        ``dataset_config`` keys laid over it."""
        return {**self.config, **(self.dataset_config.get(dataset) or {})}

    def check_datasets(self, datasets: Sequence[str]) -> None:
        """Raise ValueError if ``dataset_config`` names a dataset the table does not run (a
        typo would silently leave that dataset at the common config)."""
        unknown = sorted(set(self.dataset_config) - set(datasets))
        if unknown:
            raise ValueError(f"method entry {self.method!r}: dataset_config names "
                             f"{unknown[0]!r}, which is not one of the table's datasets "
                             f"{list(datasets)}")

    @staticmethod
    def from_param(item: str | dict[str, Any] | MethodSpec) -> MethodSpec:
        """From a notebook parameter: a method name, or a dict with ``method`` and optional
        ``config``, ``variant``."""
        if isinstance(item, MethodSpec):
            return item
        if isinstance(item, str):
            return MethodSpec(item)
        if not isinstance(item, dict) or "method" not in item:
            raise ValueError(f"method entry: expected a name or a dict with key 'method', "
                             f"got {item!r}")
        unknown = set(item) - {"method", "config", "variant", "dataset_config"}
        if unknown:
            raise ValueError(f"method entry {item.get('method')!r}: unknown key "
                             f"'{sorted(unknown)[0]}'; expected method, config, variant, "
                             "dataset_config")
        per_dataset = item.get("dataset_config") or {}
        if not isinstance(per_dataset, dict) or not all(
                isinstance(v, dict) for v in per_dataset.values()):
            raise ValueError(f"method entry {item['method']!r}: dataset_config: expected a "
                             f"mapping of dataset name to config keys, got {per_dataset!r}")
        return MethodSpec(item["method"], dict(item.get("config") or {}),
                          item.get("variant", ""),
                          {str(k): dict(v) for k, v in per_dataset.items()})


@dataclasses.dataclass
class Evaluation:
    """A trained method and its scores on the test (and normal validation) split."""

    spec: MethodSpec
    dataset: str
    seed: int
    method: AnomalyMethod
    test: Dataset
    scores: Scores
    val_scores: Scores | None
    score_seconds: float

    @property
    def labels(self) -> np.ndarray:
        return np.asarray(self.test.labels)  # type: ignore[attr-defined]


def find_evaluation(evaluations: Sequence[Evaluation], dataset: str, name: str, seed: int = 0
                    ) -> Evaluation | None:
    """The first evaluation on ``dataset`` with ``seed`` whose method or row name (variant) is
    ``name`` (figures pick their rows this way); None if there is none."""
    for ev in evaluations:
        if ev.dataset == dataset and ev.seed == seed and name in (ev.spec.method,
                                                                   ev.spec.row_name):
            return ev
    return None


def _freeze(options: dict[str, Any] | None) -> str:
    import json
    return json.dumps(options or {}, sort_keys=True)


@lru_cache(maxsize=32)
def _load(name: str, split: str, img_size: int, channels: int | None, normalize: str,
          root: str | None, options_json: str) -> Dataset:
    import json

    from reprolib.data import get_dataset
    return get_dataset(name, split, root=root, img_size=img_size, channels=channels,
                       normalize=normalize, **json.loads(options_json))


def load_for(method: AnomalyMethod, dataset: str, split: str, *, root: str | None = None,
             options: dict[str, Any] | None = None) -> Dataset:
    """``dataset``'s ``split`` loaded the way ``method`` needs (size, channels, normalisation);
    loaded once per process and shared by methods with the same needs (``dedup`` does not
    change ``train``, so runs with and without it share the training split and the model)."""
    spec = method.data_spec()
    if split == "train" and options and "dedup" in options:
        options = {k: v for k, v in options.items() if k != "dedup"}
    return _load(dataset, split, spec["img_size"], spec["channels"], spec["normalize"],
                 None if root is None else str(root), _freeze(options))


def evaluate(spec: MethodSpec | str | dict[str, Any], dataset: str, *, seed: int = 0,
             root: str | None = None, options: dict[str, Any] | None = None,
             device: str | torch.device = "auto", use_val: bool = True) -> Evaluation:
    """Fit ``spec`` on ``dataset``'s normal training split (or load it from the model cache)
    and score its test split and normal validation split. The scores are kept beside the cached
    model (:mod:`reprolib.score_cache`), so a model shared by several tables, or a rerun, is
    scored once; ``score_seconds`` is the time of the scoring that filled that file."""
    if not isinstance(spec, MethodSpec):
        spec = MethodSpec.from_param(spec)
    probe = get_method_class(spec.method)(spec.config_for(dataset), seed=seed, device=device)
    train = load_for(probe, dataset, "train", root=root, options=options)
    val = load_for(probe, dataset, "val", root=root, options=options) if use_val else None
    test = load_for(probe, dataset, "test", root=root, options=options)
    method = fit_or_load(spec.method, probe.config, train, seed=seed, device=device)
    val = val if val is not None and len(val) > 0 else None
    scores, val_scores, seconds = score_cache.scores_for(method, test, val)
    return Evaluation(spec, dataset, seed, method, test, scores, val_scores, seconds)


def record(recorder: ResultRecorder, ev: Evaluation, *, policies: tuple[str, ...] = (
        "best_f1", "normal_val"), pixel: bool | None = None, protocol: str = "",
           score: str | None = None, table: str | None = None) -> list[dict[str, Any]]:
    """Compute metrics of ``ev`` (image score, or ``ev.scores.extra[score]``) and add rows.

    Pixel metrics are added when the method returns maps and the dataset has masks (or when
    ``pixel`` is forced); ``auroc``, ``ap``, ``pix_auroc`` and ``pix_aupr`` carry their
    stratified bootstrap 95 % interval. Every row gets the training length actually run
    (:func:`training_fields`). Returns the metric rows added.
    """
    from reprolib.metrics import evaluate_scores

    image = ev.scores.image if score is None else ev.scores.extra[score]
    val = None
    if ev.val_scores is not None:
        val = ev.val_scores.image if score is None else ev.val_scores.extra[score]
    use_pixel = (ev.scores.maps is not None and bool(getattr(ev.test, "has_masks", False))
                 if pixel is None else pixel)
    masks = None
    if use_pixel:
        masks = np.stack([np.asarray(ev.test[i]["mask"][0]) for i in range(len(ev.test))])
    rows = evaluate_scores(ev.labels, image, policies=policies, val_scores=val,
                           maps=ev.scores.maps if use_pixel else None, masks=masks)
    spec = ev.method.data_spec()
    recorder.add_metrics(
        rows, dataset=ev.dataset, method=ev.spec.method, variant=ev.spec.variant,
        seed=ev.seed, protocol=protocol, table=table,
        n_normal=int((ev.labels == 0).sum()), n_abnormal=int((ev.labels == 1).sum()),
        selection="last_epoch", weights=ev.method.weights_used,
        img_size=spec["img_size"], **training_fields(ev.method),
        runtime_s=float(ev.method.fit_seconds) + ev.score_seconds,
        code_version=code_version(ev.spec.method))
    return list(rows)


def training_fields(method: AnomalyMethod) -> dict[str, Any]:
    """``epochs`` (epochs actually run: the length of ``method.history``, else the config's
    ``epochs``), ``steps`` (optimiser steps from the history; None when the history does not
    count them; 0 for a method that does not train) and ``converged``
    (:func:`reprolib.convergence.convergence_flag` on the loss term named by the method's
    ``convergence_key``, if it has one) for the results columns of the same names."""
    history = list(getattr(method, "history", None) or [])
    if history:
        epochs = len(history)
        steps = steps_taken(history) if "steps" in history[-1] else None
    else:
        epochs = int(getattr(method.config, "epochs", 0) or 0)
        steps = 0 if epochs == 0 else None
    converged = convergence_flag(history, key=getattr(method, "convergence_key", None))
    if not history and epochs > 0:
        converged = "unknown"  # trained, but no loss was recorded
    return {"epochs": epochs, "steps": steps, "converged": converged}


def record_subclasses(recorder: ResultRecorder, ev: Evaluation, *, protocol: str = "",
                      score: str | None = None, table: str | None = None
                      ) -> list[dict[str, Any]]:
    """One ``auroc`` row per abnormal sub-class of the test set: the normal test images
    against that sub-class only (e.g. glioma, meningioma, pituitary; bacteria, virus), with
    protocol ``<protocol>:<sub-class>`` (:func:`reprolib.protocols.subclass_protocol`).

    Added only when the anomalous test images carry at least two different sub-labels (one
    sub-class would repeat the overall row). Returns the rows added."""
    from reprolib.metrics import image_auroc
    from reprolib.metrics.bootstrap import image_intervals

    sublabels = getattr(ev.test, "sublabels", None)
    if sublabels is None:
        return []
    sublabels = np.asarray(sublabels, dtype=object)
    labels = ev.labels
    image = np.asarray(ev.scores.image if score is None else ev.scores.extra[score])
    classes = sorted({str(s) for s in sublabels[labels == 1]})
    n_normal = int((labels == 0).sum())
    if len(classes) < 2 or n_normal == 0:
        return []
    spec = ev.method.data_spec()
    rows = []
    for sub in classes:
        keep = (labels == 0) | ((labels == 1) & (sublabels == sub))
        low, high = image_intervals(labels[keep], image[keep])["auroc"]
        row = {"metric": "auroc", "value": image_auroc(labels[keep], image[keep]),
               "threshold_policy": "none", "ci_low": low, "ci_high": high}
        recorder.add_metrics(
            [row], dataset=ev.dataset, method=ev.spec.method, variant=ev.spec.variant,
            seed=ev.seed, protocol=subclass_protocol(protocol, sub), table=table,
            n_normal=n_normal, n_abnormal=int(keep.sum()) - n_normal,
            selection="last_epoch", weights=ev.method.weights_used,
            img_size=spec["img_size"], **training_fields(ev.method),
            runtime_s=float(ev.method.fit_seconds) + ev.score_seconds,
            code_version=code_version(ev.spec.method))
        rows.append({**row, "protocol": subclass_protocol(protocol, sub)})
    return rows


def params_hash(**params: Any) -> str:
    """Short hash of a notebook's parameters, stored in every results row."""
    return stable_hash(params, 12)


def check_required_weights(methods: list[str | dict[str, Any]]) -> None:
    """Build every method whose config sets ``require_imagenet: true`` (``paper`` profiles)
    once, on the CPU, before anything is trained: a missing ImageNet weight file stops the run
    at the start (MissingWeightsError naming the weights and where to put them), not after
    hours of training the methods before it."""
    for item in methods:
        spec = MethodSpec.from_param(item)
        config = spec.config or {}
        if isinstance(config, dict) and config.get("require_imagenet"):
            get_method_class(spec.method)(config, seed=0, device="cpu")


def run_grid(recorder: ResultRecorder, methods: list[str | dict[str, Any] | MethodSpec],
             datasets: list[str],
             *, seeds: list[int], root: str | None = None,
             dataset_options: dict[str, dict[str, Any]] | None = None,
             policies: tuple[str, ...] = ("best_f1", "normal_val"), protocol: str = "",
             device: str | torch.device = "auto",
             data_variants: Sequence[Mapping[str, Any]] = ({},),
             paper_options: Mapping[str, Any] | None = None,
             subclasses: bool = True) -> list[Evaluation]:
    """Evaluate every (method, dataset, seed) and record its rows; return the evaluations.

    ``dataset_options`` maps a dataset name to its loader options (e.g. phantom sizes).
    ``data_variants``: data options laid over every dataset's options, one run each (e.g.
    ``[{}, {"dedup": True}]``: the paper's data, then without test/val near-duplicates; a model
    is trained once and shared, ``dedup`` leaving the training split as it is). The rows'
    protocol is ``protocol`` tagged by the data options that differ from ``paper_options``
    (:func:`reprolib.protocols.protocol_name`: ``image_level``, ``image_level_dedup``,
    ``image_level_std``...). With ``subclasses``, :func:`record_subclasses` adds the rows of
    each abnormal sub-class where the test set has several.
    """
    check_required_weights(methods)
    for item in methods:
        MethodSpec.from_param(item).check_datasets(datasets)
    options = dataset_options or {}
    evaluations = []
    for dataset in datasets:
        for variant in data_variants:
            merged = {**(options.get(dataset) or {}), **dict(variant)}
            name = protocol_name(protocol, merged, paper_options)
            for item in methods:
                spec = MethodSpec.from_param(item)
                for seed in seeds:
                    ev = evaluate(spec, dataset, seed=seed, root=root,
                                  options=merged or None, device=device)
                    record(recorder, ev, policies=policies, protocol=name)
                    if subclasses:
                        record_subclasses(recorder, ev, protocol=name)
                    evaluations.append(ev)
    return evaluations


#: Variants of the label-free reference rows (issue 8): ``reference_floor`` on pixels,
#: ``reference_floor_features`` on pretrained features.
FLOOR_VARIANTS: tuple[str, ...] = ("reference_floor", "reference_floor_features")


def is_floor(variant: str) -> bool:
    """Whether a results row's ``variant`` marks a label-free reference floor."""
    return str(variant).startswith("reference_floor")


def floor_rows(frame: Any) -> Any:
    """Boolean mask of a results frame's floor rows."""
    return frame["variant"].astype(str).str.startswith("reference_floor")


def floor_specs(floors: list[str | dict[str, Any]]) -> list[MethodSpec]:
    """The notebook's ``FLOORS`` entries as specs; each must carry a floor variant."""
    specs = [MethodSpec.from_param(item) for item in floors]
    for spec in specs:
        if spec.variant not in FLOOR_VARIANTS:
            raise ValueError(f"FLOORS entry {spec.method!r}: expected variant one of "
                             f"{list(FLOOR_VARIANTS)}, got {spec.variant!r}")
    return specs


def run_floors(recorder: ResultRecorder, floors: list[str | dict[str, Any]],
               datasets: list[str], *, root: str | None = None,
               dataset_options: dict[str, dict[str, Any]] | None = None,
               policies: tuple[str, ...] = ("best_f1", "normal_val"), protocol: str = "",
               device: str | torch.device = "auto",
               data_variants: Sequence[Mapping[str, Any]] = ({},)) -> list[Evaluation]:
    """Fit, score and record the label-free reference floors (``FLOORS``, e.g.
    ``mean_intensity``, ``knn_pixels``, ``pca_recon`` with variant ``reference_floor``) on the
    table's own datasets, loader options and data variants, under the table's policies.
    Floors are deterministic: seed 0 only."""
    specs: list[str | dict[str, Any] | MethodSpec] = list(floor_specs(floors))
    return run_grid(recorder, specs, datasets, seeds=[0], root=root,
                    dataset_options=dataset_options, policies=policies, protocol=protocol,
                    device=device, data_variants=data_variants)


def best_floor(frame: Any, metric: str = "auroc") -> Any:
    """Per dataset, the floor row with the highest mean ``metric`` (threshold-free rows):
    a frame indexed by dataset with columns ``method`` and ``value``."""
    import pandas as pd

    rows = frame[floor_rows(frame) & (frame["metric"] == metric)
                 & (frame["threshold_policy"] == "none")]
    if rows.empty:
        return pd.DataFrame(columns=["method", "value"])
    means = rows.groupby(["dataset", "method"])["value"].mean().reset_index()
    best = means.loc[means.groupby("dataset")["value"].idxmax()]
    return best.set_index("dataset")[["method", "value"]]


def _with_floor_column(table: Any, frame: Any, metric: str = "auroc") -> Any:
    """Add ``auroc - best floor`` to a summary table (rows of every non-floor method), against
    the best floor of the same dataset and protocol."""
    protocol = frame["protocol"] if "protocol" in frame.columns else ""
    frame = frame.assign(protocol=protocol)
    floors = {p: best_floor(part, metric) for p, part in frame.groupby("protocol")}
    if all(f.empty for f in floors.values()):
        return table
    means = frame[(frame["metric"] == metric) & (frame["threshold_policy"] == "none")]
    means = means.groupby(["dataset", "protocol", "method", "variant"])["value"].mean()
    cells = []
    for dataset, protocol, method, variant in table.index:
        best = floors.get(protocol)
        if best is None or dataset not in best.index:
            cells.append("")
        elif is_floor(variant):
            cells.append("best floor" if best["method"].get(dataset) == method else "floor")
        elif (dataset, protocol, method, variant) in means.index:
            diff = means[(dataset, protocol, method, variant)] - best.loc[dataset, "value"]
            cells.append(f"{diff:+.3f}")
        else:
            cells.append("")
    table = table.copy()
    table[f"{metric} - best floor"] = cells
    return table


def summary_table(frame: Any, metrics: tuple[str, ...] = ("auroc", "f1", "acc", "sen", "spe"),
                  policy: str = "best_f1") -> Any:
    """Mean (± std over seeds) of ``metrics`` per dataset, protocol and method, as a printable
    pivot (protocols such as ``image_level_dedup`` or ``image_level:glioma`` get rows of their
    own, never averaged with the paper's protocol).

    Threshold-free metrics are taken with policy ``none``, the rest with ``policy``.
    """
    rows = frame[frame["metric"].isin(metrics)]
    rows = rows[(rows["threshold_policy"] == "none") | (rows["threshold_policy"] == policy)]
    keys = ["dataset", "protocol", "method", "variant", "metric"]
    stats = rows.groupby(keys)["value"].agg(["mean", "std", "count"]).reset_index()
    stats["cell"] = [f"{m:.3f}" if c < 2 else f"{m:.3f} ± {s:.3f}"
                     for m, s, c in zip(stats["mean"], stats["std"], stats["count"])]
    table = stats.pivot_table(index=["dataset", "protocol", "method", "variant"], columns="metric",
                              values="cell", aggfunc="first")
    table = table.reindex(columns=[m for m in metrics if m in table.columns]).fillna("")
    return _with_floor_column(table, frame) if "auroc" in metrics else table


def score_groups(ev: Evaluation, score: str | None = None) -> dict[str, np.ndarray]:
    """Scores split into normal validation / normal test / anomalous test, for histograms."""
    image = ev.scores.image if score is None else ev.scores.extra[score]
    groups = {}
    if ev.val_scores is not None:
        groups["val normal"] = (ev.val_scores.image if score is None
                                else ev.val_scores.extra[score])
    groups["test normal"] = image[ev.labels == 0]
    groups["test anomalous"] = image[ev.labels == 1]
    return groups
