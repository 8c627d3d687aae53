"""Notebook glue: fit (or load from the cache), score and record one method on one dataset.

A table notebook lists ``MethodSpec``s and datasets in its parameters and calls
:func:`evaluate` per (method, dataset, seed); rows go to a :class:`ResultRecorder`.
Test labels are used only to compute metrics, never to choose a model or a threshold, except
under the ``best_f1`` / ``youden`` policies that a paper's protocol names (labelled per row).
"""

from __future__ import annotations

import dataclasses
import time
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from reprolib.cache import code_version, fit_or_load
from reprolib.config import stable_hash
from reprolib.methods import AnomalyMethod, Scores, get_method_class
from reprolib.results import ResultRecorder


@dataclasses.dataclass(frozen=True)
class MethodSpec:
    """One row of a paper table: a registered method, its config, and its label in results."""

    method: str
    config: dict[str, Any] = dataclasses.field(default_factory=dict)
    variant: str = ""
    label: str = ""  # the ``method`` column in results; defaults to ``method``

    @property
    def result_name(self) -> str:
        return self.label or self.method

    @staticmethod
    def from_param(item: str | dict[str, Any] | MethodSpec) -> MethodSpec:
        """From a notebook parameter: a method name, or a dict with ``method`` and optional
        ``config``, ``variant``, ``label``."""
        if isinstance(item, MethodSpec):
            return item
        if isinstance(item, str):
            return MethodSpec(item)
        if not isinstance(item, dict) or "method" not in item:
            raise ValueError(f"method entry: expected a name or a dict with key 'method', "
                             f"got {item!r}")
        unknown = set(item) - {"method", "config", "variant", "label"}
        if unknown:
            raise ValueError(f"method entry {item.get('method')!r}: unknown key "
                             f"'{sorted(unknown)[0]}'; expected method, config, variant, label")
        return MethodSpec(item["method"], dict(item.get("config") or {}),
                          item.get("variant", ""), item.get("label", ""))


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
    loaded once per process and shared by methods with the same needs."""
    spec = method.data_spec()
    return _load(dataset, split, spec["img_size"], spec["channels"], spec["normalize"],
                 None if root is None else str(root), _freeze(options))


def evaluate(spec: MethodSpec | str | dict[str, Any], dataset: str, *, seed: int = 0,
             root: str | None = None, options: dict[str, Any] | None = None,
             device: str | torch.device = "auto", use_val: bool = True) -> Evaluation:
    """Fit ``spec`` on ``dataset``'s normal training split (or load it from the model cache)
    and score its test split and normal validation split."""
    if not isinstance(spec, MethodSpec):
        spec = MethodSpec.from_param(spec)
    probe = get_method_class(spec.method)(spec.config, seed=seed, device=device)
    train = load_for(probe, dataset, "train", root=root, options=options)
    val = load_for(probe, dataset, "val", root=root, options=options) if use_val else None
    test = load_for(probe, dataset, "test", root=root, options=options)
    method = fit_or_load(spec.method, probe.config, train, seed=seed, device=device)
    start = time.perf_counter()
    scores = method.score(test)
    seconds = time.perf_counter() - start
    val_scores = method.score(val) if val is not None and len(val) > 0 else None
    return Evaluation(spec, dataset, seed, method, test, scores, val_scores, seconds)


def record(recorder: ResultRecorder, ev: Evaluation, *, policies: tuple[str, ...] = (
        "best_f1", "normal_val"), pixel: bool | None = None, protocol: str = "",
           score: str | None = None, table: str | None = None) -> list[dict[str, Any]]:
    """Compute metrics of ``ev`` (image score, or ``ev.scores.extra[score]``) and add rows.

    Pixel metrics are added when the method returns maps and the dataset has masks (or when
    ``pixel`` is forced). Returns the metric rows added.
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
    config = ev.method.config
    recorder.add_metrics(
        rows, dataset=ev.dataset, method=ev.spec.result_name, variant=ev.spec.variant,
        seed=ev.seed, protocol=protocol, table=table,
        n_normal=int((ev.labels == 0).sum()), n_abnormal=int((ev.labels == 1).sum()),
        selection="last_epoch", weights=ev.method.weights_used,
        img_size=spec["img_size"], epochs=int(getattr(config, "epochs", 0)),
        runtime_s=float(ev.method.fit_seconds) + ev.score_seconds,
        code_version=code_version(ev.spec.method))
    return list(rows)


def params_hash(**params: Any) -> str:
    """Short hash of a notebook's parameters, stored in every results row."""
    return stable_hash(params, 12)


def run_grid(recorder: ResultRecorder, methods: list[str | dict[str, Any] | MethodSpec],
             datasets: list[str],
             *, seeds: list[int], root: str | None = None,
             dataset_options: dict[str, dict[str, Any]] | None = None,
             policies: tuple[str, ...] = ("best_f1", "normal_val"), protocol: str = "",
             device: str | torch.device = "auto") -> list[Evaluation]:
    """Evaluate every (method, dataset, seed) and record its rows; return the evaluations.

    ``dataset_options`` maps a dataset name to its loader options (e.g. phantom sizes).
    """
    options = dataset_options or {}
    evaluations = []
    for dataset in datasets:
        for item in methods:
            spec = MethodSpec.from_param(item)
            for seed in seeds:
                ev = evaluate(spec, dataset, seed=seed, root=root,
                              options=options.get(dataset), device=device)
                record(recorder, ev, policies=policies, protocol=protocol)
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
               device: str | torch.device = "auto") -> list[Evaluation]:
    """Fit, score and record the label-free reference floors (``FLOORS``, e.g.
    ``mean_intensity``, ``knn_pixels``, ``pca_recon`` with variant ``reference_floor``) on the
    table's own datasets and loader options, under the table's policies. Floors are
    deterministic: seed 0 only."""
    specs: list[str | dict[str, Any] | MethodSpec] = list(floor_specs(floors))
    return run_grid(recorder, specs, datasets, seeds=[0], root=root,
                    dataset_options=dataset_options, policies=policies, protocol=protocol,
                    device=device)


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
    """Add ``auroc - best floor`` to a summary table (rows of every non-floor method)."""
    floors = best_floor(frame, metric)
    if floors.empty:
        return table
    means = frame[(frame["metric"] == metric) & (frame["threshold_policy"] == "none")]
    means = means.groupby(["dataset", "method", "variant"])["value"].mean()
    cells = []
    for dataset, method, variant in table.index:
        if is_floor(variant):
            best = floors["method"].get(dataset)
            cells.append("best floor" if best == method else "floor")
        elif (dataset, method, variant) in means.index and dataset in floors.index:
            diff = means[(dataset, method, variant)] - floors.loc[dataset, "value"]
            cells.append(f"{diff:+.3f}")
        else:
            cells.append("")
    table = table.copy()
    table[f"{metric} - best floor"] = cells
    return table


def summary_table(frame: Any, metrics: tuple[str, ...] = ("auroc", "f1", "acc", "sen", "spe"),
                  policy: str = "best_f1") -> Any:
    """Mean (± std over seeds) of ``metrics`` per dataset and method, as a printable pivot.

    Threshold-free metrics are taken with policy ``none``, the rest with ``policy``.
    """
    rows = frame[frame["metric"].isin(metrics)]
    rows = rows[(rows["threshold_policy"] == "none") | (rows["threshold_policy"] == policy)]
    keys = ["dataset", "method", "variant", "metric"]
    stats = rows.groupby(keys)["value"].agg(["mean", "std", "count"]).reset_index()
    stats["cell"] = [f"{m:.3f}" if c < 2 else f"{m:.3f} ± {s:.3f}"
                     for m, s, c in zip(stats["mean"], stats["std"], stats["count"])]
    table = stats.pivot_table(index=["dataset", "method", "variant"], columns="metric",
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
